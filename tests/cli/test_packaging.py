"""What `pip install amlcompile` (a wheel, not an editable checkout) gets: every module of the
package, the runtime with its step library, and the DAG template from the top-level
templates/ folder. Without the template a wheel install could not build a single DAG."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_every_module_and_the_dag_template(tmp_path):
    # From a copy of the sources: a stale build/ in a checkout would hide a missing package.
    source = tmp_path / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            "build", "*.egg-info", ".venv*", ".git", "node_modules", "__pycache__", "dags_out",
            ".amlcompile", "tests", "docs", "examples", "benchmarks",
        ),
    )  # fmt: skip
    wheels = tmp_path / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [wheel] = wheels.glob("amlcompile-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "amlcompile/templates/dag.py.j2" in names
    assert "amlcompile_run.py" in names
    sources = {
        p.relative_to(REPO).as_posix()
        for p in (REPO / "amlcompile").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert sources - names == set()
