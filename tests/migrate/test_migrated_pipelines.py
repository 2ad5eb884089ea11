"""SDK v1 fixtures → `amlcompile migrate` → `amlcompile build` → real Airflow 3.3.2: every DAG
imports with zero errors and has exactly the expected graph; the local one runs end to end
and shows what its scripts logged through Run.get_context()."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

pytest.importorskip("libcst")
pytest.importorskip("airflow", reason="Airflow is installed with the [airflow] extra")

from amlcompile.compiler import build  # noqa: E402
from amlcompile.local_run import print_result, run_compiled, select  # noqa: E402
from amlcompile.migrate import migrate_paths  # noqa: E402
from tests.airflow.conftest import airflow_python  # noqa: E402
from tests.airflow.test_dagbag import DAGBAG  # noqa: E402
from tests.migrate.helpers import copy_fixtures, notebook_to_script  # noqa: E402

PLAN = "amlcompile_reuse_plan"
# The DAG Param every compiled DAG has beside the pipeline's own.
RUN_OPTIONS = {"regenerate_outputs": False}

# dag id → the graph the SDK v1 script describes.
EXPECTED = {
    "iris_chain": {
        "tasks": ["evaluate", "prep", "train"],
        "edges": [["prep", "evaluate"], ["prep", "train"], ["train", "evaluate"]],
        "roots": ["prep"],
        "operators": ["LocalStepOperator"],
        "params": {},
    },
    "nightly_maintenance": {
        "tasks": ["check_sources", "clean_cache", "report", "vacuum"],
        "edges": [
            ["check_sources", "clean_cache"],
            ["check_sources", "vacuum"],
            ["vacuum", "report"],
        ],
        "roots": ["check_sources"],
        "operators": ["AmlPodOperator"],
        "params": {},
    },
    "batch_scoring": {
        "tasks": ["publish_scores", "score"],
        "edges": [["score", "publish_scores"]],
        "roots": ["score"],
        "operators": ["LocalStepOperator"],
        "params": {
            "batch_size": 32,
            "threshold": 0.5,
            "label": "nightly",
            "input_data": "scoring/input",  # a DataPath default: the path, chosen at trigger
        },
    },
    "hello_notebook": {
        "tasks": ["hello"],
        "edges": [],
        "roots": ["hello"],
        "operators": ["LocalStepOperator"],
        "params": {"greeting": "hello"},
    },
    # Checked once built (see LATER).
    "lake_features": {
        "tasks": ["aggregate", "featurize", "land_events"],
        "edges": [["aggregate", "featurize"], ["land_events", "aggregate"]],
        "roots": ["land_events"],
        "operators": ["AdlaJobOperator", "AmlDataTransferOperator", "AmlDatabricksOperator"],
        "params": {"day": "2019-06-01"},
    },
    "Nightly_Retrain": {
        "tasks": ["retrain"],
        "edges": [],
        "roots": ["retrain"],
        "operators": ["LocalStepOperator"],
        "params": {"epochs": 5, "learning_rate": 0.01},
    },
}
# Built only once amlcompile has these (merged from the compute-target and schedule work).
LATER = {
    "lake_features": ("databricks_adla_transfer", "DatabricksStep"),
    "Nightly_Retrain": ("publish_schedule", "Schedule"),
}


def expected_graph(spec: dict) -> dict:
    edges = spec["edges"] + [[PLAN, r] for r in spec["roots"]]
    return {
        "tasks": sorted([PLAN, *spec["tasks"]]),
        "edges": sorted(edges),
        "operators": sorted({"ReusePlanOperator", *spec["operators"]}),
        "params": {**spec["params"], **RUN_OPTIONS},
    }


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    root = copy_fixtures(tmp_path_factory.mktemp("migrated"))
    report = migrate_paths([root])
    assert not report.failed
    notebook_to_script(
        root / "notebook" / "hello_pipeline.ipynb", root / "notebook" / "hello_pipeline.py"
    )
    return root


def _build(root: Path, project: str, out: Path):
    cwd = os.getcwd()
    os.chdir(root / project)
    try:
        return build(
            [root / project / "pipeline.py"]
            if project != "notebook"
            else [root / project / "hello_pipeline.py"],
            out_dir=out,
        )
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def dagbag(migrated, tmp_path_factory) -> tuple[dict, dict]:
    """Every buildable migrated fixture in one DAGs folder, parsed twice by Airflow's DagBag."""
    import shutil

    import amlcompile

    tmp_path = tmp_path_factory.mktemp("dagbag")

    projects = {
        "iris_chain": "data_chain",
        "nightly_maintenance": "sequence",
        "batch_scoring": "datapath_params",
        "hello_notebook": "notebook",
    }
    for dag_id, (project, needs) in LATER.items():
        if hasattr(amlcompile, needs):
            projects[dag_id] = project
    dags = tmp_path / "dags"
    for dag_id, project in projects.items():
        out = tmp_path / "out" / project
        result = _build(migrated, project, out)
        assert [c.pipeline.name for c in result.compiled] == [dag_id]
        for f in out.iterdir():  # one deployable folder holding every fixture's DAG
            target = dags / f.name
            if f.is_dir():
                shutil.copytree(f, target, dirs_exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(f.read_bytes())
    return airflow_python(DAGBAG % str(dags), tmp_path / "home", dags), projects


@pytest.mark.airflow
def test_migrated_fixtures_build_and_import_in_airflow(dagbag):
    result, projects = dagbag
    expected = {dag: expected_graph(spec) for dag, spec in EXPECTED.items()}
    assert result["errors"] == {}
    assert set(result["dags"]) == set(projects)
    for dag_id, info in result["dags"].items():
        got = {k: info[k] for k in ("tasks", "edges", "operators", "params")}
        assert got == expected[dag_id], dag_id
        assert info["hashes"][0] == info["hashes"][1], dag_id


@pytest.mark.airflow
def test_datapath_parameter_is_an_airflow_param(dagbag):
    result, _ = dagbag
    assert "input_data" in result["dags"]["batch_scoring"]["params"]


@pytest.mark.airflow
def test_migrated_chain_runs_and_shows_the_logged_metrics(migrated, monkeypatch):
    project = migrated / "data_chain"
    monkeypatch.chdir(project)
    compiled = select(str(project / "pipeline.py"))
    result = run_compiled(compiled, {})
    assert result.succeeded, (result.raw, result.log_file.read_text()[-3000:])
    by_step = {s["task_id"]: s for s in result.steps}
    assert by_step["train"]["metrics"]["metrics"] == {"threshold": pytest.approx(5.5), "rows": 4}
    assert by_step["train"]["metrics"]["tags"] == {"model_type": "threshold"}
    evaluate = by_step["evaluate"]["metrics"]
    assert evaluate["metrics"]["accuracy"] == 1.0
    assert evaluate["metrics"]["predictions"] == {"x": [5.1, 6.2, 5.9, 4.8], "label": [0, 1, 1, 0]}
    assert evaluate["parent"]["metrics"] == {"best_accuracy": 1.0}
    out = io.StringIO()
    print_result(result, out)
    text = out.getvalue()
    assert "metric accuracy: 1.0" in text
    assert "parent metric best_accuracy: 1.0" in text
    assert "tag model_type: threshold" in text
