"""Distributed AmlCompute steps: an indexed Job built by the provider and a headless Service,
both accepted by the Kubernetes schema; the pods find each other by the Service's DNS names."""

from __future__ import annotations

import json

import pytest

from tests.airflow.conftest import airflow_python

pytestmark = pytest.mark.airflow

JOB = """
import json
import kubernetes_validate
from kubernetes.client import ApiClient
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
bag = DagBag(dag_folder=DAGS)
assert not bag.import_errors, bag.import_errors
version = kubernetes_validate.utils.latest_version()

class Hook:  # what the provider asks a live cluster while building the Job
    is_in_cluster = False
    def get_namespace(self):
        return None

out = {}
for name in ("torch", "tf", "single"):
    task = bag.dags["dist"].get_task(name)
    context = {"params": {}, "run_id": "manual__2026-01-01T00:00:00+00:00"}
    plan = {name: {"fingerprint": "f" * 64}}
    task.bind(context, plan, "f" * 64)
    entry = {"operator": type(task).__name__, "pool_slots": task.pool_slots,
             "is_job": isinstance(task, KubernetesJobOperator), "doc": task.doc_md}
    if entry["is_job"]:
        task.__dict__["hook"] = Hook()
        job = ApiClient().sanitize_for_serialization(task.build_job_request_obj(None))
        kubernetes_validate.validate(job, version, strict=True)
        kubernetes_validate.validate(task.service, version, strict=True)
        entry.update(job=job, service=task.service)
    out[name] = entry

# The Service's lifecycle around the Job: created first, deleted even when the Job fails.
calls = []

class Client:
    def create_namespaced_service(self, namespace, body):
        calls.append(["create", namespace, body["metadata"]["name"]])
    def delete_namespaced_service(self, name, namespace):
        calls.append(["delete", namespace, name])

def failing_job(self, context):
    calls.append(["job", self.name])
    raise RuntimeError("job failed")

task = bag.dags["dist"].get_task("torch")
task.bind({"params": {}, "run_id": "r1"}, {"torch": {"fingerprint": "f" * 64}}, "f" * 64)
task.__dict__["client"] = Client()
KubernetesJobOperator.execute = failing_job
try:
    task.run_workload({"run_id": "r1"})
except RuntimeError:
    calls.append(["raised"])
out["lifecycle"] = calls
print(json.dumps(out))
"""

CONFIG = """
[compute.gpu]
kind = "amlcompute"
vm_size = "standard_nc6s_v3"
max_nodes = 4

[kubernetes]
namespace = "ml-jobs"
"""

PIPELINE = """\
from azureml.core import Workspace, ScriptRunConfig
from azureml.core.runconfig import RunConfiguration, TensorflowConfiguration
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import CommandStep, PythonScriptStep
ws = Workspace.from_config()
gpu = ws.compute_targets["gpu"]
rc = RunConfiguration()
rc.framework = "PyTorch"
rc.communicator = "Nccl"
rc.node_count = 2
rc.pytorch.process_count = 4
torch = PythonScriptStep("train.py", name="torch", source_directory="src", compute_target=gpu,
                         runconfig=rc, arguments=["--epochs", 3])
src = ScriptRunConfig("src", script="train.py", compute_target=gpu,
                      distributed_job_config=TensorflowConfiguration(2, 1))
tf = CommandStep(name="tf", runconfig=src)
single = PythonScriptStep("train.py", name="single", source_directory="src", compute_target=gpu)
dist = Pipeline(ws, steps=[torch, tf, single])
"""


def test_job_and_service_are_built_by_the_provider_and_valid(project, tmp_path):
    project.write("amlcompile.toml", CONFIG)
    project.script("src/train.py")
    project.write("pipe.py", PIPELINE)
    from amlcompile.compiler import build

    out = project.root / "dags_out"
    result = build([project.root / "pipe.py"], out_dir=out)
    assert result.compiled
    steps = {s.name: s for s in result.compiled[0].pipeline.steps}
    assert steps["torch"].distributed.model_dump() == {
        "kind": "pytorch",
        "node_count": 2,
        "process_count_per_node": 2,
        "parameter_server_count": 0,
        "backend": "nccl",
    }
    assert steps["single"].distributed is None
    run = airflow_python(JOB.replace("DAGS", repr(str(out))), tmp_path / "home", out)
    assert "distributed" not in run["single"].pop("doc")
    assert run["single"] == {"operator": "AmlPodOperator", "pool_slots": 1, "is_job": False}
    torch = run["torch"]
    assert "distributed (pytorch): 2 nodes x 2 processes" in torch["doc"]
    assert torch["operator"] == "AmlJobOperator" and torch["pool_slots"] == 2
    job, service = torch["job"], torch["service"]
    name = job["metadata"]["name"]
    assert name.startswith("job-torch-") and len(name) + len("-9") <= 63
    assert job["metadata"]["namespace"] == service["metadata"]["namespace"] == "ml-jobs"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 2
    assert spec["backoffLimit"] == 0
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == name and pod["restartPolicy"] == "Never"
    # Each pod is one node of the target's size (Standard_NC6s_v3: 6 vCPU, 112 GiB, 1 V100).
    main = pod["containers"][0]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "Standard_NC6s_v3"}
    assert main["command"] == [
        "python",
        "/amlcompile/lib/amlcompile_launch.py",
        "--",
        "python",
        "train.py",
    ]
    assert main["args"] == ["--epochs", "3"]
    env = {e["name"]: e.get("value") for e in main["env"]}
    launch = json.loads(env["AMLCOMPILE_DISTRIBUTED"])
    assert launch == {
        "kind": "pytorch",
        "node_count": 2,
        "process_count_per_node": 2,
        "backend": "nccl",
        "master_addr": f"{name}-0.{name}",
        "master_port": 29500,
    }
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"job-name": name}
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["metadata"]["name"] == name

    tf = run["tf"]
    assert tf["pool_slots"] == 3 and tf["job"]["spec"]["completions"] == 3
    tf_name = tf["job"]["metadata"]["name"]
    tf_env = {
        e["name"]: e.get("value")
        for e in tf["job"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    tf_launch = json.loads(tf_env["AMLCOMPILE_DISTRIBUTED"])
    assert tf_launch["tf_addresses"] == [f"{tf_name}-{i}.{tf_name}:2222" for i in range(3)]
    assert tf_launch["parameter_server_count"] == 1
    assert {p["port"] for p in tf["service"]["spec"]["ports"]} == {29500, 2222}

    lifecycle = run["lifecycle"]
    assert [c[0] for c in lifecycle] == ["create", "job", "delete", "raised"]
    job = lifecycle[0][2]
    assert lifecycle[1][1] == job[len("job-") :]  # the provider puts "job-" in front
    assert lifecycle[2] == ["delete", "ml-jobs", job]
