"""Databricks, ADLA and transfer steps run for real in the embedded Airflow: the provider's
DatabricksSubmitRunOperator against the Jobs API stand-in, the BashOperator against the `az`
stand-in, copies through object storage; then a second run reuses every step."""

from __future__ import annotations

import json

import pytest

from amlcompile.local_run import parse_params, run_compiled, select

pytestmark = pytest.mark.airflow


@pytest.fixture
def databricks_default(databricks_standin, monkeypatch):
    """The stand-in under the provider's default connection id (what the example uses)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(databricks_standin.connection())
    )
    return databricks_standin


def test_mixed_compute_example_runs_end_to_end_then_is_reused(
    examples_project, monkeypatch, databricks_default, fake_az
):
    monkeypatch.chdir(examples_project)
    monkeypatch.setenv("AMLCOMPILE_REUSE_POKE_SECONDS", "1")
    compiled = select(str(examples_project / "examples" / "mixed_compute" / "pipeline.py"))
    # --local: the pod step runs on this machine; the other targets keep their operators.
    result = run_compiled(compiled, parse_params(compiled.pipeline, ["epochs=5"]), force_local=True)
    log = result.log_file.read_text()
    assert result.succeeded, log[-4000:]
    states = {s["task_id"]: s["state"] for s in result.steps}
    assert states == dict.fromkeys(["copy_raw", "prep", "train", "score", "summarize"], "success")
    by_step = {s["task_id"]: s for s in result.steps}
    model = by_step["train"]["result"]["outputs"]["model"]
    assert "epochs=5 rows=3" in open(f"{model}/model.txt").read()

    (job,) = databricks_default.submitted()
    task = job["spark_python_task"]
    snapshot = compiled.pipeline.step("score").snapshot.id
    assert task["python_file"] == f"dbfs:/amlcompile/snapshots/{snapshot}/score.py"
    assert task["parameters"][:2] == ["--epochs", "5"]
    assert task["parameters"][2] == "-model" and task["parameters"][3] == f"file://{model}"
    assert task["parameters"][4] == "-scores"
    assert job["new_cluster"] == {
        "spark_version": "13.3.x-scala2.12",
        "node_type_id": "Standard_DS3_v2",
        "num_workers": "2",  # the provider's normalise_json_content sends numbers as text
    }
    assert job["libraries"] == [{"pypi": {"package": "scikit-learn"}}]
    shipped = databricks_default.dbfs[task["python_file"]]
    assert shipped == (examples_project / "examples/mixed_compute/databricks/score.py").read_bytes()

    submit, *rest = fake_az.calls()
    argv = submit["argv"]
    assert argv[:3] == ["dla", "job", "submit"] and "--account" in argv
    assert argv[argv.index("--account") + 1] == "mladla"
    assert argv[argv.index("--degree-of-parallelism") + 1] == "4"
    script = submit["script_text"]
    assert 'DECLARE @epochs string = "5";' in script
    assert 'DECLARE @threshold string = "0.5";' in script
    assert "DECLARE @scores string = " in script and "DECLARE @report string = " in script
    assert "OUTPUT @rows" in script  # the user's U-SQL follows the declarations
    assert [c["argv"][2] for c in rest] == ["wait", "show"]

    # Nothing changed: the planner skips every step at once, nothing is submitted again.
    again = run_compiled(compiled, parse_params(compiled.pipeline, ["epochs=5"]), force_local=True)
    assert again.succeeded
    states = {s["task_id"]: s["state"] for s in again.steps}
    assert states == dict.fromkeys(["copy_raw", "prep", "train", "score", "summarize"], "skipped")
    assert len(databricks_default.submitted()) == 1
    assert len(fake_az.calls()) == 3


ADLA_PIPELINE = """\
from amlcompile import *
ws = Workspace.from_config()
adla = ComputeTarget.attach(ws, "adla", AdlaCompute.attach_configuration(account_name="acct"))
out = PipelineData("out", datastore=ws.get_default_datastore())
job = AdlaStep("job.usql", name="job", outputs=[out], source_directory="src",
               params={"label": PipelineParameter("label", default_value="x")},
               compute_target=adla)
adla_pipe = Pipeline(ws, steps=[job])
"""

HOSTILE = 'a"; $(touch CANARY) `touch CANARY` ; touch CANARY | x\nDROP TABLE\\'


def test_adla_values_reach_az_as_data_and_a_failed_job_fails_the_task(
    project, monkeypatch, fake_az, tmp_path
):
    project.write("src/job.usql", "@x = SELECT * FROM @label;\n")
    project.write("pipe.py", ADLA_PIPELINE)
    canary = tmp_path / "CANARY"
    monkeypatch.chdir(tmp_path)  # a spliced `touch CANARY` would land here
    compiled = select(str(project.root / "pipe.py"))
    value = HOSTILE.replace("CANARY", str(canary))
    result = run_compiled(compiled, parse_params(compiled.pipeline, [f"label={value}"]))
    assert result.succeeded, result.log_file.read_text()[-3000:]
    assert not canary.exists()
    submit = fake_az.calls()[0]
    # The value is one U-SQL string literal, escaped; it never touched the shell text.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    assert f'DECLARE @label string = "{escaped}";' in submit["script_text"]
    assert submit["env"]["AML_ADLA_ACCOUNT"] == "acct"

    fake_az.set_result("Failed")
    failed = run_compiled(compiled, parse_params(compiled.pipeline, ["label=other"]))
    assert not failed.succeeded
    states = {s["task_id"]: s["state"] for s in failed.steps}
    assert states["job"] == "failed"
    assert "finished: Failed" in failed.log_file.read_text()


DATABRICKS_PIPELINE = """\
from amlcompile import *
ws = Workspace.from_config()
dbx = ComputeTarget.attach(ws, "dbx", DatabricksCompute.attach_configuration(
    workspace_name="w"))
out = PipelineData("out", datastore=ws.get_default_datastore())
nb = DatabricksStep("nb", outputs=[out], notebook_path="/Shared/train",
                    notebook_params={"alpha": PipelineParameter("alpha", default_value=0.5),
                                     "raw": "{{ ds }}"},
                    existing_cluster_id="0101-abc", run_name="nightly", timeout_seconds=300,
                    compute_target=dbx)
db_pipe = Pipeline(ws, steps=[nb])
"""


def test_databricks_notebook_success_then_failure_leaves_no_record(
    project, monkeypatch, databricks_standin
):
    project.write(
        "amlcompile.toml", '[compute.dbx]\nkind = "databricks"\nconn_id = "databricks_standin"\n'
    )
    project.write("pipe.py", DATABRICKS_PIPELINE)
    monkeypatch.chdir(project.root)
    compiled = select(str(project.root / "pipe.py"))
    result = run_compiled(compiled, parse_params(compiled.pipeline, ["alpha=0.25"]))
    assert result.succeeded, result.log_file.read_text()[-3000:]
    (job,) = databricks_standin.submitted()
    assert job["existing_cluster_id"] == "0101-abc"
    assert job["run_name"] == "nightly" and job["timeout_seconds"] == "300"
    params = job["notebook_task"]["base_parameters"]
    assert params["alpha"] == "0.25" and params["raw"] == "{{ ds }}"  # never templated
    assert params["out"].startswith("file://") and "/azureml/fp/" in params["out"]

    databricks_standin.set_result("FAILED")
    failed = run_compiled(compiled, parse_params(compiled.pipeline, ["alpha=0.75"]))
    assert not failed.succeeded
    assert {s["task_id"]: s["state"] for s in failed.steps}["nb"] == "failed"
    records = list((project.root / ".amlcompile").rglob("azureml/_reuse/*.json"))
    assert len(records) == 1  # only the successful run's fingerprint became reusable


DBFS_PIPELINE = """\
from azureml.core import Datastore, Workspace
from azureml.core.compute import ComputeTarget, DatabricksCompute
from azureml.data.data_reference import DataReference
from azureml.pipeline.core import Pipeline, PipelineData
from azureml.pipeline.steps import DatabricksStep

ws = Workspace.from_config()
dbx = ComputeTarget.attach(ws, "dbx", DatabricksCompute.attach_configuration(
    workspace_name="w"))
try:
    dbfs_ds = Datastore.get(workspace=ws, datastore_name="dbfs_datastore")
except Exception:
    dbfs_ds = Datastore.register_dbfs(ws, datastore_name="dbfs_datastore")
step_1_input = DataReference(datastore=dbfs_ds, path_on_datastore="FileStore",
                             data_reference_name="input")
step_1_output = PipelineData("output", datastore=dbfs_ds)
nb = DatabricksStep(name="DBFSReferenceWithExisting", inputs=[step_1_input],
                    outputs=[step_1_output], notebook_path="/Shared/nb",
                    notebook_params={"myparam": "testparam"}, run_name="dbfs",
                    compute_target=dbx, existing_cluster_id="0101-abc", allow_reuse=True)
pipeline = Pipeline(workspace=ws, steps=[nb])
"""


def test_dbfs_datastore_in_and_out_of_a_databricks_step_then_reuse_by_dbfs_version(
    project, monkeypatch, databricks_standin
):
    """The Databricks notebook sample's DBFS pipeline, unmodified: the job gets `dbfs:/`
    URIs, the reuse record lives on DBFS, a rerun is reused, a changed input reruns."""
    project.write(
        "amlcompile.toml",
        '[compute.dbx]\nkind = "databricks"\nconn_id = "databricks_standin"\n'
        '[datastores.dbfs_datastore]\nkind = "dbfs"\nconn_id = "databricks_standin"\n',
    )
    project.write("pipe.py", DBFS_PIPELINE)
    databricks_standin.dbfs["/FileStore/data.csv"] = b"a,b\n1,2\n"  # data already on DBFS
    databricks_standin._mkdirs("/FileStore")
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("AMLCOMPILE_REUSE_POKE_SECONDS", "1")
    compiled = select(str(project.root / "pipe.py"))
    result = run_compiled(compiled, parse_params(compiled.pipeline, []))
    assert result.succeeded, result.log_file.read_text()[-3000:]
    (job,) = databricks_standin.submitted()
    params = job["notebook_task"]["base_parameters"]
    assert params["input"] == "dbfs:/FileStore"
    assert params["output"].startswith("dbfs:/azureml/fp/")
    records = [k for k in databricks_standin.dbfs if k.startswith("/azureml/_reuse/")]
    assert len(records) == 1, sorted(databricks_standin.dbfs)

    again = run_compiled(compiled, parse_params(compiled.pipeline, []))
    assert again.succeeded, again.log_file.read_text()[-3000:]
    assert len(databricks_standin.submitted()) == 1, again.log_file.read_text()[-6000:]

    databricks_standin._put_file("/FileStore/data.csv", b"a,b\n3,4\n")  # someone changes it
    third = run_compiled(compiled, parse_params(compiled.pipeline, []))
    assert third.succeeded, third.log_file.read_text()[-3000:]
    assert len(databricks_standin.submitted()) == 2
