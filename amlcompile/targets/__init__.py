"""Lowering: one module per compute target, chosen by the step's compute kind."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ProjectConfig
from ..ir import models as ir
from . import kubernetes, local
from .base import OperatorRef, TaskSpec

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


__all__ = ["LoweringContext", "OperatorRef", "TaskSpec", "UnsupportedTarget", "lower_step"]
