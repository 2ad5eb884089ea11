"""HyperDriveStep trials on AmlCompute: one pod per trial, built by the provider from the
mapped task's arguments and the trial, valid against the Kubernetes schema (no cluster)."""

from __future__ import annotations

import pytest

from tests.airflow.conftest import airflow_python

pytestmark = pytest.mark.airflow

CONFIG = """
[compute.gpu]
kind = "amlcompute"
vm_size = "standard_nc6s_v3"
max_nodes = 4

[kubernetes]
namespace = "ml-jobs"
conn_id = "aks"
"""

PIPELINE = """\
from azureml.core import Workspace, ScriptRunConfig
from azureml.pipeline.core import Pipeline, PipelineData, TrainingOutput
from azureml.pipeline.steps import HyperDriveStep
from azureml.train.hyperdrive import (
    BanditPolicy, HyperDriveConfig, RandomParameterSampling, choice, loguniform,
)

ws = Workspace.from_config()
model = PipelineData("model", datastore=ws.get_default_datastore(),
                     training_output=TrainingOutput("Model"))
src = ScriptRunConfig(source_directory="src", script="train.py", arguments=["--epochs", 3],
                      compute_target=ws.compute_targets["gpu"])
space = RandomParameterSampling({"--lr": loguniform(-6, -1), "--batch": choice(16, 32)},
                                properties={"seed": 3})
config = HyperDriveConfig(run_config=src, hyperparameter_sampling=space, primary_metric_name="acc",
                          primary_metric_goal="MAXIMIZE", max_total_runs=4, max_concurrent_runs=2)
tune = HyperDriveStep(name="tune", hyperdrive_config=config, outputs=[model])
on_k8s = Pipeline(ws, steps=[tune])
"""

POD = """
import json
import kubernetes_validate
from kubernetes.client import ApiClient
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
bag = DagBag(dag_folder=DAGS)
assert not bag.import_errors, bag.import_errors
mapped = bag.dags["on_k8s"].get_task("tune__trial")
kwargs = {k: v for k, v in mapped.partial_kwargs.items() if k != "task_id"}
trial = {"index": 1, "hyperparameters": [["--lr", 0.01], ["--batch", 32]]}
task = mapped.operator_class(task_id="tune__trial", trial=trial, **kwargs)
plan = {"tune": {"fingerprint": "f" * 64, "trial_base": "b" * 64}}
context = {"params": {}, "run_id": "manual__2026-01-01T00:00:00+00:00"}
entry = task.plan_entry(plan)
task.bind(context, plan, entry["fingerprint"])
pod = task.build_pod_request_obj(dry_run=True)
data = ApiClient().sanitize_for_serialization(pod)
kubernetes_validate.validate(data, kubernetes_validate.utils.latest_version(), strict=True)
print(json.dumps({"pod": data, "is_kpo": isinstance(task, KubernetesPodOperator),
                  "pool": task.pool, "limit": mapped.partial_kwargs["max_active_tis_per_dagrun"],
                  "fp": entry["fingerprint"], "name": task.step["name"],
                  "outputs": [o["name"] for o in task.step["outputs"]]}))
"""


def test_a_trial_is_a_pod_with_its_hyperparameters(project, tmp_path):
    from amlcompile.compiler import build
    from amlcompile.runtime.hyperdrive import trial_fingerprint

    project.write("amlcompile.toml", CONFIG)
    project.script("src/train.py")
    project.write("pipe.py", PIPELINE)
    out = project.root / "dags_out"
    assert build([project.root / "pipe.py"], out_dir=out).compiled
    run = airflow_python(POD.replace("DAGS", repr(str(out))), tmp_path / "home", out)
    assert run["is_kpo"] and run["pool"] == "amlcompile-gpu" and run["limit"] == 2
    assert run["name"] == "tune" and run["outputs"] == ["run_outputs"]
    assert run["fp"] == trial_fingerprint("b" * 64, [["--lr", 0.01], ["--batch", 32]])
    spec = run["pod"]["spec"]
    main = spec["containers"][0]
    assert main["command"] == ["python", "train.py"]
    # The script's own arguments, then the trial's hyperparameters (as Azure ML passes them).
    assert main["args"] == ["--epochs", "3", "--lr", "0.01", "--batch", "32"]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == "1"
    env = {e["name"]: e["value"] for e in main["env"]}
    assert env["AMLCOMPILE_METRICS_FILE"].endswith("/tune/trial_1.jsonl")
    link = next(c for c in spec["initContainers"] if c["name"] == "amlcompile-outputs")
    assert link["command"][-2].endswith(f"/azureml/fp/{run['fp']}/run_outputs")
    assert link["command"][-1] == "/amlcompile/code/outputs"


STOP = """
import json, threading, time
from pathlib import Path
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
bag = DagBag(dag_folder=DAGS)
assert not bag.import_errors, bag.import_errors
mapped = bag.dags["on_k8s"].get_task("tune__trial")
kwargs = {k: v for k, v in mapped.partial_kwargs.items() if k != "task_id"}
trial = {"index": 1, "hyperparameters": [["--lr", 0.01], ["--batch", 32]]}
task = mapped.operator_class(task_id="tune__trial", trial=trial, **kwargs)
task.ship_snapshot = lambda: None
plan = {"tune": {"fingerprint": "f" * 64, "trial_base": "b" * 64}}
context = {"params": {}, "run_id": "manual__1"}
mine = Path(task.worker_location(task.metrics_ref(context)))
mine.parent.mkdir(parents=True, exist_ok=True)
# trial 0 ran before: 0.9 at its first interval
(mine.parent / "trial_0.jsonl").write_text(
    json.dumps({"scope": "step", "kind": "metric", "name": "acc", "value": 0.9}) + "\\n")
killed = threading.Event()
task.on_kill = killed.set

def pod(self, context):  # the pod logs 0.2 and runs on until it is deleted
    with open(mine, "a") as fh:
        fh.write(json.dumps({"scope": "step", "kind": "metric", "name": "acc", "value": 0.2}))
        fh.write("\\n")
    if not killed.wait(10):
        return None
    raise RuntimeError("pod deleted")

KubernetesPodOperator.execute = pod
try:
    task._run_pod(context, plan, {}, "f" * 64)
    outcome = "completed"
except RuntimeError as exc:
    outcome = str(exc)
status = json.loads((mine.parent / "trial_1.status.json").read_text())
print(json.dumps({"outcome": outcome, "killed": killed.is_set(), "stopped": task._stopped,
                  "status": status["status"]}))
"""


def test_a_trial_pod_is_deleted_when_the_policy_stops_it(project, tmp_path):
    """The pod's metrics file on the (shared) record datastore is watched by the task; the
    Kubernetes call is stood in for (no cluster here): the pod logs a bad first value, and
    the task deletes it (on_kill) and records why."""
    from amlcompile.compiler import build

    project.write("amlcompile.toml", CONFIG)
    project.script("src/train.py")
    project.write("pipe.py", PIPELINE.replace("max_total_runs=4,", POLICY))
    out = project.root / "dags_out"
    assert build([project.root / "pipe.py"], out_dir=out).compiled
    run = airflow_python(STOP.replace("DAGS", repr(str(out))), tmp_path / "home", out)
    assert run["outcome"] == "pod deleted" and run["killed"]
    assert run["status"] == "early_terminated" and "bandit policy" in run["stopped"]


POLICY = "max_total_runs=4, policy=BanditPolicy(slack_factor=0.1),"


def test_a_policy_for_trials_in_pods_on_a_blob_datastore_is_refused(project):
    from amlcompile.compiler import check, render_files
    from amlcompile.exceptions import BuildError

    project.write(
        "amlcompile.toml",
        CONFIG
        + """
[datastores.workspaceblobstore]
kind = "azure_blob"
path = "models"
conn_id = "wasb_default"
k8s_secret_name = "blob-credentials"
""",
    )
    project.script("src/train.py")
    project.write("pipe.py", PIPELINE.replace("max_total_runs=4,", POLICY))
    with pytest.raises(BuildError) as info:
        render_files(check([project.root / "pipe.py"]))
    assert "metrics on a local (shared) datastore" in str(info.value)
