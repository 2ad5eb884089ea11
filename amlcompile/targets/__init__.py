"""Lowering: one module per compute target, chosen by the step's compute kind."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ProjectConfig
from ..ir import models as ir
from ..ir.validate import topological_order
from ..runtime.reuse import PLAN_TASK_ID
from . import kubernetes, local
from .base import OperatorRef, TaskSpec, plan_entry

LOWERERS = {
    "local": local.lower,
    "amlcompute": kubernetes.lower,
}


@dataclass(frozen=True)
class LoweringContext:
    config: ProjectConfig
    force_local: bool = False  # `amlcompile run --local`: every script or command step local


class UnsupportedTarget(Exception):
    pass


def lower_step(p: ir.Pipeline, s: ir.Step, ctx: LoweringContext) -> TaskSpec:
    compute = next(c for c in p.computes if c.name == s.compute)
    kind = "local" if ctx.force_local and s.kind in ("python_script", "command") else compute.kind
    lowerer = LOWERERS.get(kind)
    if lowerer is None:
        raise UnsupportedTarget(
            f"{s.location}: step {s.name!r}: compute target"
            f" {compute.name!r} ({compute.kind}) is not supported yet"
        )
    return lowerer(p, s, compute, ctx)


def plan_task(p: ir.Pipeline) -> TaskSpec:
    """The reuse planner: first task of every run, upstream of the pipeline's root steps."""
    order = topological_order(p)
    return TaskSpec(
        task_id=PLAN_TASK_ID,
        operator=OperatorRef("{runtime}.planner", "ReusePlanOperator"),
        kwargs={"steps": [plan_entry(p, p.step(name)) for name in order]},
        doc_md="Computes every step's fingerprint and skips the steps whose results can be"
        " reused (Azure ML's allow_reuse), all at once at the start of the run.",
        shared={"datastores": "DATASTORES"},
        before_roots=True,
    )


__all__ = [
    "LoweringContext",
    "OperatorRef",
    "PLAN_TASK_ID",
    "TaskSpec",
    "UnsupportedTarget",
    "lower_step",
    "plan_task",
]
