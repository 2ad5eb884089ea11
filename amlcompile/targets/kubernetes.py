"""AmlCompute: the step runs in a Kubernetes pod (KubernetesPodOperator)."""

from __future__ import annotations

from ..ir import models as ir
from .base import OperatorRef, TaskSpec, doc_md, step_payload

OPERATOR = OperatorRef("{runtime}.kubernetes", "AmlPodOperator")


def lower(p: ir.Pipeline, s: ir.Step, compute: ir.ComputeTarget, ctx) -> TaskSpec:
    payload = step_payload(p, s)
    # The entrypoint is fixed here when it is plain text; a command list with parameters or
    # data in it, the arguments and the environment are bound by AmlPodOperator at run time.
    if s.kind == "python_script":
        cmds = ["python", s.script]
    elif s.shell_command is not None:
        cmds = ["bash", "-c", s.shell_command]
    else:
        cmds = []
    return TaskSpec(
        task_id=s.name,
        operator=OPERATOR,
        kwargs={
            "step": payload,
            "name": s.name.lower().replace("_", "-").replace(".", "-")[:63].strip("-") or "step",
            "image": s.image or ctx.config.default_image,
            "cmds": cmds,
            "namespace": ctx.config.kubernetes.namespace,
            "kubernetes_conn_id": ctx.config.kubernetes.conn_id,
            "get_logs": True,
            "trigger_rule": "none_failed",
            "on_finish_action": "delete_pod",
        },
        doc_md=doc_md(s, f"Kubernetes ({compute.name}, {compute.vm_size or 'any size'})"),
    )
