"""A set where order matters (arguments, inputs, params, Databricks params) gives the same DAG
bytes and fingerprints whatever PYTHONHASHSEED: amlcompile sorts it, with one warning at the
user's line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

from amlcompile.compiler import check, render_files
from amlcompile.dsl import warnings as warn_mod

REPO = Path(__file__).resolve().parents[2]

PIPE = """\
from amlcompile import *
ws = Workspace.from_config()
ds = ws.get_default_datastore()
dbx = ComputeTarget.attach(ws, "dbx", DatabricksCompute.attach_configuration())
a = DataReference(ds, "alpha", "in/a")
b = DataReference(ds, "beta", "in/b")
cols = {"zeta", "alpha", "mu", "kappa", "omega", "beta", "gamma"}
s = PythonScriptStep("train.py", source_directory="src",
    arguments={"--zeta", "--alpha", "--mu", "--kappa", "--omega", "--beta"},
    inputs={a, b},
    params={"COLS": frozenset(cols)})
t = PythonScriptStep("score.py", source_directory="src", arguments=["--cols", cols])
d = DatabricksStep("d", python_script_path="dbfs:/x.py", existing_cluster_id="c",
    python_script_params=set(cols), compute_target=dbx)
p = Pipeline(ws, steps=[s, t, d])
"""


def write(project) -> Path:
    project.script("src/train.py")
    project.script("src/score.py")
    return project.write("pipe.py", PIPE)


def build_with_seed(project, seed: str) -> tuple[bytes, str]:
    out = project.root / f"out_{seed}"
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "amlcompile.cli", "build", "pipe.py", "--out", str(out)],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (dag,) = sorted(out.glob("*.py"))
    return dag.read_bytes(), done.stderr


def test_sets_build_the_same_dag_whatever_the_hash_seed(project):
    write(project)
    first, stderr = build_with_seed(project, "1")
    second, _ = build_with_seed(project, "2")
    third, _ = build_with_seed(project, "31337")
    assert first == second == third
    text = first.decode()
    # Sorted, so the fingerprints (their static part is in the file) agree too.
    assert re.search(r"'--alpha'.*'--beta'.*'--kappa'.*'--mu'.*'--omega'.*'--zeta'", text, re.S)
    assert "\"frozenset({'alpha', 'beta', 'gamma', 'kappa', 'mu', 'omega', 'zeta'})\"" in text
    # A literal argument is its plain value in the STEPS table.
    assert "\"{'alpha', 'beta', 'gamma', 'kappa', 'mu', 'omega', 'z" in text
    lines = PIPE.splitlines()
    step_line = next(i for i, line in enumerate(lines, 1) if line.startswith("s = "))
    assert f"pipe.py:{step_line}: UnorderedValueWarning" in stderr, stderr
    assert stderr.count("arguments is a set") == 1, stderr


def test_one_warning_per_place_naming_the_file_and_line(project, monkeypatch):
    monkeypatch.setattr(warn_mod, "_unordered_seen", set())
    path = write(project)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (compiled,) = check([path])
        render_files([compiled])
    unordered = [w for w in caught if issubclass(w.category, warn_mod.UnorderedValueWarning)]
    where = sorted(
        {(Path(w.filename).name, w.lineno, str(w.message).split(":")[1]) for w in unordered}
    )
    lines = PIPE.splitlines()

    def line(prefix):
        return next(i for i, text in enumerate(lines, 1) if text.startswith(prefix))

    assert len(unordered) == len(where)  # never twice for one place
    names = {(w[1], w[2].split(" is a set")[0].strip()) for w in where}
    assert (line("s = "), "arguments") in names
    assert (line("s = "), "inputs") in names
    assert (line("d = "), "python_script_params") in names
    # Values that are sets: the step's line.
    assert (line("s = "), "a value") in names
    assert (line("t = "), "a value") in names
    step = compiled.pipeline.step("d")
    assert [t.value for t in step.databricks.params] == sorted(
        ["zeta", "alpha", "mu", "kappa", "omega", "beta", "gamma"]
    )
    assert [p.name for p in compiled.pipeline.step("train").inputs] == ["alpha", "beta"]
