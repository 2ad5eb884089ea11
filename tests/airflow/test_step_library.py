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


TABULAR_PIPELINE = """\
from azureml.core import Workspace, Dataset
from azureml.data.dataset_type_definitions import PromoteHeadersBehavior
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
ds = ws.get_default_datastore()
ds.upload(src_dir="data", target_path="tables", overwrite=True)
sales = Dataset.Tabular.from_delimited_files(
    path=[(ds, "tables/jan.csv"), (ds, "tables/feb.csv")], separator=";"
)
prices = Dataset.Tabular.from_delimited_files((ds, "tables/prices.tsv"), separator="\\t",
                                              header=False)
step = PythonScriptStep(
    "total.py", name="total", source_directory="src",
    inputs=[sales.as_named_input("sales"),
            prices.keep_columns(["Column2"]).as_named_input("prices")],
)
pipeline = Pipeline(ws, steps=[step])
"""

TOTAL = """\
from azureml.core import Run
run = Run.get_context()
sales = run.input_datasets["sales"].to_pandas_dataframe()
prices = run.input_datasets["prices"].to_pandas_dataframe()
run.log("rows", len(sales))
run.log("units", int(sales["units"].sum()))
run.log("top", str(sales.sort_values("units").iloc[-1]["item"]))
run.log("prices", list(prices.columns) + [float(prices["Column2"].sum())])
run.log("first_two", int(run.input_datasets["sales"].take(2).to_pandas_dataframe()["units"].sum()))
"""


@pytest.mark.airflow
def test_tabular_csv_input_read_with_to_pandas_dataframe(project):
    project.write("data/jan.csv", "item;units\napple;3\npear;4\n")
    project.write("data/feb.csv", "item;units\nplum;10\n")
    project.write("data/prices.tsv", "apple\t1.5\npear\t2\n")
    project.write("src/total.py", TOTAL)
    project.write("pipe.py", TABULAR_PIPELINE)
    proc = amlcompile_cli("run", "pipe.py", cwd=project.root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "metric rows: 3" in proc.stdout
    assert "metric units: 17" in proc.stdout
    assert "metric top: plum" in proc.stdout
    assert 'metric prices: ["Column2", 3.5]' in proc.stdout
    assert "metric first_two: 7" in proc.stdout
