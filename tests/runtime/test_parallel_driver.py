"""The mini-batch process of a ParallelRunStep (steplib/amlcompile_parallel.py), without
Airflow: init() once, run() retried up to run_max_try, each call limited to
run_invocation_timeout, fewer results than files counted as failed files."""

from __future__ import annotations

import json
import subprocess
import sys

from amlcompile.runtime.parallel import DRIVER


def drive(tmp_path, script: str, mini_batch, timeout=5, max_try=2, argv=(), more=()):
    """One process over mini_batch (and the further batches `more`): (the first batch's
    result, its rows or None, the process's output)."""
    (tmp_path / "entry.py").write_text(script)
    batches = []
    for n, files in enumerate([mini_batch, *more]):
        batches.append(
            {
                "index": n,
                "mini_batch": files,
                "rows_file": str(tmp_path / f"rows{n}.txt"),
                "result_file": str(tmp_path / f"result{n}.json"),
                "own_dir": str(tmp_path / f"own{n}"),
            }
        )
    (tmp_path / "own").mkdir(exist_ok=True)
    job = {
        "entry_script": str(tmp_path / "entry.py"),
        "argv": list(argv),
        "timeout": timeout,
        "max_try": max_try,
        "output_dir": str(tmp_path / "own"),
        "batches": batches,
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    proc = subprocess.run(
        [sys.executable, str(DRIVER), str(tmp_path / "job.json")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    rows_file = tmp_path / "rows0.txt"
    rows = rows_file.read_text().splitlines() if rows_file.exists() else None
    return json.loads((tmp_path / "result0.json").read_text()), rows, proc.stdout


def test_init_once_run_per_batch_and_argv(tmp_path):
    script = """\
import sys
calls = []
def init():
    calls.append("init")
    print("argv", sys.argv[1:])
def run(batch):
    return [f"{b}:{len(calls)}" for b in batch]
"""
    result, rows, out = drive(tmp_path, script, ["a", "b"], argv=["--k", "1"], more=[["c"]])
    assert result["error"] is None and result["failed_items"] == 0
    assert rows == ["a:1", "b:1"]
    assert (tmp_path / "rows1.txt").read_text() == "c:1\n"  # init() once for both batches
    assert out.count("argv ['--k', '1']") == 1
    assert "[mini-batch 1] done: 1 file, 0 failed" in out


def test_retried_then_failed_and_timeout(tmp_path):
    script = """\
import time
def run(batch):
    time.sleep(5)
"""
    result, rows, _ = drive(tmp_path, script, ["a"], timeout=1, max_try=2)
    assert result["failed_items"] == 1 and result["tries"] == 2
    assert "try 2: run() took longer than 1 s" in result["error"]
    assert rows is None


def test_a_second_try_succeeds(tmp_path):
    script = """\
tries = []
def run(batch):
    tries.append(1)
    if len(tries) == 1:
        raise RuntimeError("flaky")
    return batch
"""
    result, rows, _ = drive(tmp_path, script, ["a", "b"], max_try=3)
    assert result["error"] is None and result["tries"] == 2 and rows == ["a", "b"]


def test_fewer_results_than_files_are_failed_files(tmp_path):
    result, rows, _ = drive(tmp_path, "def run(batch):\n    return batch[:1]\n", ["a", "b", "c"])
    assert result["failed_items"] == 2 and rows == ["a"]


def test_init_failure_fails_the_whole_batch(tmp_path):
    script = "def init():\n    raise ValueError('no model')\ndef run(b):\n    return b\n"
    result, _, _ = drive(tmp_path, script, ["a", "b"])
    assert result["failed_items"] == 2 and "no model" in result["error"]


def test_entry_script_class_of_azureml_user(tmp_path, monkeypatch):
    from amlcompile.runtime.metrics import STEPLIB

    monkeypatch.setenv("PYTHONPATH", str(STEPLIB))
    monkeypatch.setenv("AMLCOMPILE_PRS_OUTPUT_DIR", str(tmp_path / "own"))
    (tmp_path / "own").mkdir()
    script = """\
import os
from azureml_user.parallel_run import EntryScript
def init():
    global out
    out = EntryScript().output_dir
    EntryScript().logger.info("ready")
def run(batch):
    os.makedirs(out, exist_ok=True)
    for b in batch:
        open(os.path.join(out, b), "w").write(b)
    return batch
"""
    result, rows, _ = drive(tmp_path, script, ["a", "b"], more=[["c"]])
    assert result["error"] is None and rows == ["a", "b"]
    # What each mini-batch wrote is its own (each is reused on its own).
    assert sorted(p.name for p in (tmp_path / "own0").iterdir()) == ["a", "b"]
    assert sorted(p.name for p in (tmp_path / "own1").iterdir()) == ["c"]
    assert list((tmp_path / "own").iterdir()) == []
