"""The reuse planner: one task at the start of each run decides, for every step at once,
whether a completed record of its fingerprint exists; reused steps are marked skipped
without launching them (a fully reused run costs one task launch, not one per step)."""

from __future__ import annotations

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import DownstreamTasksSkipped

from .binding import StepError, expand_step
from .plan import compute_plan, expected_outputs, output_relpath
from .reuse import CONTINUE_PARAM, PLAN_TASK_ID, PLAN_XCOM_KEY, REGENERATE_PARAM

__all__ = [
    "PARAMS_XCOM_KEY",
    "ReusePlanOperator",
    "compute_plan",
    "expected_outputs",
    "output_relpath",
    "plan_of",
    "run_params",
    "upstream_manifest",
    "upstream_output",
]

# The run's parameter values with the defaults of those left empty (null) in the trigger form.
PARAMS_XCOM_KEY = "amlcompile_params"


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
            # A step run as several tasks (mini-batches, trials) is skipped with all of them.
            helpers = {s["name"]: s.get("helper_tasks") or () for s in steps}
            raise DownstreamTasksSkipped(
                tasks=[t for name in reused for t in (*helpers.get(name, ()), name)]
            )
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
