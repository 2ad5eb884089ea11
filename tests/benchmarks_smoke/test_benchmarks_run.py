"""The benchmark scripts stay runnable (issue 18): each part of run_benchmarks.py at the
smallest sizes, without kfp or dag-factory (CI has neither). No timing is asserted here; the
figures belong in docs/benchmarks.md, measured by `run_benchmarks.py all`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "benchmarks" / "run_benchmarks.py"


def _run(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--kfp-python", "/nonexistent/kfp-python"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _rows(out: str, heading: str) -> list[str]:
    section = out.split(heading, 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]


@pytest.mark.airflow
def test_compile_parse_size_and_source_tree_parts_run():
    out = _run("compile", "--sizes", "1", "10", "--repeat", "1", "--factory-max-steps", "0")
    assert len(_rows(out, "## Compile:")) == 1 + 2 * 4  # header + one row per size and shape
    assert len(_rows(out, "## Parse:")) == 1 + 2 * 3
    assert len(_rows(out, "## Floor:")) == 1 + 2
    out = _run("growth", "--growth-sizes", "10", "30")
    rows = _rows(out, "## Growth:")
    assert len(rows) == 1 + 2 and rows[2].startswith("| 30 |")
    out = _run("size", "--sizes", "100")
    assert "| 100 |" in out
    out = _run("fingerprint", "--files", "100", "--total-mb", "1", "--repeat-run", "1")
    assert len(_rows(out, "## Source folders:")) == 2


@pytest.mark.airflow
def test_run_parts_run():
    out = _run("reuse", "--steps", "1", "--repeat-run", "1")
    assert "| 1 |" in out
    out = _run("warm-run", "--repeat-run", "1")
    assert "## Run:" in out
    out = _run("parallel", "--prs-files", "20")
    assert len(_rows(out, "## ParallelRunStep:")) == 1 + 4
