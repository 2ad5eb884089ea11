"""DataTransferStep (DataFactoryCompute or none): a copy between datastores on the worker,
over Airflow's object storage."""

from __future__ import annotations

from ..ir import models as ir
from .base import OperatorRef, TaskSpec, doc_md, step_payload

OPERATOR = OperatorRef("{runtime}.transfer", "AmlDataTransferOperator")


def lower(p: ir.Pipeline, s: ir.Step, compute: ir.ComputeTarget, ctx) -> TaskSpec:
    spec = s.transfer or ir.TransferSpec()
    transfer = {
        "source_reference_type": spec.source_reference_type,
        "destination_reference_type": spec.destination_reference_type,
    }
    return TaskSpec(
        task_id=s.name,
        operator=OPERATOR,
        kwargs={
            "step": step_payload(p, s),
            "transfer": {k: v for k, v in transfer.items() if v is not None},
        },
        doc_md=doc_md(s, f"a data copy ({compute.name})"),
        shared={"datastores": "DATASTORES"},
        group=compute.name,
        own=("transfer",),
    )
