"""The reuse plan of a run: every step's fingerprint and whether a completed record of it
can be reused. No Airflow here: the planner task (planner.py) runs it at the start of each
run, and `amlcompile run` runs the very same code before starting Airflow, to report a run in
which every step is reused without one (amlcompile/local_run.py)."""

from __future__ import annotations

from .binding import StepError, input_path, safe_segment
from .digests import LinkOutside
from .downloads import download_path, input_urls, url_version
from .reuse import fingerprint
from .storage import datastore_root, open_store, record_roots, version_token


def output_relpath(
    *, fixed: str | None, allow_reuse: bool, fp: str, dag_id: str, run_id: str, step: str, port: str
) -> str:
    """Where a step's output is on its datastore: a fixed destination (a transfer's), else
    derived from the fingerprint (reusable steps) or from the run (the others)."""
    if fixed is not None:
        return fixed
    if allow_reuse:
        return f"azureml/fp/{fp}/{port}"
    return f"azureml/{safe_segment(dag_id)}/{safe_segment(run_id)}/{step}/{port}"


def expected_outputs(step: dict, fp: str) -> dict[str, tuple[str, str]]:
    """A reusable step's outputs as (datastore, path on it): where its record must say they
    are (a record is never trusted to say where)."""
    return {
        port["name"]: (
            port["datastore"],
            output_relpath(
                fixed=port.get("path"),
                allow_reuse=True,
                fp=fp,
                dag_id="",
                run_id="",
                step=step["name"],
                port=port["name"],
            ),
        )
        for port in step.get("outputs") or []
    }


def compute_plan(
    steps: list[dict], datastores: dict, params: dict, regenerate: bool, log=None
) -> dict:
    """steps in topological order → {step: {fingerprint, reuse, outputs?, reused_from?}}."""
    plan: dict[str, dict] = {}
    for s in steps:
        inputs, downloads = {}, {}
        for port in s["inputs"]:
            if port.get("urls"):  # http(s) files: their versions now (HEAD requests)
                urls = input_urls(port, params, s["name"])
                versions = [url_version(url, s["name"], log) for url in urls]
                inputs[port["name"]] = {"urls": urls, "versions": versions}
                path = download_path(urls, versions)
                downloads[port["name"]] = {"path": path, "versions": versions}
                if port.get("param"):  # the URLs chosen at trigger time: the task fetches these
                    downloads[port["name"]]["urls"] = urls
            elif port.get("step"):
                upstream = plan[port["step"]]["fingerprint"]
                inputs[port["name"]] = {"step": upstream, "output": port["output"]}
            else:
                root = datastore_root(datastores, port["datastore"], s["name"])
                path = input_path(port, params, s["name"])
                try:
                    token = version_token(root / path, root)
                except LinkOutside as exc:
                    raise StepError(
                        f"step {s['name']!r}: input {port['name']!r} on datastore"
                        f" {port['datastore']!r}: {exc}; refusing to follow it"
                    ) from None
                # A path chosen at trigger time is part of the input, not only its version.
                inputs[port["name"]] = (
                    {"path": path, "version": token} if port.get("param") else token
                )
        used = {name: params.get(name) for name in s["params"]}
        fp = fingerprint(s["fingerprint"], used, inputs)
        # "static": what the step was when planned; its task checks it still is (see reusable).
        entry: dict = {"fingerprint": fp, "static": s["fingerprint"], "reuse": False}
        if s.get("hyperdrive"):  # a trial's fingerprint: this and its hyperparameters
            entry["trial_base"] = fingerprint(s["hyperdrive"]["trial_fingerprint"], used, inputs)
        if downloads:  # where the step's task downloads its URL inputs (runtime/downloads.py)
            entry["downloads"] = downloads
        if s["allow_reuse"] and not regenerate:
            store = open_store(datastores, s["record_datastore"], s["name"])
            expect = expected_outputs(s, fp)
            record = store.read_record(fp, log, record_roots(datastores), expect=expect)
            if record is not None and not _inputs_unchanged(s, plan, record, log):
                record = None
            if record is not None:
                entry.update(
                    reuse=True,
                    outputs=record["outputs"],
                    manifests=record["manifests"],
                    reused_from=record.get("produced_by"),
                )
                if record.get("metrics"):  # what the step logged, shown for reused steps too
                    entry["metrics"] = record["metrics"]
        plan[s["name"]] = entry
    return plan


def _inputs_unchanged(step: dict, plan: dict, record: dict, log) -> bool:
    """A step reading upstream outputs is reused at plan time only when each upstream is
    reused too and its (verified) output has the content the record says the step read.
    When an upstream runs in this run, the step's own task decides once that output is
    written (reusable.ReusableStep.run_reusable)."""
    recorded = record.get("inputs")
    for port in step["inputs"]:
        if not port.get("step"):
            continue
        upstream = plan.get(port["step"]) or {}
        if not upstream.get("reuse"):
            if log:
                log.info(
                    "step %s: decided when it runs (upstream step %s runs in this run)",
                    step["name"],
                    port["step"],
                )
            return False
        manifest = (upstream.get("manifests") or {}).get(port["output"]) or {}
        if not isinstance(recorded, dict) or recorded.get(port["name"]) != manifest.get("digest"):
            if log:
                log.warning(
                    "ignoring reuse record of step %s: input %s is not what it read; the step"
                    " runs again",
                    step["name"],
                    port["name"],
                )
            return False
    return True
