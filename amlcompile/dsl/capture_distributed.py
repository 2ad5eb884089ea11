"""A step's distributed training (MpiStep, ScriptRunConfig(distributed_job_config=...),
RunConfiguration node_count / mpi / pytorch / tensorflow) as the IR's DistributedSpec."""

from __future__ import annotations

from ..ir import models as ir
from .environment import distribution

_OWNER = {"mpi": "MpiConfiguration", "pytorch": "PyTorchConfiguration"}
_OWNER["tensorflow"] = "TensorflowConfiguration"


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def distributed_spec(c, s, name: str) -> ir.DistributedSpec | None:
    """The step's DistributedSpec (None for one process); bad counts are problems of `c`
    (the capture) at the line that set them."""
    d = distribution(getattr(s, "runconfig", None))
    if d is None:
        return None
    where = d.where or s._location
    owner = _OWNER[d.kind]
    bad = []

    def positive(value, what: str, minimum: int = 1) -> int:
        if not _count(value) or value < minimum:
            kind = "a positive int" if minimum == 1 else "an int >= 0"
            hint = (
                " (a PipelineParameter cannot size a step: the DAG's tasks are fixed when it is"
                " built)"
                if type(value).__name__ == "PipelineParameter"
                else ""
            )
            bad.append(f"step {name!r}: {owner} {what} must be {kind}, got {value!r}{hint}")
            return minimum
        return value

    backend = None
    ps = 0
    if d.kind == "tensorflow":
        workers = positive(d.worker_count, "worker_count")
        ps = positive(d.parameter_server_count, "parameter_server_count", 0)
        nodes, per_node = workers + ps, 1
    else:
        nodes = positive(d.node_count, "node_count")
        per_node = 1
        if d.kind == "mpi":
            per_node = positive(d.process_count_per_node, "process_count_per_node")
        elif d.process_count is not None:
            total = positive(d.process_count, "process_count")
            if total % nodes:
                bad.append(
                    f"step {name!r}: PyTorchConfiguration process_count {total} is not a"
                    f" multiple of node_count {nodes} (each node runs as many processes)"
                )
            per_node = max(1, total // nodes)
        if d.kind == "pytorch":
            backend = str(d.backend or "Nccl").lower()
            if backend not in ("nccl", "gloo"):
                bad.append(
                    f"step {name!r}: PyTorchConfiguration communication_backend must be"
                    f" 'Nccl' or 'Gloo', got {d.backend!r}"
                )
    for message in bad:
        c.problem(message, where)
    if bad or nodes * per_node == 1:
        return None
    return ir.DistributedSpec(
        kind=d.kind,
        node_count=nodes,
        process_count_per_node=per_node,
        parameter_server_count=ps,
        backend=backend,
    )
