"""ParallelRunStep: a split task, a mapped task (one instance per mini-batch) and the step's
own task, which gathers (docs/parallel-run.md). Runs on the Airflow worker (LocalCompute, or
any target under `amlcompile run --local`)."""

from __future__ import annotations

from ..ir import models as ir
from .base import LoweringError, OperatorRef, TaskSpec, doc_md, step_payload

MODULE = "{runtime}.parallel"


def lower(p: ir.Pipeline, s: ir.Step, compute: ir.ComputeTarget, ctx) -> TaskSpec:
    spec = s.parallel_run
    assert spec is not None
    if compute.kind != "local" and not ctx.force_local:
        raise LoweringError(
            f"{s.location}: step {s.name!r}: a ParallelRunStep runs on the Airflow worker so"
            f" far, not on compute target {compute.name!r} ({compute.kind}); use LocalCompute"
            " or `amlcompile run --local`"
        )
    payload = step_payload(p, s)
    payload["parallel_run"] = spec.model_dump(mode="json", exclude_defaults=True)
    payload["parallel_run"]["batch_inputs"] = list(spec.batch_inputs)
    split_id, batches_id = f"{s.name}__split", f"{s.name}__batches"
    shared = {"datastores": "DATASTORES"}
    where = f"the Airflow worker ({compute.name})"
    # At most node_count × process_count_per_node instances (the split groups the batches:
    # Azure ML's worker processes, each calling init() once), so no bound is needed here.
    batch_kwargs: dict = {"step": payload}
    label = s.display_name or s.name
    split = TaskSpec(
        task_id=split_id,
        operator=OperatorRef(MODULE, "ParallelRunSplitOperator"),
        kwargs={"step": payload},
        doc_md=f"**{label}**: lists the input files, reuses completed mini-batches and splits"
        f" the rest into mini-batches of {spec.mini_batch_size} files",
        shared=dict(shared),
        of_step=s.name,
        display_name=f"{label} (split)",
    )
    batches = TaskSpec(
        task_id=batches_id,
        operator=OperatorRef(MODULE, "ParallelRunBatchOperator"),
        kwargs=batch_kwargs,
        doc_md=f"**{label}**: one task instance per worker process (node_count ×"
        f" process_count_per_node): the entry script `{s.script}`, init() once, then"
        f" run(mini_batch) for each of its mini-batches, on {where}",
        shared=dict(shared),
        expand=("batches", split_id),
        of_step=s.name,
        display_name=f"{label} (mini-batches)",
    )
    return TaskSpec(
        task_id=s.name,
        operator=OperatorRef(MODULE, "ParallelRunGatherOperator"),
        kwargs={"step": payload},
        doc_md=doc_md(s, where),
        shared=dict(shared),
        before=[split, batches],
    )
