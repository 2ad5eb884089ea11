"""AmlCompute steps: the provider builds the pod; the Kubernetes schema accepts it."""

from __future__ import annotations

import json

import pytest

from tests.airflow.conftest import airflow_python

pytestmark = pytest.mark.airflow

POD = """
import json
import kubernetes_validate
from kubernetes.client import ApiClient
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
bag = DagBag(dag_folder=DAGS)
assert not bag.import_errors, bag.import_errors
task = bag.dags["on_k8s"].get_task("train")
context = {"params": {"epochs": 7}, "run_id": "manual__2026-01-01T00:00:00+00:00"}
plan = {"train": {"fingerprint": "f" * 64}}
task.bind(context, plan, "f" * 64)
# dry_run: everything but the in-cluster label, which needs a reachable cluster
pod = task.build_pod_request_obj(dry_run=True)
data = ApiClient().sanitize_for_serialization(pod)
version = kubernetes_validate.utils.latest_version()
kubernetes_validate.validate(data, version, strict=True)
print(json.dumps({"pod": data, "is_kpo": isinstance(task, KubernetesPodOperator),
                  "pool": task.pool}))
"""

CONFIG = """
[compute.aml-compute]
kind = "amlcompute"
vm_size = "standard_nc12s_v3"
max_nodes = 4

[kubernetes]
namespace = "ml-jobs"
conn_id = "aks"

[datastores.lake]
kind = "adls_gen2"
path = "CONTAINER"
conn_id = "azurite"
account_name = "mylake"
k8s_secret_name = "lake-credentials"
"""

PIPELINE = """\
from amlcompile import *
ws = Workspace.from_config()
model = PipelineData("model", datastore=ws.get_default_datastore())
table = DataReference(Datastore(ws, "lake"), data_reference_name="table",
                      path_on_datastore="tables/t1", mode="download")
ws.get_default_datastore().upload_files(["cfg.txt"], target_path="conf")
cfg = DataReference(ws.get_default_datastore(), data_reference_name="cfg",
                    path_on_datastore="conf/cfg.txt").as_download()
train = PythonScriptStep("train.py", name="train", source_directory="src",
                         compute_target=ws.compute_targets["aml-compute"],
                         arguments=["--epochs", PipelineParameter("epochs", 3), "--out", model,
                                    "--table", table, "--cfg", cfg, "{{ not_a_template }}"],
                         outputs=[model], params={"epochs": PipelineParameter("epochs", 3)})
on_k8s = Pipeline(ws, steps=[train])
"""


def test_pod_is_built_by_the_provider_and_valid(project, tmp_path, azurite):
    container = azurite.create_container()
    # A folder on the lake (Azurite): the download-mode input is staged as a directory.
    azurite.service_client().get_blob_client(container, "tables/t1/part-0.csv").upload_blob(
        b"a,b\n"
    )
    project.write("amlcompile.toml", CONFIG.replace("CONTAINER", container))
    project.script("src/train.py")
    project.write("cfg.txt", "x=1\n")
    project.write("pipe.py", PIPELINE)
    from amlcompile.compiler import build

    out = project.root / "dags_out"
    result = build([project.root / "pipe.py"], out_dir=out)
    store = project.root / ".amlcompile" / "datastores" / "workspaceblobstore"
    (store / "conf").mkdir(parents=True)
    (store / "conf" / "cfg.txt").write_text("x=1\n")
    assert result.compiled
    run = airflow_python(POD.replace("DAGS", repr(str(out))), tmp_path / "home", out)
    assert run["is_kpo"] and run["pool"] == "amlcompile-aml-compute"
    pod = run["pod"]
    spec = pod["spec"]
    main = spec["containers"][0]
    assert pod["metadata"]["namespace"] == "ml-jobs"
    assert main["image"] == "python:3.11-slim"
    assert main["command"] == ["python", "train.py"]
    assert main["workingDir"] == "/amlcompile/code"
    # One node of Standard_NC12s_v3 (12 vCPU, 224 GiB, 2 V100) less the node's reserve.
    assert main["resources"] == {
        "requests": {"cpu": "10800m", "memory": "183500Mi", "nvidia.com/gpu": "2"},
        "limits": {"memory": "183500Mi", "nvidia.com/gpu": "2"},
    }
    assert spec["nodeSelector"] == {"node.kubernetes.io/instance-type": "Standard_NC12s_v3"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    volumes = {v["name"]: v for v in spec["volumes"]}
    lake = next(v for v in volumes.values() if "lake" in v["name"])
    assert lake["csi"] == {
        "driver": "blob.csi.azure.com",
        "volumeAttributes": {
            "containerName": container,
            "secretName": "lake-credentials",
            "isHnsEnabled": "true",
        },
    }
    blob = next(v for v in volumes.values() if "workspaceblobstore" in v["name"])
    assert blob["persistentVolumeClaim"] == {"claimName": "amlcompile-workspaceblobstore"}
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    lake_mount, blob_mount = mounts[lake["name"]], mounts[blob["name"]]
    fp = "f" * 64
    assert main["args"] == [
        "--epochs",
        "7",
        "--out",
        f"{blob_mount}/azureml/fp/{fp}/model",
        "--table",
        "/amlcompile/inputs/table",
        "--cfg",
        "/amlcompile/inputs/cfg/cfg.txt",
        "{{ not_a_template }}",
    ]
    env = {e["name"]: e["value"] for e in main["env"]}
    assert env["AML_PARAMETER_epochs"] == "7"
    # Run.get_context() in the pod: the step-side library, a metrics file on the datastore.
    assert env["PYTHONPATH"] == "/amlcompile/lib"
    assert env["AMLCOMPILE_METRICS_FILE"].startswith(f"{blob_mount}/azureml/metrics/on_k8s/")
    assert json.loads(env["AMLCOMPILE_INPUT_DATASETS"]) == {
        "table": "/amlcompile/inputs/table",
        "cfg": "/amlcompile/inputs/cfg/cfg.txt",
    }
    (stage,) = spec["initContainers"]
    command = stage["command"]
    assert command[:2] == ["sh", "-c"] and command[3] == "stage"
    pairs = list(zip(command[4::2], command[5::2], strict=True))
    snapshot = next(src for src, dst in pairs if dst == "/amlcompile/code")
    assert snapshot.startswith(f"{blob_mount}/azureml/snapshots/")
    assert (f"{lake_mount}/tables/t1", "/amlcompile/inputs/table") in pairs
    assert (f"{blob_mount}/conf/cfg.txt", "/amlcompile/inputs/cfg") in pairs
    assert ("", f"{blob_mount}/azureml/fp/{fp}/model") in pairs
    steplib = next(src for src, dst in pairs if dst == "/amlcompile/lib")
    assert steplib.startswith(f"{blob_mount}/azureml/steplib/runtime_")
