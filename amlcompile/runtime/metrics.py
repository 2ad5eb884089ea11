"""Metrics that step scripts log through `amlcompile_run.Run` (steplib/): the environment the
step process gets, and reading what it logged afterwards."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .steplib.amlcompile_run import INPUT_DATASETS_ENV, METRICS_FILE_ENV, read_metrics_file

STEPLIB = Path(__file__).resolve().parent / "steplib"
METRICS_XCOM_KEY = "amlcompile_metrics"


def step_env(env: dict, inputs: dict[str, str], metrics_file: Path) -> dict:
    """`env` plus what `Run.get_context()` reads; steplib goes first on PYTHONPATH."""
    env = dict(env)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(STEPLIB) + (os.pathsep + path if path else "")
    env[METRICS_FILE_ENV] = str(metrics_file)
    env[INPUT_DATASETS_ENV] = json.dumps(inputs, sort_keys=True)
    return env


def collect(metrics_file: Path) -> dict:
    """What the step logged ({} when nothing); the file is removed."""
    summary = read_metrics_file(metrics_file)
    metrics_file.unlink(missing_ok=True)
    return summary if (summary["metrics"] or summary["tags"] or "parent" in summary) else {}
