"""`amlcompile run` of step scripts written for SDK v1, unmodified: `from azureml.core import
Run` on the worker (the runtime's step library; nothing of azureml is installed)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import amlcompile_cli

RUN_PIPELINE = """\
from azureml.core import Workspace, Experiment
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
step = PythonScriptStep("score.py", name="score", source_directory="src", arguments=["--k", 3])
pipeline = Pipeline(ws, steps=[step])
"""

SCORE = """\
import argparse
import azureml
from azureml.core import Run, Workspace
from azureml.core.run import Run as SameRun

assert "/steplib/azureml/" in azureml.__file__, azureml.__file__
p = argparse.ArgumentParser()
p.add_argument("--k", type=int)
k = p.parse_args().k
run = Run.get_context()
run.log("score", k * 0.25)
SameRun.get_context().parent.log("best", 0.75)
run.tag("kind", "sdk")
if k > 5:
    Workspace.from_config()  # used: fails here, with the name and what to do
"""


@pytest.mark.airflow
def test_unmodified_step_script_logs_through_azureml_core_run(project):
    assert importlib.util.find_spec("azureml") is None  # nothing of the SDK is installed
    project.write("src/score.py", SCORE)
    project.write("pipe.py", RUN_PIPELINE)
    proc = amlcompile_cli("run", "pipe.py", cwd=project.root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "metric score: 0.75" in proc.stdout
    assert "parent metric best: 0.75" in proc.stdout
    assert "tag kind: sdk" in proc.stdout
