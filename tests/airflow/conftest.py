"""Real Airflow 3.3.2: each check runs in a subprocess with its own AIRFLOW_HOME."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from amlcompile.compiler import build
from tests.conftest import EXAMPLES

pytest.importorskip("airflow", reason="Airflow is installed with the [airflow] extra")


def airflow_python(code: str, home: Path, dags: Path, timeout: int = 300, env=None) -> dict:
    """Run `code` (which must print one JSON line last) in a fresh Airflow process."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def examples_project(tmp_path_factory) -> Path:
    """A copy of examples/ as its own project, so runs write under a temporary .amlcompile/."""
    root = tmp_path_factory.mktemp("examples_project")
    shutil.copytree(EXAMPLES, root / "examples")
    (root / "pyproject.toml").write_text("[project]\nname = 'examples'\n")
    return root


@pytest.fixture(scope="session")
def built_examples(examples_project, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dags_out")
    cwd = os.getcwd()
    os.chdir(examples_project)
    try:
        build([examples_project / "examples"], out_dir=out)
    finally:
        os.chdir(cwd)
    return out
