"""DatabricksCompute: a DatabricksStep runs as a one-time Databricks run
(the provider's DatabricksSubmitRunOperator)."""

from __future__ import annotations

from ..ir import models as ir
from .base import LoweringError, OperatorRef, TaskSpec, doc_md, step_payload, token

OPERATOR = OperatorRef("{runtime}.databricks", "AmlDatabricksOperator")
READABLE = {"azure_blob", "adls_gen2", "local", "dbfs"}


def lower(p: ir.Pipeline, s: ir.Step, compute: ir.ComputeTarget, ctx) -> TaskSpec:
    spec = s.databricks
    if spec is None:
        raise LoweringError(f"{s.location}: step {s.name!r} is not a DatabricksStep")
    stores = {d.name: d for d in p.datastores}
    payload = step_payload(p, s)
    for port in [*payload.get("inputs", []), *payload.get("outputs", [])]:
        ds = stores[port["datastore"]]
        if ds.kind not in READABLE:
            raise LoweringError(
                f"{s.location}: step {s.name!r}: Databricks cannot read {ds.kind} datastore"
                f" {ds.name!r} (use Azure Blob, ADLS Gen2 or DBFS)"
            )
        if ds.kind in ("azure_blob", "adls_gen2") and not ds.account_name:
            raise LoweringError(
                f"{s.location}: step {s.name!r}: datastore {ds.name!r} needs account_name in"
                " the project config (Databricks addresses it by storage account)"
            )
    databricks = {
        "task": spec.task,
        "notebook_path": spec.notebook_path,
        "python_script_path": spec.python_script_path,
        "python_script_name": spec.python_script_name,
        "main_class_name": spec.main_class_name,
        "notebook_params": [[k, token(v)] for k, v in spec.notebook_params],
        "params": [token(v) for v in spec.params],
        "existing_cluster_id": spec.existing_cluster_id,
        "new_cluster": spec.new_cluster,
        "libraries": list(spec.libraries),
        "run_name": spec.run_name,
        "timeout_seconds": spec.timeout_seconds,
    }
    return TaskSpec(
        task_id=s.name,
        operator=OPERATOR,
        kwargs={
            "step": payload,
            "databricks": {k: v for k, v in databricks.items() if v not in (None, [], {})},
            "databricks_conn_id": compute.conn_id or "databricks_default",
        },
        doc_md=doc_md(s, f"Databricks ({compute.name})"),
        shared={"datastores": "DATASTORES"},
        group=compute.name,
        own=("databricks",),
    )
