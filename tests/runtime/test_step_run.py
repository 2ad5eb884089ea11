"""`amlcompile_run.Run` (the step-side Run.get_context()) in a real step-like subprocess: only
the steplib folder on PYTHONPATH, nothing of amlcompile importable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from amlcompile.runtime.metrics import STEPLIB, collect, step_env
from amlcompile.runtime.steplib.amlcompile_run import summarize

SCRIPT = """
import importlib.util, sys
assert importlib.util.find_spec("amlcompile") is None, "amlcompile must not be importable"
from amlcompile_run import Run
run = Run.get_context()
print(run.input_datasets)
run.log("loss", 0.5)
run.log("loss", 0.25)
run.log("loss", 0.125)
run.log_metric("auc", 0.9)
run.log_list("sizes", [1, 2, 3])
run.log_row("curve", epoch=1, acc=0.5)
run.log_row("curve", epoch=2, acc=0.75)
run.log_table("confusion", {"tp": [3], "fp": [1]})
run.tag("stage", "train")
run.set_tags({"owner": "ana"})
run.parent.log("best", 0.9)
run.parent.tag("winner", "train")
print(run.get_metrics()["loss"], run.get_tags(), run.experiment.name, run.id)
"""


def run_step(tmp_path: Path, env: dict, code: str = SCRIPT) -> subprocess.CompletedProcess:
    """`python -S`: no site-packages, so amlcompile is not importable, as on a worker where
    only the runtime folder travels; PYTHONPATH (from step_env) still applies."""
    script = tmp_path / "step.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, "-S", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_step_run_logs_to_the_metrics_file(tmp_path):
    metrics_file = tmp_path / "metrics.jsonl"
    base = {
        "PATH": os.environ.get("PATH", ""),
        "AZUREML_RUN_ID": "manual__1/train",
        "AMLCOMPILE_DAG_ID": "iris",
    }
    env = step_env(base, {"raw": str(tmp_path / "raw")}, metrics_file)
    proc = run_step(tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == str({"raw": str(tmp_path / "raw")})
    assert lines[1] == "[0.5, 0.25, 0.125] {'stage': 'train', 'owner': 'ana'} iris manual__1/train"
    summary = collect(metrics_file)
    assert not metrics_file.exists()
    assert summary == {
        "metrics": {
            "loss": [0.5, 0.25, 0.125],
            "auc": 0.9,
            "sizes": [1, 2, 3],
            "curve": {"epoch": [1, 2], "acc": [0.5, 0.75]},
            "confusion": {"tp": [3], "fp": [1]},
        },
        "tags": {"stage": "train", "owner": "ana"},
        "parent": {"metrics": {"best": 0.9}, "tags": {"winner": "train"}},
    }
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(STEPLIB)
    assert json.loads(env["AMLCOMPILE_INPUT_DATASETS"]) == {"raw": str(tmp_path / "raw")}


def test_offline_run_prints_what_it_logs(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(STEPLIB)}
    proc = run_step(tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "{}"
    assert "[offline run] metric loss: 0.5" in proc.stderr
    assert '[parent run] tag winner: "train"' in proc.stderr
    assert proc.stdout.splitlines()[1].split()[-1].startswith("OfflineRun_")
    code = "from amlcompile_run import Run\nRun.get_context(allow_offline=False)\n"
    proc = run_step(tmp_path, env, code)
    assert proc.returncode != 0 and "not running inside an amlcompile step" in proc.stderr


def test_summary_skips_torn_lines_and_missing_files(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"scope": "step", "kind": "metric", "name": "a", "value": 1}\n{"sco')
    assert collect(path) == {"metrics": {"a": 1}, "tags": {}}
    assert collect(tmp_path / "absent.jsonl") == {}
    assert summarize([]) == {"metrics": {}, "tags": {}}


SDK_SCRIPT = """
import importlib.util
assert importlib.util.find_spec("amlcompile") is None, "amlcompile must not be importable"
from azureml.core import Run, Dataset, Datastore, Workspace
from azureml.core.run import Run as RunToo
from azureml.core.model import Model
from azureml.data.dataset_factory import DataType
import azureml.core
assert Run is RunToo is azureml.core.Run
assert not isinstance(object(), Workspace)

def uses(ws: Workspace) -> None:  # annotations only: no error
    pass

run = Run.get_context()
run.log("accuracy", 0.75)
Run.get_context().parent.log("best", 0.75)
print("RAW", run.input_datasets["raw"])
for use in (lambda: Workspace.from_config(), lambda: Model(None, "m"), lambda: DataType.to_long()):
    try:
        use()
    except RuntimeError as exc:
        print("ERROR", type(exc).__name__, exc)
"""


def test_unmodified_sdk_step_script_imports_run_from_azureml(tmp_path):
    """`from azureml.core import Run` on a worker where no azureml is installed; any other
    SDK name imports and fails only when used, saying which name and what to do."""
    metrics_file = tmp_path / "metrics.jsonl"
    base = {"PATH": os.environ.get("PATH", ""), "AZUREML_RUN_ID": "manual__1/train"}
    env = step_env(base, {"raw": str(tmp_path / "raw")}, metrics_file)
    proc = run_step(tmp_path, env, SDK_SCRIPT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"RAW {tmp_path / 'raw'}"
    errors = lines[1:]
    assert errors[0].startswith(
        "ERROR AzureMLNotAvailable azureml.core.Workspace.from_config is not available in an"
        " amlcompile step (the step runs on Airflow, not Azure ML): a step has no workspace"
    )
    assert errors[1].startswith("ERROR AzureMLNotAvailable azureml.core.model.Model is not")
    assert "model to an output of the step" in errors[1]
    assert errors[2].startswith(
        "ERROR AzureMLNotAvailable azureml.data.dataset_factory.DataType.to_long is not"
    )
    assert len(errors) == 3
    assert collect(metrics_file) == {
        "metrics": {"accuracy": 0.75},
        "tags": {},
        "parent": {"metrics": {"best": 0.75}, "tags": {}},
    }


def test_pod_staging_copies_the_azureml_package(tmp_path):
    """AmlPodOperator ships STEPLIB with copy_tree to the datastore, staged as /amlcompile/lib
    (the pod's only PYTHONPATH): the `azureml` package travels with it."""
    from amlcompile.runtime.storage import copy_tree

    lib = tmp_path / "lib"
    copy_tree(STEPLIB, lib)
    assert (lib / "amlcompile_run.py").is_file()
    assert (lib / "azureml" / "__init__.py").is_file()
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(lib)}
    code = "from azureml.core import Run\nprint(type(Run.get_context()).__module__)\n"
    proc = run_step(tmp_path, env, code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "amlcompile_run"


def test_tabular_input_without_pandas_says_what_to_add(tmp_path):
    (tmp_path / "t.csv").write_text("a\n1\n")
    tabular = {"t": {"format": "delimited", "files": []}}
    env = step_env({"PATH": ""}, {"t": str(tmp_path / "t.csv")}, tmp_path / "m.jsonl", tabular)
    code = (
        "from azureml.core import Run\n"
        "t = Run.get_context().input_datasets['t']\n"
        "print(t)\n"
        "t.to_pandas_dataframe()\n"
    )
    proc = run_step(tmp_path, env, code)  # python -S: no pandas
    assert proc.stdout.strip() == f"TabularDataset(name='t', path='{tmp_path / 't.csv'}')"
    assert proc.returncode != 0
    assert (
        "ModuleNotFoundError: input 't': TabularDataset.to_pandas_dataframe() needs pandas in"
        " the step's environment" in proc.stderr
    )


def test_tabular_reading_modes(tmp_path):
    """Parquet, JSON lines, globs, headers only in the first file, include_path."""
    import pandas

    from amlcompile.runtime.steplib.amlcompile_run import TabularDataset

    (tmp_path / "pq").mkdir()
    pandas.DataFrame({"a": [1, 2]}).to_parquet(tmp_path / "pq" / "p1.parquet")
    pandas.DataFrame({"a": [3]}).to_parquet(tmp_path / "pq" / "p2.parquet")
    (tmp_path / "pq" / ".complete").write_text("")  # hidden files are not data
    frame = TabularDataset("pq", str(tmp_path / "pq"), {"format": "parquet"}).to_pandas_dataframe()
    assert frame["a"].tolist() == [1, 2, 3]

    (tmp_path / "j.jsonl").write_text('{"x": 1}\n{"x": 2}\n')
    frame = TabularDataset("j", str(tmp_path / "j.jsonl"), {"format": "json_lines"})
    assert frame.skip(1).to_pandas_dataframe()["x"].tolist() == [2]

    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "1.csv").write_text("k,v\na,1\n")
    (tmp_path / "csv" / "2.csv").write_text("b,2\n")
    (tmp_path / "csv" / "notes.txt").write_text("not a table")
    spec = {"format": "delimited", "files": ["*.csv"], "header": "first_file", "include_path": True}
    frame = TabularDataset("c", str(tmp_path / "csv"), spec).to_pandas_dataframe()
    assert frame.to_dict("list") == {"Path": ["/1.csv", "/2.csv"], "k": ["a", "b"], "v": [1, 2]}


def test_xcom_keeps_the_configured_output_tail(tmp_path, monkeypatch):
    """docs/security.md: a local step's XCom keeps its last N output lines ([dag]
    xcom_log_tail, default 20; 0 keeps none)."""
    from amlcompile.runtime import binding, operators

    (tmp_path / "snap").mkdir()
    (tmp_path / "snap" / "s.py").write_text("for i in range(30):\n    print('line', i)\n")
    monkeypatch.setattr(binding, "SNAPSHOTS", tmp_path)

    class TI:
        def xcom_push(self, **kwargs):
            pass

    step = {"kind": "python_script", "script": "s.py", "snapshot": "snap"}
    for kwargs, expected in (({}, 20), ({"xcom_log_tail": 3}, 3), ({"xcom_log_tail": 0}, 0)):
        op = operators.LocalStepOperator(task_id="s", step=step, datastores={}, **kwargs)
        result = op._compute({"run_id": "r", "ti": TI(), "params": {}}, {}, {}, "fp")
        tail = result.get("log_tail", [])
        assert len(tail) == expected
        assert tail == [f"line {i}" for i in range(30 - expected, 30)]
