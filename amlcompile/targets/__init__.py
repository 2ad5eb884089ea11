"""Lowering: one module per compute target, chosen by the step's compute kind."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ProjectConfig
from ..ir import models as ir
from ..runtime.reuse import PLAN_TASK_ID
from . import adla, databricks, hyperdrive, kubernetes, local, parallel_run, transfer
from .base import LoweringError, OperatorRef, TaskSpec

# Step kinds that run on a service of their own, whatever the compute kind says.
BY_STEP_KIND = {
    "databricks": databricks.lower,
    "adla": adla.lower,
    "data_transfer": transfer.lower,
    "hyperdrive": hyperdrive.lower,
    "parallel_run": parallel_run.lower,  # on the worker (mini-batches as mapped tasks)
}
# Script and command steps, by compute kind.
LOWERERS = {
    "local": local.lower,
    "amlcompute": kubernetes.lower,
}


@dataclass(frozen=True)
class LoweringContext:
    config: ProjectConfig
    force_local: bool = False  # `amlcompile run --local`: every script or command step local


UnsupportedTarget = LoweringError  # the name earlier callers used


def lower_step(p: ir.Pipeline, s: ir.Step, ctx: LoweringContext) -> TaskSpec:
    compute = next(c for c in p.computes if c.name == s.compute)
    lowerer = BY_STEP_KIND.get(s.kind)
    if lowerer is None:
        kind = "local" if ctx.force_local else compute.kind
        lowerer = LOWERERS.get(kind)
    if lowerer is None:
        raise LoweringError(
            f"{s.location}: step {s.name!r}: a {s.kind.replace('_', ' ')} step cannot run on"
            f" compute target {compute.name!r} ({compute.kind})"
        )
    spec = lowerer(p, s, compute, ctx)
    for task in (*spec.before, spec):
        # The planner marks reused steps *skipped*: their downstream steps must still run.
        task.kwargs.setdefault("trigger_rule", "none_failed")
        if compute.queue:  # CeleryExecutor: only workers listening to this queue run the step
            task.kwargs["queue"] = compute.queue
    if spec.before:
        # The planner skips a reused step's other tasks with it.
        spec.kwargs["step"]["helper_tasks"] = [t.task_id for t in spec.before]
    return spec


def plan_task(p: ir.Pipeline) -> TaskSpec:
    """The reuse planner: first task of every run, upstream of the pipeline's root steps.

    It reads the DAG file's STEPS table (every step's payload, in topological order), the
    same objects the step tasks are given: nothing of a step is written twice."""
    return TaskSpec(
        task_id=PLAN_TASK_ID,
        operator=OperatorRef("{runtime}.planner", "ReusePlanOperator"),
        kwargs={
            # The DAG's default; a run's conf may say otherwise (see runtime/planner.py).
            "continue_on_step_failure": p.continue_on_step_failure,
            # What a parameter left empty (null) in the trigger form stands for.
            **(
                {"param_defaults": {x.name: x.default for x in p.parameters}}
                if p.parameters
                else {}
            ),
        },
        doc_md="Computes every step's fingerprint and skips the steps whose results can be"
        " reused (Azure ML's allow_reuse), all at once at the start of the run.",
        shared={"steps": "STEPS", "datastores": "DATASTORES"},
        before_roots=True,
    )


__all__ = [
    "LoweringContext",
    "LoweringError",
    "OperatorRef",
    "PLAN_TASK_ID",
    "TaskSpec",
    "UnsupportedTarget",
    "lower_step",
    "plan_task",
]
