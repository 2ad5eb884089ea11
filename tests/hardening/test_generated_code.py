"""Hostile pipelines (hypothesis, through the public DSL): each builds a DAG that parses, is
ruff-clean and imports in Airflow as exactly the described graph, or is refused with clear
file:line errors. No file ever runs anything else (a canary file must never appear)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings

from amlcompile.compiler import build
from amlcompile.exceptions import BuildError
from tests.hardening.pipelines import (
    CANARY,
    PLAN,
    expected_dag,
    expected_refusals,
    pipeline_specs,
    write_project,
)

RUFF = shutil.which("ruff") or os.path.join(os.path.dirname(sys.executable), "ruff")
EXAMPLES = 100  # ~0.1 s each to build; Airflow imports them all in one process afterwards

DUMP = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
out = {}
for case in json.loads(sys.argv[1]):
    bag = DagBag(dag_folder=case)
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "tasks": sorted(dag.task_ids),
            "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids),
            "params": {k: dag.params.get_param(k).resolve() for k in dag.params},
            "param_types": {k: dag.params.get_param(k).schema.get("type") for k in dag.params},
            "description": dag.description,
            "tags": sorted(dag.tags),
            "steps": {t.task_id: getattr(t, "step", None) for t in dag.tasks},
        }
    out[case] = {"errors": {str(k): v for k, v in bag.import_errors.items()}, "dags": dags}
print(json.dumps(out))
"""


def _build_case(root: Path, spec) -> dict | None:
    """Build one drawn pipeline; the expected DAG when it must build, None when refused."""
    project, out = root / "project", root / "out"
    assume(spec.file != "pyproject.toml.py")
    assume(all(s.folder not in (spec.file, "pyproject.toml") for s in spec.steps))
    pipeline_file = write_project(project, spec)
    refusals = expected_refusals(spec)
    cwd = os.getcwd()
    os.chdir(project)
    try:
        build([pipeline_file], out_dir=out)
    except BuildError as exc:
        assert refusals, f"refused a valid pipeline: {exc}\n{pipeline_file.read_text()}"
        shown = repr(spec.file)[1:-1]
        for problem in exc.problems:
            text = str(problem)
            assert "\n" not in text and "\r" not in text, text
            assert text.startswith(f"{shown}:"), text
            assert problem.location.line > 0, text
        assert not out.exists(), "a refused build wrote files"
        return None
    finally:
        os.chdir(cwd)
    assert not refusals, f"should have been refused ({refusals}):\n{pipeline_file.read_text()}"
    expected = expected_dag(spec)
    dag_file = out / f"{expected['dag_id']}.py"
    source = dag_file.read_text(encoding="utf-8")
    _only_known_calls(ast.parse(source))
    return {"out": str(out), "file": str(dag_file), "expected": expected, "spec": repr(spec)}


# The calls a generated DAG makes at import time (besides the operator classes it imports).
ALLOWED_CALLS = {"str", "Path", "resolve", "append", "DAG", "Param", "timedelta"}
# The only subscripts: a step's entry of the STEPS table, a target's of COMPUTE_ARGS.
TABLES = {"STEPS", "COMPUTE_ARGS"}


def _only_known_calls(tree: ast.Module) -> None:
    """User values are constants: no call, name or import beyond the template's own."""
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module in ("pathlib", "airflow.sdk") or node.module.startswith(
                "_amlcompile.runtime_"
            ), node.module
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            assert [a.name for a in node.names] in (["sys"], ["datetime"])
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            assert name in ALLOWED_CALLS | imported, ast.dump(func)
        if isinstance(node, ast.Subscript):
            assert isinstance(node.value, ast.Name) and node.value.id in TABLES, ast.dump(node)
            assert isinstance(node.slice, ast.Constant), ast.dump(node)
            continue
        if isinstance(node, (ast.Lambda, ast.Await, ast.Yield, ast.NamedExpr)):
            raise AssertionError(f"unexpected {type(node).__name__} in a generated DAG")


def _check_step(task_id: str, got: dict, want: dict) -> None:
    assert got is not None, task_id
    for key in ("allow_reuse", "script", "shell_command"):
        if key in want:
            assert got[key] == want[key], (task_id, key)
    assert [[k, v] for k, v in got["env"]] == want["env"], task_id
    if "command" in want:
        tokens, fixed = got["command"], want["command"]
        assert got["arguments"] == []
        assert [t for t in tokens[:2]] == fixed[:2]
        tokens, fixed = tokens[2:], fixed[2:]
    else:
        tokens, fixed = got["arguments"], want["arguments"]
    if "shell_command" in want:
        return
    assert len(tokens) == len(fixed) == len(want["ports"]), task_id
    inputs = {p["name"]: p for p in got["inputs"]}
    outputs = {p["name"] for p in got["outputs"]}
    for token, expected, port in zip(tokens, fixed, want["ports"], strict=True):
        if port is None:
            assert token == expected, (task_id, token, expected)
        elif "step" in port:
            assert inputs[token["port"]]["step"] == port["step"], task_id
        elif "path" in port:
            assert inputs[token["port"]]["path"] == port["path"], task_id
        else:
            assert token["port"] in outputs, task_id


@pytest.mark.airflow
def test_hostile_pipelines_build_exactly_what_was_described_or_are_refused(tmp_path):
    cases: list[dict] = []
    counter = iter(range(10**6))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(spec=pipeline_specs())
    def build_one(spec):
        case = _build_case(tmp_path / f"case{next(counter)}", spec)
        if case is not None:
            cases.append(case)

    build_one()
    assert len(cases) >= EXAMPLES // 8, "too few valid pipelines drawn to say much"

    files = [c["file"] for c in cases]
    ruff = subprocess.run(
        [RUFF, "check", "--isolated", "--select", "E,F,W,I,B,UP", "--line-length", "100", *files],
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout[-4000:]

    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    proc = subprocess.run(
        [sys.executable, "-c", DUMP, json.dumps([c["out"] for c in cases])],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    imported = json.loads(proc.stdout.strip().splitlines()[-1])
    for case in cases:
        want, got = case["expected"], imported[case["out"]]
        assert got["errors"] == {}, (got["errors"], case["spec"])
        assert list(got["dags"]) == [want["dag_id"]], case["spec"]
        dag = got["dags"][want["dag_id"]]
        context = case["spec"]
        assert dag["tasks"] == want["tasks"], context
        assert dag["edges"] == want["edges"], context
        assert dag["params"] == json.loads(json.dumps(want["params"])), context
        assert dag["description"] == want["description"], context
        assert dag["tags"] == want["tags"], context
        assert dag["steps"][PLAN] is None
        for task_id, step in want["steps"].items():
            _check_step(task_id, dag["steps"][task_id], json.loads(json.dumps(step)))
    assert not list(tmp_path.rglob(CANARY)), "a hostile value ran as code"
