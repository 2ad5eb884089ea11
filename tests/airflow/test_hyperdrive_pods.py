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
from azureml.train.hyperdrive import HyperDriveConfig, RandomParameterSampling, choice, loguniform

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


def test_a_policy_for_trials_on_amlcompute_is_refused(project):
    from amlcompile.compiler import check, render_files
    from amlcompile.exceptions import BuildError

    project.write("amlcompile.toml", CONFIG)
    project.script("src/train.py")
    project.write(
        "pipe.py",
        PIPELINE.replace(
            'primary_metric_name="acc",',
            'primary_metric_name="acc", policy=MedianStoppingPolicy(),',
        ).replace("import HyperDriveConfig,", "import MedianStoppingPolicy, HyperDriveConfig,"),
    )
    with pytest.raises(BuildError) as info:
        render_files(check([project.root / "pipe.py"]))
    assert "trials on AmlCompute (pods) take no policy yet" in str(info.value)
