"""LocalCompute: the step runs in a subprocess on the Airflow worker."""

from __future__ import annotations

from ..ir import models as ir
from .base import OperatorRef, TaskSpec, doc_md, step_payload

OPERATOR = OperatorRef("{runtime}.operators", "LocalStepOperator")


def lower(p: ir.Pipeline, s: ir.Step, compute: ir.ComputeTarget, ctx) -> TaskSpec:
    kwargs: dict = {"step": step_payload(p, s)}
    if p.xcom_log_tail != 20:  # [dag] xcom_log_tail (the operator's default is 20)
        kwargs["xcom_log_tail"] = p.xcom_log_tail
    return TaskSpec(
        task_id=s.name,
        operator=OPERATOR,
        kwargs=kwargs,
        doc_md=doc_md(s, f"the Airflow worker ({compute.name})"),
        shared={"datastores": "DATASTORES"},
        group=compute.name,
    )
