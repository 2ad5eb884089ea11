"""Distributed steps on the Airflow worker: real processes that find each other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from amlcompile.local_run import run_compiled, select
from amlcompile.runtime.steplib import amlcompile_launch

# Rank 0 listens at MASTER_ADDR:MASTER_PORT; every other rank connects and they swap ranks.
# Rank 0 writes the shared output; each rank notes what it was told beside it.
RENDEZVOUS = """\
import json, os, socket, sys, time
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
out = sys.argv[sys.argv.index("--out") + 1]
keys = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "NODE_RANK", "MASTER_ADDR", "TF_CONFIG",
        "OMPI_COMM_WORLD_RANK", "AMLCOMPILE_TORCH_BACKEND")
seen = {k: os.environ.get(k) for k in keys}
seen["metrics"] = "AMLCOMPILE_METRICS_FILE" in os.environ
if rank == 0:
    server = socket.create_server((addr, port))
    server.settimeout(60)
    peers = []
    for _ in range(world - 1):
        conn, _ = server.accept()
        peers.append(int(conn.recv(16).decode()))
        conn.sendall(b"0")
        conn.close()
    seen["peers"] = sorted(peers)
else:
    deadline = time.time() + 60
    while True:
        try:
            conn = socket.create_connection((addr, port), timeout=5)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    conn.sendall(str(rank).encode())
    seen["master_said"] = int(conn.recv(16).decode())
with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
    json.dump(seen, f)
print(f"rank {rank} of {world} met rank 0")
"""

PIPELINE = """\
from azureml.core import Workspace, ScriptRunConfig
from azureml.core.compute import AmlCompute, ComputeTarget
from azureml.core.runconfig import PyTorchConfiguration
from azureml.pipeline.core import Pipeline, PipelineData
from azureml.pipeline.steps import CommandStep, MpiStep
ws = Workspace.from_config()
gpu = ComputeTarget.create(ws, "gpu", AmlCompute.provisioning_configuration(
    vm_size="STANDARD_NC6S_V3", max_nodes=2))
a = PipelineData("a", datastore=ws.get_default_datastore())
b = PipelineData("b", datastore=ws.get_default_datastore())
src = ScriptRunConfig("src", command=["python", "meet.py", "--out", a], compute_target=gpu,
                      distributed_job_config=PyTorchConfiguration("Gloo", LAYOUT))
torch = CommandStep(name="torch", runconfig=src, outputs=[a])
mpi = MpiStep(name="mpi", source_directory="src", script_name="meet.py", arguments=["--out", b],
              node_count=1, process_count_per_node=2, outputs=[b], inputs=[a])
pipe = Pipeline(ws, steps=[torch, mpi], name="dist")
"""


@pytest.mark.airflow
def test_two_ranks_meet_through_the_generated_dag(project):
    """`amlcompile run --local` of AmlCompute steps (and a step on the worker): the ranks
    are real processes of the embedded Airflow's worker; a second run on another layout of
    the same kind reuses the results (node counts are scheduling)."""
    project.write("src/meet.py", RENDEZVOUS)
    project.write("pipe.py", PIPELINE.replace("LAYOUT", "node_count=2"))
    result = run_compiled(select(str(project.root / "pipe.py")), {}, force_local=True)
    states = {s["task_id"]: s["state"] for s in result.steps}
    assert result.state == "success", (states, result.log_file.read_text()[-3000:])
    outputs = {s["task_id"]: (s.get("result") or {}).get("outputs") or {} for s in result.steps}
    torch_out = outputs["torch"]["a"]
    ranks = {r: json.loads(open(os.path.join(torch_out, f"rank{r}.json")).read()) for r in (0, 1)}
    assert ranks[0]["peers"] == [1] and ranks[1]["master_said"] == 0
    assert ranks[0]["MASTER_ADDR"] == ranks[1]["MASTER_ADDR"] == "127.0.0.1"
    assert [ranks[r]["NODE_RANK"] for r in (0, 1)] == ["0", "1"]  # one process per node
    assert ranks[1]["WORLD_SIZE"] == "2" and ranks[1]["AMLCOMPILE_TORCH_BACKEND"] == "gloo"
    # Only rank 0 logs the step's metrics.
    assert ranks[0]["metrics"] is True and ranks[1]["metrics"] is False
    mpi_out = outputs["mpi"]["b"]
    mpi = json.loads(open(os.path.join(mpi_out, "rank1.json")).read())
    assert mpi["OMPI_COMM_WORLD_RANK"] == "1" and mpi["LOCAL_RANK"] == "1"
    assert mpi["master_said"] == 0

    project.write("pipe.py", PIPELINE.replace("LAYOUT", "process_count=2, node_count=1"))
    again = run_compiled(select(str(project.root / "pipe.py")), {}, force_local=True)
    assert again.state == "success"
    assert {s["task_id"]: s["state"] for s in again.steps} == {"torch": "skipped", "mpi": "skipped"}
    assert not again.airflow  # every step reusable: answered from the records


def _launch(tmp_path, config: dict, script: str) -> subprocess.CompletedProcess:
    (tmp_path / "step.py").write_text(script)
    env = {**os.environ, "AMLCOMPILE_DISTRIBUTED": json.dumps(config)}
    return subprocess.run(
        [sys.executable, amlcompile_launch.__file__, "--", sys.executable, "step.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_one_failed_rank_stops_the_others(tmp_path):
    config = {"kind": "mpi", "node_count": 1, "process_count_per_node": 3}
    config.update(master_addr="127.0.0.1", master_port=1)
    script = (
        "import os, sys, time\n"
        "rank = int(os.environ['RANK'])\n"
        "if rank == 2:\n    sys.exit(7)\n"
        "time.sleep(120)\n"
    )
    started = time.monotonic()
    proc = _launch(tmp_path, config, script)
    assert proc.returncode == 7
    assert time.monotonic() - started < 30  # the sleeping ranks were stopped
    assert "rank 2 failed (exit code 7); stopping the other ranks" in proc.stdout


def test_tf_config_names_workers_then_parameter_servers():
    config = {"kind": "tensorflow", "node_count": 3, "parameter_server_count": 1}
    config.update(master_addr="h0", master_port=29500, tf_addresses=["h0:1", "h1:1", "h2:1"])
    envs = [amlcompile_launch.rank_env(config, r) for r in range(3)]
    tf = [json.loads(e["TF_CONFIG"]) for e in envs]
    assert tf[0]["cluster"] == {"worker": ["h0:1", "h1:1"], "ps": ["h2:1"]}
    assert [t["task"] for t in tf] == [
        {"type": "worker", "index": 0},
        {"type": "worker", "index": 1},
        {"type": "ps", "index": 0},
    ]


def test_a_pod_runs_the_ranks_of_its_node(monkeypatch):
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    config = {"kind": "pytorch", "node_count": 2, "process_count_per_node": 4}
    assert amlcompile_launch.local_ranks(config) == [4, 5, 6, 7]
    env = amlcompile_launch.rank_env({**config, "master_addr": "m", "master_port": 1}, 6)
    assert (env["RANK"], env["LOCAL_RANK"], env["NODE_RANK"], env["WORLD_SIZE"]) == (
        "6",
        "2",
        "1",
        "8",
    )


def test_local_launch_gives_tensorflow_tasks_distinct_ports():
    from amlcompile.runtime.operators import local_launch

    argv, raw = local_launch({"kind": "tensorflow", "node_count": 3}, ["python", "x.py"])
    config = json.loads(raw)
    assert argv[1].endswith("amlcompile_launch.py") and argv[2:] == ["--", "python", "x.py"]
    ports = [config["master_port"]] + [int(a.split(":")[1]) for a in config["tf_addresses"]]
    assert len(set(ports)) == 4 and config["master_addr"] == "127.0.0.1"


def test_a_stopped_launcher_stops_its_ranks(tmp_path):
    """What Airflow's on_kill does to a local distributed step: SIGTERM to the launcher."""
    import signal

    config = {"kind": "mpi", "node_count": 2, "master_addr": "127.0.0.1", "master_port": 1}
    (tmp_path / "step.py").write_text(
        "import os, time\n"
        "name = f\"pid{os.environ['RANK']}\"\n"
        "with open(name + '.tmp', 'w') as f:\n"
        "    f.write(str(os.getpid()))\n"
        "os.replace(name + '.tmp', name)\n"
        "time.sleep(120)\n"
    )
    env = {**os.environ, "AMLCOMPILE_DISTRIBUTED": json.dumps(config)}
    proc = subprocess.Popen(
        [sys.executable, amlcompile_launch.__file__, "--", sys.executable, "step.py"],
        cwd=tmp_path,
        env=env,
    )
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"pid{r}").exists() for r in (0, 1)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pids = [int((tmp_path / f"pid{r}").read_text()) for r in (0, 1)]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
