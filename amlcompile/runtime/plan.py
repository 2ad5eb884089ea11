"""The reuse plan of a run: every step's fingerprint and whether a completed record of it
can be reused. No Airflow here: the planner task (planner.py) runs it at the start of each
run, and `amlcompile run` runs the very same code before starting Airflow, to report a run in
which every step is reused without one (amlcompile/local_run.py)."""

from __future__ import annotations

from .binding import input_path
from .downloads import download_path, url_version
from .reuse import fingerprint
from .storage import datastore_root, open_store, record_roots, version_token


def compute_plan(
    steps: list[dict], datastores: dict, params: dict, regenerate: bool, log=None
) -> dict:
    """steps in topological order → {step: {fingerprint, reuse, outputs?, reused_from?}}."""
    plan: dict[str, dict] = {}
    for s in steps:
        inputs, downloads = {}, {}
        for port in s["inputs"]:
            if port.get("urls"):  # http(s) files: their versions now (HEAD requests)
                versions = [url_version(url, s["name"], log) for url in port["urls"]]
                inputs[port["name"]] = {"urls": port["urls"], "versions": versions}
                path = download_path(port["urls"], versions)
                downloads[port["name"]] = {"path": path, "versions": versions}
            elif port.get("step"):
                upstream = plan[port["step"]]["fingerprint"]
                inputs[port["name"]] = {"step": upstream, "output": port["output"]}
            else:
                root = datastore_root(datastores, port["datastore"], s["name"])
                path = input_path(port, params, s["name"])
                token = version_token(root / path)
                # A path chosen at trigger time is part of the input, not only its version.
                inputs[port["name"]] = (
                    {"path": path, "version": token} if port.get("param") else token
                )
        used = {name: params.get(name) for name in s["params"]}
        fp = fingerprint(s["fingerprint"], used, inputs)
        # "static": what the step was when planned; its task checks it still is (see reusable).
        entry: dict = {"fingerprint": fp, "static": s["fingerprint"], "reuse": False}
        if downloads:  # where the step's task downloads its URL inputs (runtime/downloads.py)
            entry["downloads"] = downloads
        if s["allow_reuse"] and not regenerate:
            store = open_store(datastores, s["record_datastore"], s["name"])
            record = store.read_record(fp, log, record_roots(datastores))
            if record is not None:
                entry.update(
                    reuse=True, outputs=record["outputs"], reused_from=record.get("produced_by")
                )
                if record.get("metrics"):  # what the step logged, shown for reused steps too
                    entry["metrics"] = record["metrics"]
        plan[s["name"]] = entry
    return plan
