"""The reuse planner: one task at the start of each run decides, for every step at once,
whether a completed record of its fingerprint exists; reused steps are marked skipped
without launching them (a fully reused run costs one task launch, not one per step)."""

from __future__ import annotations

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import DownstreamTasksSkipped

from .binding import StepError, expand_step, input_path, safe_segment
from .digests import LinkOutside
from .downloads import download_path, input_urls, url_version
from .reuse import CONTINUE_PARAM, PLAN_TASK_ID, PLAN_XCOM_KEY, REGENERATE_PARAM, fingerprint
from .storage import datastore_root, open_store, record_roots, version_token

# The run's parameter values with the defaults of those left empty (null) in the trigger form.
PARAMS_XCOM_KEY = "amlcompile_params"


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


class ReusePlanOperator(BaseOperator):
    """Computes every step's fingerprint and skips the steps whose results can be reused."""

    template_fields = ()
    ui_color = "#ede9fe"

    def __init__(
        self,
        *,
        steps: dict[str, dict] | list[dict],
        datastores: dict,
        continue_on_step_failure: bool = True,
        param_defaults: dict | None = None,
        **kwargs,
    ):
        """steps: the DAG file's STEPS table (task id → the step's payload, in topological
        order), the very objects its step tasks hold; a list of payloads works too."""
        super().__init__(**kwargs)
        self.steps = steps
        self.datastores = datastores
        self.continue_on_step_failure = continue_on_step_failure
        self.param_defaults = param_defaults or {}

    def execute(self, context):
        params = dict(context["params"])
        empty = [k for k, v in self.param_defaults.items() if params.get(k) is None]
        for name in empty:  # a form field left empty: the pipeline's default
            params[name] = self.param_defaults[name]
        if empty:
            context["ti"].xcom_push(key=PARAMS_XCOM_KEY, value=params)
        regenerate = params.get(REGENERATE_PARAM)
        if regenerate not in (None, True, False):  # the DAG Param has no schema (cheaper)
            raise StepError(
                f"parameter {REGENERATE_PARAM!r} must be true or false, not {regenerate!r}"
            )
        regenerate = bool(regenerate)
        if isinstance(self.steps, dict):  # the STEPS table: names are its keys
            steps = [expand_step(s, name) for name, s in self.steps.items()]
        else:
            steps = [expand_step(s) for s in self.steps]
        plan = compute_plan(steps, self.datastores, params, regenerate, self.log)
        go_on = self.run_continues_on_failure(context)
        for entry in plan.values():
            entry[CONTINUE_PARAM] = go_on
        reused = sorted(name for name, entry in plan.items() if entry["reuse"])
        for name in reused:
            origin = plan[name].get("reused_from") or {}
            self.log.info("step %s: reused from run %s", name, origin.get("run_id"))
        context["ti"].xcom_push(key=PLAN_XCOM_KEY, value=plan)
        if reused:
            raise DownstreamTasksSkipped(tasks=reused)
        return None

    def run_continues_on_failure(self, context) -> bool:
        """Azure ML's continue_on_step_failure for this run: the conf key of that name, else
        the DAG's default. A conf key, not a DAG Param: Airflow copies every DAG Param into
        each serialized task, which cost 280 bytes per step of every DAG it parses."""
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        value = conf.get(CONTINUE_PARAM, self.continue_on_step_failure)
        if not isinstance(value, bool):
            raise StepError(f"conf {CONTINUE_PARAM!r} must be true or false, not {value!r}")
        return value


def run_params(context) -> dict:
    """The run's parameter values; one left empty (null) in the trigger form has the
    default the planner gave it."""
    params = dict(context["params"])
    if any(v is None for v in params.values()):
        resolved = context["ti"].xcom_pull(task_ids=PLAN_TASK_ID, key=PARAMS_XCOM_KEY) or {}
        params.update({k: resolved[k] for k, v in params.items() if v is None and k in resolved})
    return params


def plan_of(context) -> dict:
    return context["ti"].xcom_pull(task_ids=PLAN_TASK_ID, key=PLAN_XCOM_KEY) or {}


def upstream_output(context, plan: dict, step: str, output: str) -> str | None:
    entry = plan.get(step) or {}
    if entry.get("reuse"):
        return (entry.get("outputs") or {}).get(output)
    result = context["ti"].xcom_pull(task_ids=step) or {}
    return (result.get("outputs") or {}).get(output)


def upstream_manifest(context, plan: dict, step: str, output: str) -> dict | None:
    """The manifest of an upstream output: from its record when it was reused, else from
    what its task returned (None when it returned none: the reader computes it)."""
    entry = plan.get(step) or {}
    if entry.get("reuse"):
        return (entry.get("manifests") or {}).get(output)
    result = context["ti"].xcom_pull(task_ids=step) or {}
    return (result.get("manifests") or {}).get(output)
