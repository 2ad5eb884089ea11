"""AmlCompute: the step runs in a Kubernetes pod (KubernetesPodOperator).

One pod per step, sized to one node of the target's `vm_size` (Azure ML gave a step a node),
placed on nodes of that size by the well-known instance-type label; `max_nodes` bounds the
pods running at once through an Airflow pool. Datastores are volumes mounted at
/mnt/amlcompile/<volume>; the code snapshot and download-mode inputs are copied into the pod
by an init container the operator adds at run time.
"""

from __future__ import annotations

import re

from ..ir import models as ir
from ..ir import vm_sizes
from .base import LoweringError, OperatorRef, TaskSpec, doc_md, step_payload

OPERATOR = OperatorRef("{runtime}.kubernetes", "AmlPodOperator")
JOB_OPERATOR = OperatorRef("{runtime}.kubernetes", "AmlJobOperator")
MOUNT_ROOT = "/mnt/amlcompile"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TOLERATIONS = [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
]


def pool_name(compute: ir.ComputeTarget) -> str:
    """The Airflow pool bounding this target's concurrent pods (`amlcompile deploy` sizes it)."""
    return f"amlcompile-{compute.name}"


def dns_label(text: str, limit: int = 63) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return label or "x"


def gpu_tolerations(resource: str) -> list[dict]:
    """Tolerations for the taints GPU node pools carry: the GPU resource's own name (the
    NVIDIA and AMD device plugins' convention) and AKS's `sku=gpu`."""
    return [
        {"key": resource, "operator": "Exists", "effect": "NoSchedule"},
        GPU_TOLERATIONS[1],
    ]


def resources(compute: ir.ComputeTarget) -> tuple[dict, dict]:
    """(container resources, node selector) for one node of the target's size, with what
    the project config overrides (`[compute.NAME] cpu, memory_gib, gpus, gpu_resource,
    node_selector`).

    Requests from a size leave headroom for what the kubelet and system pods reserve on a node
    (about 10% of CPU, 20% of memory on AKS), or a pod sized to the whole node would never
    schedule; overridden values are taken as given.
    """
    cpu = memory = None
    gpus = 0
    node_selector: dict = {}
    if compute.vm_size:
        found = vm_sizes.lookup(compute.vm_size)
        if found is None:  # validation reported it with the nearest names
            raise LoweringError(
                f"compute target {compute.name!r}: unknown vm_size {compute.vm_size!r}"
            )
        name, size = found
        cpu = f"{int(size.vcpus * 900)}m"
        memory = f"{int(size.memory_gib * 1024 * 0.8)}Mi"
        gpus = size.gpus
        node_selector = {"node.kubernetes.io/instance-type": name}
    over = compute.resources
    gpu_resource = GPU_RESOURCE
    if over is not None:
        if over.cpu is not None:
            cpu = f"{int(round(over.cpu * 1000))}m"
        if over.memory_gib is not None:
            memory = f"{int(round(over.memory_gib * 1024))}Mi"
        if over.gpus is not None:
            gpus = over.gpus
        if over.gpu_resource is not None:
            gpu_resource = over.gpu_resource
        if over.node_selector is not None:
            node_selector = dict(over.node_selector)
    requests: dict = {}
    limits: dict = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
        limits["memory"] = memory
    if gpus:
        requests[gpu_resource] = str(gpus)
        limits[gpu_resource] = str(gpus)
    container = {"requests": requests, "limits": limits} if requests else {}
    return container, node_selector


def volume_for(ds: ir.Datastore, name: str, ctx) -> dict:
    """A datastore as a pod volume: a PVC for local and file stores, the blob CSI driver else."""
    entry = ctx.config.datastores.get(ds.name)
    secret = (entry.k8s_secret_name if entry else None) or f"amlcompile-{dns_label(ds.name, 50)}"
    if ds.kind == "local":
        claim = (entry.k8s_pvc if entry else None) or f"amlcompile-{dns_label(ds.name, 50)}"
        return {"name": name, "persistentVolumeClaim": {"claimName": claim}}
    if ds.kind == "azure_file":
        return {
            "name": name,
            "csi": {
                "driver": "file.csi.azure.com",
                "volumeAttributes": {"shareName": ds.path, "secretName": secret},
            },
        }
    attributes = {"containerName": ds.path, "secretName": secret}
    if ds.kind == "adls_gen2":
        attributes["isHnsEnabled"] = "true"
    return {"name": name, "csi": {"driver": "blob.csi.azure.com", "volumeAttributes": attributes}}


def lower(p: ir.Pipeline, s: ir.Step, compute: ir.ComputeTarget, ctx) -> TaskSpec:
    payload = step_payload(p, s)
    # The entrypoint (python SCRIPT, or bash -c COMMAND) is AmlPodOperator's, from the step;
    # a command list with parameters or data in it, the arguments and the environment are
    # bound by AmlPodOperator at run time.
    used = sorted(
        {payload.get("record_datastore", s.outputs[0].datastore if s.outputs else "")}
        | {port["datastore"] for port in payload.get("inputs", [])}
        | {port["datastore"] for port in payload.get("outputs", [])}
    )
    stores = {d.name: d for d in p.datastores}
    for ds_name in used:
        if stores[ds_name].kind == "dbfs":
            raise LoweringError(
                f"{s.location}: step {s.name!r}: a pod cannot mount DBFS datastore {ds_name!r};"
                " only a DatabricksStep (or a step on the Airflow worker) reads DBFS"
            )
    volumes, mounts, mount_paths = [], [], {}
    for i, ds_name in enumerate(used):
        volume = f"ds-{i}-{dns_label(ds_name, 40)}"
        volumes.append(volume_for(stores[ds_name], volume, ctx))
        mount_paths[ds_name] = f"{MOUNT_ROOT}/{volume}"
        mounts.append({"name": volume, "mountPath": mount_paths[ds_name]})
    volumes.append({"name": "amlcompile-work", "emptyDir": {}})
    mounts.append({"name": "amlcompile-work", "mountPath": "/amlcompile"})
    container_resources, node_selector = resources(compute)
    container: dict = {"name": "base", "workingDir": "/amlcompile/code", "volumeMounts": mounts}
    if container_resources:
        container["resources"] = container_resources
    spec: dict = {"containers": [container], "volumes": volumes}
    if node_selector:
        spec["nodeSelector"] = node_selector
    gpu_resource = next(
        (k for k in container_resources.get("limits", {}) if k not in ("cpu", "memory")), None
    )
    if gpu_resource == GPU_RESOURCE:
        spec["tolerations"] = GPU_TOLERATIONS
    elif gpu_resource is not None:
        spec["tolerations"] = gpu_tolerations(gpu_resource)
    # The pod's name comes from the task id (KubernetesPodOperator makes it a DNS label).
    kwargs = {
        "step": payload,
        "image": s.image or ctx.config.default_image,
        "namespace": ctx.config.kubernetes.namespace,
        "kubernetes_conn_id": ctx.config.kubernetes.conn_id,
        "mount_paths": mount_paths,
        "pod_template_dict": {"apiVersion": "v1", "kind": "Pod", "spec": spec},
        "get_logs": True,
        "on_finish_action": "delete_pod",
    }
    if compute.max_nodes:
        kwargs["pool"] = pool_name(compute)
    size = compute.vm_size or "any size"
    operator, own, where = OPERATOR, (), f"Kubernetes ({compute.name}, {size})"
    if s.distributed is not None:  # an indexed Job of node_count pods (runtime/kubernetes.py)
        operator, own = JOB_OPERATOR, ("pool_slots",)
        if compute.max_nodes:  # the step holds node_count of the target's nodes at once
            kwargs["pool_slots"] = s.distributed.node_count
    return TaskSpec(
        task_id=s.name,
        operator=operator,
        kwargs=kwargs,
        doc_md=doc_md(s, where),
        shared={"datastores": "DATASTORES"},
        group=compute.name,
        own=own,
        # A step's own image (its environment) or datastores (volumes) split the group.
    )
