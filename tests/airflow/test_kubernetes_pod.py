"""AmlCompute steps: the provider builds the pod; the Kubernetes schema accepts it."""

from __future__ import annotations

from tests.airflow.conftest import airflow_python

POD = """
import json
import kubernetes_validate
from kubernetes.client import ApiClient
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=DAGS)
assert not bag.import_errors, bag.import_errors
task = bag.dags["on_k8s"].get_task("train")
context = {"params": {"epochs": 7}, "run_id": "manual__2026-01-01T00:00:00+00:00"}
task.arguments = task.bind_arguments(context)
# dry_run: everything but the in-cluster label, which needs a reachable cluster
pod = task.build_pod_request_obj(dry_run=True)
data = ApiClient().sanitize_for_serialization(pod)
version = kubernetes_validate.utils.latest_version()
kubernetes_validate.validate(data, version, strict=True)
print(json.dumps({"pod": data, "type": type(task).__mro__[1].__name__}))
"""


def test_pod_is_built_by_the_provider_and_valid(project, tmp_path):
    project.write(
        "amlcompile.toml",
        """
[compute.aml-compute]
kind = "amlcompute"
vm_size = "STANDARD_NC6"
max_nodes = 4

[kubernetes]
namespace = "ml-jobs"
conn_id = "aks"
""",
    )
    project.script("src/train.py")
    project.write(
        "pipe.py",
        """\
from amlcompile import *
ws = Workspace.from_config()
model = PipelineData("model", datastore=ws.get_default_datastore())
train = PythonScriptStep("train.py", name="train", source_directory="src",
                         compute_target=ws.compute_targets["aml-compute"],
                         arguments=["--epochs", PipelineParameter("epochs", 3), "--out", model,
                                    "{{ not_a_template }}"],
                         outputs=[model], params={"epochs": PipelineParameter("epochs", 3)})
on_k8s = Pipeline(ws, steps=[train])
""",
    )
    from amlcompile.compiler import build

    out = project.root / "dags_out"
    build([project.root / "pipe.py"], out_dir=out)
    result = airflow_python(POD.replace("DAGS", repr(str(out))), tmp_path / "home", out)
    assert result["type"] == "KubernetesPodOperator"
    pod = result["pod"]
    container = pod["spec"]["containers"][0]
    assert pod["metadata"]["namespace"] == "ml-jobs"
    assert container["image"] == "python:3.11-slim"
    assert container["command"] == ["python", "train.py"]
    assert container["args"] == [
        "--epochs",
        "7",
        "--out",
        "/mnt/amlcompile/workspaceblobstore/azureml/on_k8s/manual__2026-01-01T00_00_00_00_00/"
        "train/model",
        "{{ not_a_template }}",
    ]
    assert container["env"] == [{"name": "AML_PARAMETER_epochs", "value": "7"}]
