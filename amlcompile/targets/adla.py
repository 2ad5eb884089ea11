"""AdlaCompute: an AdlaStep's U-SQL script is submitted with the Azure CLI (a BashOperator)."""

from __future__ import annotations

from ..ir import models as ir
from .base import LoweringError, OperatorRef, TaskSpec, doc_md, step_payload, token

OPERATOR = OperatorRef("{runtime}.adla", "AdlaJobOperator")


def lower(p: ir.Pipeline, s: ir.Step, compute: ir.ComputeTarget, ctx) -> TaskSpec:
    spec = s.adla
    if spec is None:
        raise LoweringError(f"{s.location}: step {s.name!r} is not an AdlaStep")
    stores = {d.name: d for d in p.datastores}
    payload = step_payload(p, s)
    for port in [*payload.get("inputs", []), *payload.get("outputs", [])]:
        if stores[port["datastore"]].kind == "dbfs":
            raise LoweringError(
                f"{s.location}: step {s.name!r}: Data Lake Analytics cannot read DBFS"
                f" datastore {port['datastore']!r}"
            )
    adla = {
        "script": spec.script,
        "params": [[k, token(v)] for k, v in spec.params],
        "degree_of_parallelism": spec.degree_of_parallelism,
        "priority": spec.priority,
        "runtime_version": spec.runtime_version,
    }
    return TaskSpec(
        task_id=s.name,
        operator=OPERATOR,
        kwargs={
            "step": payload,
            "adla": {k: v for k, v in adla.items() if v not in (None, [])},
            "account": compute.account_name or compute.name,
        },
        doc_md=doc_md(s, f"Azure Data Lake Analytics ({compute.account_name or compute.name})"),
        shared={"datastores": "DATASTORES"},
        group=compute.name,
        own=("adla",),
    )
