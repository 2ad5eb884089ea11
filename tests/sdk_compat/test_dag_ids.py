"""One DAG id per pipeline, whichever way a script reaches it: `Experiment.submit` outside a
build finds the DAG the build named after `publish`, even when the script submits first."""

from __future__ import annotations

from amlcompile import Pipeline, PythonScriptStep, Workspace
from amlcompile.client.dag_ids import deployed_dag_id
from amlcompile.compiler import build

SCRIPT = """\
from azureml.core import Experiment, Workspace
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import PythonScriptStep
ws = Workspace.from_config()
step = PythonScriptStep(name="s", script_name="a.py", source_directory="src")
pipeline1 = Pipeline(workspace=ws, steps=[step])
run = Experiment(ws, "Compare_Models_Exp").submit(pipeline1)
published = pipeline1.publish(name="My_Published_Pipeline")
"""


def test_submit_outside_a_build_uses_the_dag_id_the_build_chose(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("print(1)\n")
    (tmp_path / "pipe.py").write_text(SCRIPT)
    monkeypatch.chdir(tmp_path)
    result = build([tmp_path / "pipe.py"], tmp_path / "dags_out")
    assert [c.pipeline.name for c in result.compiled] == ["My_Published_Pipeline"]

    # The same script run by hand: its pipeline object, made at the same line.
    ws = Workspace.from_config(tmp_path)
    step = PythonScriptStep(name="s", script_name="a.py", source_directory=str(tmp_path / "src"))
    pipeline = Pipeline(workspace=ws, steps=[step])
    pipeline._location = (str(tmp_path / "pipe.py"), 6)
    assert deployed_dag_id(pipeline, "Compare_Models_Exp") == "My_Published_Pipeline"
    # Not built: the rule's fallback (its name, else the experiment's).
    pipeline._location = (str(tmp_path / "pipe.py"), 99)
    assert deployed_dag_id(pipeline, "Compare_Models_Exp") == "Compare_Models_Exp"


ENDPOINTS = """\
from azureml.core import Workspace
from azureml.pipeline.core import Pipeline, PipelineEndpoint
from azureml.pipeline.core.schedule import Schedule, ScheduleRecurrence
from azureml.pipeline.steps import PythonScriptStep
ws = Workspace.from_config()
step = PythonScriptStep(name="s", script_name="a.py", source_directory="src")
published_first = Pipeline(workspace=ws, steps=[step])
published_first.publish(name="Published_First")
endpoint = PipelineEndpoint.publish(workspace=ws, name="ScheduledPipelineEndpoint",
                                    pipeline=published_first, description="d")
fresh = Pipeline(workspace=ws, steps=[PythonScriptStep(name="t", script_name="a.py",
                                                     source_directory="src")])
other = PipelineEndpoint.publish(workspace=ws, name="OnlyEndpoint", pipeline=fresh,
                                 description="d")
found = PipelineEndpoint.get(workspace=ws, name="ScheduledPipelineEndpoint")
Schedule.create_for_pipeline_endpoint(
    workspace=ws, name="nightly", pipeline_endpoint_id=found.id, experiment_name="x",
    recurrence=ScheduleRecurrence(frequency="Day", interval=1, hours=[22], minutes=[30]))
"""


def test_endpoints_of_unnamed_pipelines_name_their_dag_and_can_be_scheduled(tmp_path, monkeypatch):
    """The schedule notebook: an endpoint of a pipeline published under another name is
    that DAG; an endpoint of a pipeline never published names it after the endpoint."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("print(1)\n")
    (tmp_path / "pipe.py").write_text(ENDPOINTS)
    monkeypatch.chdir(tmp_path)
    result = build([tmp_path / "pipe.py"], tmp_path / "dags_out")
    assert sorted(c.pipeline.name for c in result.compiled) == ["OnlyEndpoint", "Published_First"]
    scheduled = next(c.pipeline for c in result.compiled if c.pipeline.name == "Published_First")
    assert scheduled.schedule is not None
