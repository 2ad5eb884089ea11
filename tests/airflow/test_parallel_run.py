"""ParallelRunStep in the real embedded Airflow: mini-batches as mapped tasks, append_row in
batch order, error_threshold, and reuse per mini-batch (adding 5 files to 100 runs one
batch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from amlcompile.compiler import check
from amlcompile.local_run import run_compiled

PIPELINE = """\
from azureml.core import Workspace, Dataset, Environment
from azureml.pipeline.core import Pipeline, PipelineData
from azureml.pipeline.steps import ParallelRunStep, ParallelRunConfig

ws = Workspace.from_config()
ds = ws.get_default_datastore()
files = Dataset.File.from_files(path=(ds, "inputs/files"))
out = PipelineData("scores", datastore=ds)
config = ParallelRunConfig(
    source_directory="scripts",
    entry_script="score.py",
    mini_batch_size=MINI_BATCH,
    error_threshold=THRESHOLD,
    output_action="append_row",
    environment=Environment("prs"),
    compute_target="local",
    node_count=1,
    process_count_per_node=2,
    run_max_try=RUN_MAX_TRY,
)
step = ParallelRunStep(
    name="score",
    parallel_run_config=config,
    inputs=[files.as_named_input("files")],
    output=out,
    arguments=["--factor", 3],
)
prs = Pipeline(ws, steps=[step])
"""

SCORE = """\
import argparse, os

def init():
    global factor
    with open(os.environ["RUN_LOG"], "a") as fh:
        fh.write("init\\n")
    parser = argparse.ArgumentParser()
    parser.add_argument("--factor", type=int)
    factor = parser.parse_known_args()[0].factor

def run(mini_batch):
    with open(os.environ["RUN_LOG"], "a") as fh:
        fh.write(f"{len(mini_batch)}\\n")
    rows = []
    for path in mini_batch:
        value = int(open(path).read())
        if value in BAD:
            raise ValueError(f"bad value {value}")
        rows.append(f"{os.path.basename(path)} {value * factor}")
    return rows
"""


def write(project, mini_batch=10, threshold=-1, bad=(), run_max_try=3, count=100):
    project.write(
        "pipe.py",
        PIPELINE.replace("MINI_BATCH", repr(mini_batch))
        .replace("THRESHOLD", repr(threshold))
        .replace("RUN_MAX_TRY", repr(run_max_try)),
    )
    project.write("scripts/score.py", SCORE.replace("BAD", repr(set(bad) or {-1})))
    for i in range(count):
        project.write(
            f".amlcompile/datastores/workspaceblobstore/inputs/files/f{i:04d}.txt", f"{i}"
        )


def run(project, monkeypatch, conf=None):
    log = project.root / "run.log"
    log.write_text("")
    monkeypatch.setenv("RUN_LOG", str(log))
    (compiled,) = check([project.root / "pipe.py"])
    result = run_compiled(
        compiled, conf or {}, force_local=True, airflow_home=project.root / "home"
    )
    words = log.read_text().split()
    run.inits = words.count("init")  # processes started (init() once each)
    return result, [int(x) for x in words if x != "init"]


def output_rows(result) -> list[str]:
    states = {s["task_id"]: s for s in result.steps}
    assert "score" in states, states
    folder = ((states["score"].get("result") or {}).get("outputs") or {}).get("scores")
    assert folder, states["score"]
    return (Path(folder) / "parallel_run_step.txt").read_text().splitlines()


@pytest.mark.airflow
def test_append_row_and_reuse_per_mini_batch(project, monkeypatch):
    write(project)
    result, calls = run(project, monkeypatch)
    assert result.succeeded, result.log_file.read_text()[-4000:]
    assert calls == [10] * 10
    assert run.inits == 2  # node_count 1 × process_count_per_node 2: two processes
    rows = output_rows(result)
    assert rows == [f"f{i:04d}.txt {i * 3}" for i in range(100)]
    # Unchanged: the planner reuses the whole step.
    result, calls = run(project, monkeypatch)
    assert result.succeeded and calls == []
    # Five files more: one mini-batch of five runs; the other ten batches are reused.
    for i in range(100, 105):
        project.write(
            f".amlcompile/datastores/workspaceblobstore/inputs/files/f{i:04d}.txt", f"{i}"
        )
    result, calls = run(project, monkeypatch)
    assert result.succeeded, result.log_file.read_text()[-4000:]
    assert calls == [5] and run.inits == 1
    assert output_rows(result) == [f"f{i:04d}.txt {i * 3}" for i in range(105)]


@pytest.mark.airflow
def test_failing_mini_batch_under_then_over_error_threshold(project, monkeypatch):
    # Batch 0 (files 0-9) fails: run() raises on value 5, twice (run_max_try=2).
    write(project, count=30, bad=(5,), threshold=10, run_max_try=2)
    result, calls = run(project, monkeypatch)
    assert result.succeeded, result.log_file.read_text()[-4000:]
    assert sorted(calls) == [10] * 4  # 3 batches, the failing one tried twice
    assert output_rows(result) == [f"f{i:04d}.txt {i * 3}" for i in range(10, 30)]
    # The step had failures: its result is not reused; the good batches are.
    write(project, count=30, bad=(5,), threshold=5, run_max_try=2)
    result, calls = run(project, monkeypatch)
    assert not result.succeeded
    assert calls == [10, 10]  # only the failing batch, twice
    states = {s["task_id"]: s for s in result.steps}
    error = "\n".join(states["score"].get("error") or [])
    assert "10 files failed, more than error_threshold=5" in error, states["score"]
    assert "mini-batch 0 (f0000.txt .. f0009.txt)" in error and "bad value 5" in error


SUMMARY = """\
from azureml.core import Workspace, Dataset, Environment
from azureml.data.data_reference import DataReference
from azureml.data.dataset_consumption_config import DatasetConsumptionConfig
from azureml.pipeline.core import Pipeline, PipelineData, PipelineParameter
from azureml.pipeline.steps import ParallelRunStep, ParallelRunConfig

ws = Workspace.from_config()
ds = ws.get_default_datastore()
files = Dataset.File.from_files(path=(ds, "inputs/files"))
data = PipelineParameter("data", default_value=files)
model = DataReference(ds, "model", "inputs/model.txt")
out = PipelineData("scored", datastore=ds)
config = ParallelRunConfig(
    source_directory="scripts",
    entry_script="score.py",
    mini_batch_size=PipelineParameter("batch_size", "3"),
    error_threshold=-1,
    output_action="summary_only",
    environment=Environment("prs"),
    compute_target="local",
    node_count=1,
    process_count_per_node=PipelineParameter("procs", 1),
)
step = ParallelRunStep(
    name="score",
    parallel_run_config=config,
    inputs=[DatasetConsumptionConfig("files", data)],
    side_inputs=[model],
    output=out,
    arguments=["--model", model],
)
prs = Pipeline(ws, steps=[step])
"""

SUMMARY_SCORE = """\
import argparse, os
from azureml_user.parallel_run import EntryScript

def init():
    global weight, out
    with open(os.environ["RUN_LOG"], "a") as fh:
        fh.write("init\\n")
    args = argparse.ArgumentParser()
    args.add_argument("--model")
    weight = int(open(args.parse_known_args()[0].model).read())
    out = EntryScript().output_dir

def run(mini_batch):
    with open(os.environ["RUN_LOG"], "a") as fh:
        fh.write(f"{len(mini_batch)}\\n")
    for path in mini_batch:
        name = os.path.basename(path)
        with open(os.path.join(out, name), "w") as fh:
            fh.write(str(int(open(path).read()) * weight))
    return mini_batch
"""


@pytest.mark.airflow
def test_summary_only_side_input_and_parameters_at_trigger(project, monkeypatch):
    project.write("pipe.py", SUMMARY)
    project.write("scripts/score.py", SUMMARY_SCORE)
    store = ".amlcompile/datastores/workspaceblobstore/inputs"
    project.write(f"{store}/model.txt", "7")
    for i in range(7):
        project.write(f"{store}/files/f{i}.txt", f"{i}")
    for i in range(4):
        project.write(f"{store}/other/g{i}.txt", f"{10 + i}")
    result, calls = run(project, monkeypatch)
    assert result.succeeded, result.log_file.read_text()[-4000:]
    assert sorted(calls) == [1, 3, 3]  # mini_batch_size "3" (a parameter's default)
    assert run.inits == 1  # process_count_per_node 1: one process for the three batches
    states = {s["task_id"]: s for s in result.steps}
    folder = Path(states["score"]["result"]["outputs"]["scored"])
    assert {p.name: p.read_text() for p in folder.iterdir()} == {
        f"f{i}.txt": str(i * 7) for i in range(7)
    }
    # Another dataset path and mini_batch_size, chosen at trigger time.
    conf = {"data": "inputs/other", "batch_size": "2", "procs": 2}
    result, calls = run(project, monkeypatch, conf)
    assert result.succeeded, result.log_file.read_text()[-4000:]
    assert calls == [2, 2] and run.inits == 2
    states = {s["task_id"]: s for s in result.steps}
    folder = Path(states["score"]["result"]["outputs"]["scored"])
    assert sorted(p.name for p in folder.iterdir()) == [f"g{i}.txt" for i in range(4)]
    # The side input changed: every batch runs again.
    project.write(f"{store}/model.txt", "8")
    result, calls = run(project, monkeypatch)
    assert result.succeeded and sorted(calls) == [1, 3, 3]


TABULAR = """\
from azureml.core import Workspace, Dataset, Environment
from azureml.pipeline.core import Pipeline, PipelineData
from azureml.pipeline.steps import ParallelRunStep, ParallelRunConfig

ws = Workspace.from_config()
ds = ws.get_default_datastore()
iris = Dataset.Tabular.from_delimited_files(path=(ds, "iris/*.csv"))
out = PipelineData("scores", datastore=ds)
config = ParallelRunConfig(
    source_directory="scripts",
    entry_script="iris_score.py",
    mini_batch_size="60",
    error_threshold=1,
    output_action="append_row",
    environment=Environment("prs"),
    compute_target="local",
    node_count=1,
    process_count_per_node=1,
)
step = ParallelRunStep(
    name="score",
    parallel_run_config=config,
    inputs=[iris.as_named_input("iris")],
    output=out,
)
prs = Pipeline(ws, steps=[step])
"""

IRIS_SCORE = """\
import os

def run(mini_batch):
    with open(os.environ["RUN_LOG"], "a") as fh:
        fh.write(f"{len(mini_batch)}\\n")
    mini_batch = mini_batch[mini_batch["width"] >= 0]  # a bad row: no result, a failed row
    mini_batch["area"] = mini_batch["length"] * mini_batch["width"]
    return mini_batch[["name", "area"]]
"""


@pytest.mark.airflow
def test_tabular_input_split_by_bytes_rows_as_items(project, monkeypatch):
    project.write("pipe.py", TABULAR)
    project.write("scripts/iris_score.py", IRIS_SCORE)
    store = ".amlcompile/datastores/workspaceblobstore/iris"
    project.write(f"{store}/a.csv", "name,length,width\na1,1,2\na2,2,2\n")  # 32 bytes
    project.write(f"{store}/b.csv", "name,length,width\nb1,3,-1\n")  # 1 bad row
    project.write(f"{store}/c.csv", "name,length,width\nc1,4,1\nc2,5,1\nc3,6,1\n")
    result, calls = run(project, monkeypatch)
    assert result.succeeded, result.log_file.read_text()[-4000:]
    # ~60 bytes per mini-batch: a.csv and b.csv together, c.csv alone; run() gets rows.
    assert calls == [3, 3]
    assert output_rows(result) == ["a1 2", "a2 4", "c1 4", "c2 5", "c3 6"]


UPSTREAM = """\
from azureml.core import Workspace, Environment
from azureml.data import OutputFileDatasetConfig
from azureml.pipeline.core import Pipeline, PipelineData
from azureml.pipeline.steps import ParallelRunStep, ParallelRunConfig, PythonScriptStep

ws = Workspace.from_config()
ds = ws.get_default_datastore()
made = OutputFileDatasetConfig("made", destination=None)
make = PythonScriptStep("make.py", name="make", source_directory="scripts",
                        arguments=["--out", made], outputs=[made])
out = PipelineData("scores", datastore=ds)
config = ParallelRunConfig(
    source_directory="scripts", entry_script="score.py", mini_batch_size=4,
    error_threshold=-1, output_action="append_row", environment=Environment("prs"),
    compute_target="local", node_count=1, process_count_per_node=1,
    append_row_file_name="rows.txt",
)
step = ParallelRunStep(name="score", parallel_run_config=config,
                       inputs=[made.as_input("made")], output=out, arguments=["--factor", 3])
prs = Pipeline(ws, steps=[step])
"""

MAKE = """\
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--out")
folder = parser.parse_args().out
for i in range(10):
    with open(os.path.join(folder, f"m{i}.txt"), "w") as fh:
        fh.write(str(i))
"""


@pytest.mark.airflow
def test_an_upstream_steps_output_as_the_input(project, monkeypatch):
    project.write("pipe.py", UPSTREAM)
    project.write("scripts/make.py", MAKE)
    project.write("scripts/score.py", SCORE.replace("BAD", "{-1}"))
    result, calls = run(project, monkeypatch)
    assert result.succeeded, result.log_file.read_text()[-4000:]
    assert calls == [4, 4, 2] and run.inits == 1
    states = {s["task_id"]: s for s in result.steps}
    folder = Path(states["score"]["result"]["outputs"]["scores"])
    assert (folder / "rows.txt").read_text().splitlines() == [
        f"m{i}.txt {i * 3}" for i in range(10)
    ]


@pytest.mark.airflow
def test_allow_reuse_false_runs_every_mini_batch_every_time(project, monkeypatch):
    write(project, count=20)
    text = (project.root / "pipe.py").read_text()
    project.write(
        "pipe.py",
        text.replace('arguments=["--factor", 3],', 'arguments=["--factor", 3], allow_reuse=False,'),
    )
    for _ in range(2):
        result, calls = run(project, monkeypatch)
        assert result.succeeded, result.log_file.read_text()[-4000:]
        assert calls == [10, 10]
        assert output_rows(result) == [f"f{i:04d}.txt {i * 3}" for i in range(20)]


@pytest.mark.airflow
def test_every_mini_batch_reused_when_the_steps_record_is_gone(project, monkeypatch):
    write(project, count=20)
    result, calls = run(project, monkeypatch)
    assert result.succeeded and calls == [10, 10]
    fp = {s["task_id"]: s for s in result.steps}["score"]["fingerprint"]
    record = project.root / f".amlcompile/datastores/workspaceblobstore/azureml/_reuse/{fp}.json"
    record.unlink()  # the planner cannot reuse the step: its tasks run, its mini-batches not
    result, calls = run(project, monkeypatch)
    assert result.succeeded, result.log_file.read_text()[-4000:]
    assert calls == []
    assert output_rows(result) == [f"f{i:04d}.txt {i * 3}" for i in range(20)]
    assert record.exists()
