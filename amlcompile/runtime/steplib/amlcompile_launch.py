"""Starts a distributed step's processes and tells each who it is (stdlib only).

    AMLCOMPILE_DISTRIBUTED='{"kind": "pytorch", ...}' python amlcompile_launch.py -- CMD ...

Runs CMD once per process of this node: every rank of the job when the configuration has no
node rank and no JOB_COMPLETION_INDEX is set (all nodes on this machine: `amlcompile run`
and LocalCompute), else the `process_count_per_node` ranks of node JOB_COMPLETION_INDEX (a
pod of a Kubernetes indexed Job). Each process gets:

- RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, NODE_RANK, MASTER_ADDR, MASTER_PORT
  (torch.distributed's `env://`), for every kind;
- mpi: OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK / _LOCAL_SIZE and PMI_RANK / PMI_SIZE;
- pytorch: AMLCOMPILE_TORCH_BACKEND (nccl or gloo, from communication_backend);
- tensorflow: TF_CONFIG (the cluster's workers, then parameter servers, and this task).

Only rank 0 keeps AMLCOMPILE_METRICS_FILE: what rank 0 logs through Run.get_context() is the
step's metrics (other ranks' logging is dropped, as one run has one set of metrics). Every
rank sees the same output paths; by convention rank 0 writes them.

The launcher waits for all; when one process fails, the others are stopped and the launcher
exits with the failed one's code. Output lines are prefixed with `[rank N] `.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

CONFIG_ENV = "AMLCOMPILE_DISTRIBUTED"
METRICS_ENV = "AMLCOMPILE_METRICS_FILE"
GRACE_SECONDS = 10.0


def rank_env(config: dict, rank: int) -> dict[str, str]:
    """The variables of process `rank` (global) of the job `config` describes."""
    per_node = int(config.get("process_count_per_node", 1))
    nodes = int(config.get("node_count", 1))
    world = nodes * per_node
    env = {
        "RANK": rank,
        "WORLD_SIZE": world,
        "LOCAL_RANK": rank % per_node,
        "LOCAL_WORLD_SIZE": per_node,
        "NODE_RANK": rank // per_node,
        "GROUP_RANK": rank // per_node,
        "MASTER_ADDR": config["master_addr"],
        "MASTER_PORT": config["master_port"],
    }
    kind = config["kind"]
    if kind == "mpi":
        env.update(
            OMPI_COMM_WORLD_RANK=rank,
            OMPI_COMM_WORLD_SIZE=world,
            OMPI_COMM_WORLD_LOCAL_RANK=rank % per_node,
            OMPI_COMM_WORLD_LOCAL_SIZE=per_node,
            PMI_RANK=rank,
            PMI_SIZE=world,
        )
    elif kind == "pytorch":
        env["AMLCOMPILE_TORCH_BACKEND"] = config.get("backend") or "nccl"
    elif kind == "tensorflow":
        addresses = list(config["tf_addresses"])
        workers = world - int(config.get("parameter_server_count", 0))
        cluster = {"worker": addresses[:workers]}
        if addresses[workers:]:
            cluster["ps"] = addresses[workers:]
        task = {"type": "worker", "index": rank} if rank < workers else {}
        task = task or {"type": "ps", "index": rank - workers}
        env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": task}, sort_keys=True)
    return {k: str(v) for k, v in env.items()}


def local_ranks(config: dict) -> list[int]:
    per_node = int(config.get("process_count_per_node", 1))
    nodes = int(config.get("node_count", 1))
    node = config.get("node_rank")
    if node is None and os.environ.get("JOB_COMPLETION_INDEX") is not None:
        node = int(os.environ["JOB_COMPLETION_INDEX"])
    if node is None:
        return list(range(nodes * per_node))
    return list(range(int(node) * per_node, (int(node) + 1) * per_node))


def _pump(proc: subprocess.Popen, rank: int, lock: threading.Lock) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        with lock:
            sys.stdout.write(f"[rank {rank}] {line.rstrip(chr(10))}\n")
            sys.stdout.flush()


def _stop(procs: dict[int, subprocess.Popen]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + GRACE_SECONDS
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def launch(config: dict, argv: list[str]) -> int:
    lock = threading.Lock()
    procs: dict[int, subprocess.Popen] = {}
    pumps = []

    def on_signal(signum, frame):
        _stop(procs)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    for rank in local_ranks(config):
        env = {**os.environ, **rank_env(config, rank)}
        env.pop(CONFIG_ENV, None)
        if rank != 0:
            env.pop(METRICS_ENV, None)
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        procs[rank] = proc
        pump = threading.Thread(target=_pump, args=(proc, rank, lock), daemon=True)
        pump.start()
        pumps.append(pump)
    code = 0
    while True:
        running = False
        for rank, proc in procs.items():
            rc = proc.poll()
            if rc is None:
                running = True
            elif rc != 0:
                with lock:
                    print(
                        f"[amlcompile] rank {rank} failed (exit code {rc}); stopping the other"
                        " ranks",
                        flush=True,
                    )
                _stop(procs)
                code = rc if rc > 0 else 128 - rc
                break
        if code or not running:
            break
        time.sleep(0.05)
    for pump in pumps:
        pump.join(timeout=5)
    return code


def main(args: list[str]) -> int:
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: amlcompile_launch.py -- COMMAND ...", file=sys.stderr)
        return 2
    return launch(json.loads(os.environ[CONFIG_ENV]), args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
