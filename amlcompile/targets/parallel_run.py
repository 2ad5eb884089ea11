"""ParallelRunStep: a split task, a mapped task (one instance per mini-batch) and the step's
own task, which gathers (docs/parallel-run.md). The mini-batches run on the Airflow worker
(LocalCompute, or any target under `amlcompile run --local`) or, on AmlCompute, in pods: one
pod per worker process group (runtime/parallel_pod.py); split and gather stay on the worker."""

from __future__ import annotations

from ..ir import models as ir
from ..ir import vm_sizes
from . import kubernetes
from .base import LoweringError, OperatorRef, TaskSpec, doc_md, step_payload

MODULE = "{runtime}.parallel"
POD_OPERATOR = OperatorRef("{runtime}.parallel_pod", "ParallelRunBatchPodOperator")


def pod_batches(p: ir.Pipeline, s: ir.Step, compute: ir.ComputeTarget, ctx, payload: dict):
    """The mapped task's kwargs on AmlCompute: AmlPodOperator's (image, resources, node
    selector, volumes, pool), bounded by node_count × process_count_per_node per run.
    Mini-batches, their records and the job file are on datastores the pod mounts as
    PersistentVolumeClaims: local datastores only (the worker reads them as folders too)."""
    spec = s.parallel_run
    stores = {d.name: d for d in p.datastores}
    used = {payload.get("record_datastore", s.outputs[0].datastore if s.outputs else "")}
    used |= {port["datastore"] for port in payload.get("inputs", [])}
    used |= {port["datastore"] for port in payload.get("outputs", [])}
    for name in sorted(used):
        if stores[name].kind != "local":
            raise LoweringError(
                f"{s.location}: step {s.name!r}: a ParallelRunStep on AmlCompute reads and"
                f" writes mini-batches on local datastores (volumes shared by the worker and"
                f" the pods) only so far; datastore {name!r} is {stores[name].kind}"
            )
    pod = kubernetes.lower(p, s, compute, ctx)
    kwargs = {k: v for k, v in pod.kwargs.items() if k != "step"}
    kwargs["step"] = payload
    per_node = spec.process_count_per_node
    if per_node is None and not spec.process_count_param and compute.vm_size:
        found = vm_sizes.lookup(compute.vm_size)
        if found is not None:  # Azure ML's default: the node's cores
            per_node = found[1].vcpus
            payload["parallel_run"]["process_count_per_node"] = per_node
    own: tuple[str, ...] = ()
    if per_node and not spec.process_count_param and not spec.node_count_param:
        kwargs["max_active_tis_per_dagrun"] = spec.node_count * per_node
        own = ("max_active_tis_per_dagrun",)
    return kwargs, own


def lower(p: ir.Pipeline, s: ir.Step, compute: ir.ComputeTarget, ctx) -> TaskSpec:
    spec = s.parallel_run
    assert spec is not None
    on_pods = compute.kind == "amlcompute" and not ctx.force_local
    if compute.kind not in ("local", "amlcompute") and not ctx.force_local:
        raise LoweringError(
            f"{s.location}: step {s.name!r}: a ParallelRunStep runs on the Airflow worker so"
            f" or in pods on AmlCompute so far, not on compute target {compute.name!r}"
            f" ({compute.kind}); use LocalCompute, AmlCompute or `amlcompile run --local`"
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
    batch_operator, group, own = OperatorRef(MODULE, "ParallelRunBatchOperator"), None, ()
    if on_pods:
        batch_kwargs, own = pod_batches(p, s, compute, ctx, payload)
        batch_operator, group = POD_OPERATOR, compute.name
        where = f"Kubernetes pods ({compute.name}, {compute.vm_size or 'any size'})"
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
        operator=batch_operator,
        kwargs=batch_kwargs,
        doc_md=f"**{label}**: one task instance per worker process (node_count ×"
        f" process_count_per_node): the entry script `{s.script}`, init() once, then"
        f" run(mini_batch) for each of its mini-batches, on {where}",
        shared=dict(shared),
        expand=("batches", split_id),
        group=group,
        own=own,
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
