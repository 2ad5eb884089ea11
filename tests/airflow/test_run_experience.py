"""`amlcompile run` as a user sees it, on the real embedded Airflow, through the CLI: each
step's state and output lines as they come (piped: plain lines; forced terminal: colour and a
redrawn status line), a failed step's error and the command to see its log, the reason a
run's planner refused it, reuse visible in Airflow (task-instance notes) and in `status`, a
fully reused run reported without starting Airflow, escaped datastore text, and two cold
runs at once."""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import amlcompile_cli

pytestmark = pytest.mark.airflow

HOSTILE = "\x1b[2J\x1b[1;1Hforged\nRun x of chain: success\u202e"

FAIL = """\
from amlcompile import *
ws = Workspace.from_config()
mid = PipelineData("mid", datastore=ws.get_default_datastore())
a = PythonScriptStep("boom.py", name="boom", arguments=["--o", mid], outputs=[mid],
                     source_directory="src")
b = PythonScriptStep("ok.py", name="after", arguments=["--i", mid], inputs=[mid],
                     source_directory="src")
failing = Pipeline(ws, steps=[b])
"""

DATAPATH = """\
from amlcompile import *
ws = Workspace.from_config()
ds = ws.get_default_datastore()
data = (PipelineParameter("input_data", default_value=DataPath(ds, "in/a.txt")),
        DataPathComputeBinding(mode="mount"))
read = PythonScriptStep("ok.py", name="read", source_directory="src",
                        arguments=["--data", data], inputs=[data])
datapath = Pipeline(ws, steps=[read])
"""

CHAIN = """\
from amlcompile import *
ws = Workspace.from_config()
ds = ws.get_default_datastore()
x = PipelineData("x", datastore=ds)
first = PythonScriptStep("make.py", name="first", source_directory="chain_src",
                         arguments=["--out", x], outputs=[x])
second = PythonScriptStep("use.py", name="second", source_directory="chain_src",
                          arguments=["--in", x, "--n", PipelineParameter("n", 1)], inputs=[x])
chain = Pipeline(ws, steps=[second])
"""

DATABRICKS = """\
from amlcompile import *
ws = Workspace.from_config()
dbx = ComputeTarget.attach(ws, "databricks", DatabricksCompute.attach_configuration(
    resource_group="rg", workspace_name="w"))
score = DatabricksStep(name="score", python_script_name="score.py", source_directory="dbx_src",
                       spark_version="13.3.x-scala2.12", node_type="Standard_DS3_v2",
                       num_workers=1, compute_target=dbx)
dbx_pipe = Pipeline(ws, steps=[score])
"""


@pytest.fixture(scope="module")
def proj(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("run_experience")
    files = {
        "pyproject.toml": "[project]\nname = 'run-experience'\n",
        "src/ok.py": "print('fine')\n",
        "src/boom.py": "print('about to fail')\nraise ValueError('bad value for alpha: -1')\n",
        "fail.py": FAIL,
        "datapath.py": DATAPATH,
        "chain.py": CHAIN,
        "dbx.py": DATABRICKS,
        "dbx_src/score.py": "print('scored')\n",
        "chain_src/make.py": (
            "import os, sys\nout = sys.argv[2]\nos.makedirs(out, exist_ok=True)\n"
            "open(os.path.join(out, 'x.txt'), 'w').write('x')\nprint('made x')\n"
        ),
        "chain_src/use.py": "import sys\nprint('used', sys.argv[-1])\n",
        ".amlcompile/datastores/workspaceblobstore/in/a.txt": "alpha\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def run(proj: Path, *args, terminal: bool = False):
    """The CLI in a subprocess; stdout exactly as written (a terminal's `\r` kept)."""
    env = {**os.environ, "AMLCOMPILE_TERMINAL": "1" if terminal else "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "amlcompile.cli", "run", *args],
        cwd=proj,
        env=env,
        capture_output=True,
        timeout=900,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


def index(lines: list[str], pattern: str) -> int:
    for i, line in enumerate(lines):
        if re.search(pattern, line):
            return i
    raise AssertionError(f"no line matches {pattern!r} in:\n" + "\n".join(lines))


def run_id_of(stdout: str) -> str:
    """The run of the report's first line (a terminal's status line cleared before it)."""
    lines = stdout.replace("\r\x1b[2K", "\n")
    return re.search(r"^Run (\S+) of ", lines, re.M).group(1)


def test_a_failed_step_live_then_its_error_and_how_to_see_its_log(proj):
    r = run(proj, "fail.py")
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert "\x1b" not in out and "\r" not in out  # piped: plain lines
    lines = out.splitlines()
    running = index(lines, r"^  boom\s+running$")
    said = index(lines, r"^  boom\s+\| about to fail$")
    failed = index(lines, r"^  boom\s+failed \d")
    assert running < said < failed < index(lines, r"^Run \S+ of failing: failed$")
    assert re.search(r"^  boom\s+! ValueError: bad value for alpha: -1$", out, re.M)
    assert re.search(
        r"^  after\s+upstream_failed \(not run: a step it depends on failed\)", out, re.M
    )
    # The command it prints shows the whole log of that step.
    command = re.search(r"whole log: (amlcompile logs .+)$", out, re.M).group(1)
    logs = amlcompile_cli(*shlex.split(command)[1:], cwd=proj)
    assert logs.returncode == 0, logs.stderr
    assert "ValueError: bad value for alpha: -1" in logs.stdout
    assert "[DAG TEST] starting task_id=boom" in logs.stdout
    assert "task_id=after" not in logs.stdout  # that step's part only
    status = amlcompile_cli("status", "failing", run_id_of(out), cwd=proj)
    assert status.returncode == 0, status.stderr
    assert "! ValueError: bad value for alpha: -1" in status.stdout
    # The same run on a terminal: colour, a redrawn status line, the same content.
    t = run(proj, "fail.py", terminal=True)
    assert t.returncode == 1
    assert "\x1b[31mfailed\x1b[0m" in t.stdout and "\r\x1b[2K" in t.stdout
    assert "ValueError: bad value for alpha: -1" in t.stdout


def test_a_path_refused_at_trigger_is_shown_with_its_reason(proj):
    r = run(proj, "datapath.py", "--param", "input_data=../../etc/passwd")
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"the reuse planner \(amlcompile_reuse_plan\) failed:", r.stdout)
    assert "must be a relative path inside its datastore" in r.stdout
    assert re.search(r"^  so 1 step\(s\) did not run \(upstream_failed\)$", r.stdout, re.M)


def test_a_missing_airflow_connection_is_shown(proj, monkeypatch):
    r = run(proj, "dbx.py")
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^  score\s+failed", r.stdout, re.M)
    assert re.search(
        r"^  score\s+! .*databricks_default.*(isn't defined|not defined)", r.stdout, re.M
    )
    assert "whole log: amlcompile logs dbx_pipe " in r.stdout


def _notes(proj: Path, run_id: str) -> dict[str, str]:
    db = sqlite3.connect(proj / ".amlcompile" / "airflow" / "airflow.db")
    try:
        rows = db.execute(
            "SELECT ti.task_id, n.content FROM task_instance_note n"
            " JOIN task_instance ti ON n.ti_id = ti.id WHERE ti.run_id = ?",
            (run_id,),
        ).fetchall()
    finally:
        db.close()
    return dict(rows)


def _record(proj: Path, run_id: str) -> dict:
    from amlcompile.local_run import load_run

    return load_run(proj / ".amlcompile", "chain", run_id)


def test_reuse_without_airflow_notes_in_airflow_and_escaped_records(proj):
    first = run(proj, "chain.py")
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(r"^  first\s+\| made x$", first.stdout, re.M)
    origin = run_id_of(first.stdout)

    logs = sorted((proj / ".amlcompile/airflow/logs").glob("run-chain-*.log"))
    second = run(proj, "chain.py")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Run reused__" in second.stdout and "(every step reused)" in second.stdout
    assert "no Airflow run was started" in second.stdout
    assert f"reused from {origin}" in second.stdout
    assert sorted((proj / ".amlcompile/airflow/logs").glob("run-chain-*.log")) == logs
    planned_here = _record(proj, run_id_of(second.stdout))
    assert planned_here["airflow"] is False
    status = amlcompile_cli("status", "chain", run_id_of(second.stdout), cwd=proj)
    assert "no Airflow run was started" in status.stdout

    # The same run in Airflow: its planner computes the very same fingerprints, skips both
    # steps and notes on each why (visible in Airflow's UI), and status says the same.
    third = run(proj, "chain.py", "--airflow")
    assert third.returncode == 0, third.stdout + third.stderr
    run_id = run_id_of(third.stdout)
    in_airflow = _record(proj, run_id)
    assert in_airflow["airflow"] is True
    fps = {s["task_id"]: s["fingerprint"] for s in planned_here["steps"]}
    assert fps == {s["task_id"]: s["fingerprint"] for s in in_airflow["steps"]}
    assert {s["state"] for s in in_airflow["steps"]} == {"skipped"}
    notes = _notes(proj, run_id)
    assert set(notes) == {"first", "second"}
    assert notes["first"].startswith(f"Reused from run {origin}: not run, because its fingerprint")
    assert fps["first"][:12] in notes["first"]
    assert re.search(
        rf"^  first\s+reused from {re.escape(origin)} \(fingerprint", third.stdout, re.M
    )
    status = amlcompile_cli("status", "chain", run_id, cwd=proj)
    assert f"reused from {origin}" in status.stdout
    assert f"fingerprint {fps['first'][:12]} unchanged" in status.stdout

    # A record forged on the datastore cannot reach the terminal (or a note) raw.
    reuse = proj / ".amlcompile/datastores/workspaceblobstore/azureml/_reuse"
    for path in reuse.glob("*.json"):
        record = json.loads(path.read_text())
        record["produced_by"]["run_id"] = HOSTILE
        path.write_text(json.dumps(record))
    for args, terminal in (((), False), (("--airflow",), True)):
        forged = run(proj, "chain.py", *args, terminal=terminal)
        assert forged.returncode == 0, forged.stdout + forged.stderr
        assert "\x1b[2J" not in forged.stdout and "\u202e" not in forged.stdout
        assert "\\x1b[2J\\x1b[1;1Hforged\\nRun x of chain: success\\u202e" in forged.stdout
        assert not re.search(r"^Run x of chain", forged.stdout, re.M)
    notes = _notes(proj, run_id_of(forged.stdout))
    assert notes and all("\x1b" not in n and "\n" not in n for n in notes.values())

    # A changed parameter: Airflow runs, and only the step that uses it.
    changed = run(proj, "chain.py", "--param", "n=2")
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "started in the embedded Airflow" in changed.stdout
    assert re.search(r"^  second\s+\| used 2$", changed.stdout, re.M)
    assert re.search(r"^  first\s+reused from ", changed.stdout, re.M)


def test_two_cold_runs_at_once_both_succeed_with_their_own_logs(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'cold'\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ok.py").write_text("print('fine')\n")
    for name in ("one", "two"):
        (tmp_path / f"{name}.py").write_text(
            "from amlcompile import *\nws = Workspace.from_config()\n"
            f"s = PythonScriptStep('ok.py', name='s', source_directory='src', allow_reuse=False)\n"
            f"{name} = Pipeline(ws, steps=[s])\n"
        )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "amlcompile.cli", "run", f"{name}.py"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("one", "two")
    ]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    said = "\n".join(outs)
    assert said.count("Preparing the embedded Airflow") == 1, outs
    logs = list((tmp_path / ".amlcompile/airflow/logs").glob("run-*.log"))
    assert {p.name.split("-")[1] for p in logs} == {"one", "two"}
