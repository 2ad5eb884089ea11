"""Metrics that step scripts log through `amlcompile_run.Run` (steplib/): the environment the
step process gets, and reading what it logged afterwards."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .steplib.amlcompile_run import (
    INPUT_DATASETS_ENV,
    METRICS_FILE_ENV,
    TABULAR_DATASETS_ENV,
    read_metrics_file,
)

STEPLIB = Path(__file__).resolve().parent / "steplib"
METRICS_XCOM_KEY = "amlcompile_metrics"


def tabular_inputs(step: dict) -> dict[str, dict]:
    """The step's tabular dataset inputs: {input name: how to read it}."""
    return {port["name"]: port["tabular"] for port in step["inputs"] if port.get("tabular")}


def step_env(
    env: dict, inputs: dict[str, str], metrics_file: Path, tabular: dict | None = None
) -> dict:
    """`env` plus what `Run.get_context()` reads; steplib goes first on PYTHONPATH.
    `tabular`: {input name: how to read it} for the inputs that are tabular datasets."""
    env = dict(env)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(STEPLIB) + (os.pathsep + path if path else "")
    env[METRICS_FILE_ENV] = str(metrics_file)
    env[INPUT_DATASETS_ENV] = json.dumps(inputs, sort_keys=True)
    if tabular:
        env[TABULAR_DATASETS_ENV] = json.dumps(tabular, sort_keys=True)
    else:
        env.pop(TABULAR_DATASETS_ENV, None)
    return env


def collect(metrics_file: Path) -> dict:
    """What the step logged ({} when nothing); the file is removed."""
    summary = read_metrics_file(metrics_file)
    metrics_file.unlink(missing_ok=True)
    return summary if (summary["metrics"] or summary["tags"] or "parent" in summary) else {}
