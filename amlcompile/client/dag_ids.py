"""Which deployed DAG a `Pipeline` object of a running script is.

The build names a DAG by the strongest name the script gives its pipeline (README: the
`name=`, then the name given to `publish`, then the experiment's, ...), and a script may
`submit` before it `publish`es. So outside a build the DAG id is read from the index the
build wrote (`dags_out/_amlcompile/pipelines.json`: `file:line` of `Pipeline(...)` → DAG id),
not guessed from the call at hand.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..render.bundle import PIPELINE_INDEX, SUPPORT_DIR


def _index(config) -> dict:
    try:
        data = json.loads((config.dags_out_path / SUPPORT_DIR / PIPELINE_INDEX).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def deployed_dag_id(pipeline, fallback: str | None) -> str:
    config = pipeline.workspace._config
    file, line = pipeline._location
    try:
        rel = Path(file).resolve().relative_to(config.root.resolve()).as_posix()
    except ValueError:
        rel = file
    built = _index(config).get(f"{rel}:{line}")
    return built or pipeline.name or fallback or Path(file).stem
