"""The runtime package shipped inside dags_out/, named after a hash of its own source."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

RUNTIME_SRC = Path(__file__).resolve().parents[1] / "runtime"
SUPPORT_DIR = "_amlcompile"  # inside dags_out/: runtime packages and code snapshots
PIPELINE_INDEX = "pipelines.json"  # in SUPPORT_DIR: DSL location of each pipeline → DAG id


def runtime_files() -> list[Path]:
    # steplib/ holds what the step processes import (amlcompile_run, the `azureml` package
    # for unmodified step scripts), shipped alongside, sub-packages included.
    return sorted([*RUNTIME_SRC.glob("*.py"), *RUNTIME_SRC.glob("steplib/**/*.py")])


def runtime_relpath(f: Path) -> str:
    return f.relative_to(RUNTIME_SRC).as_posix()


@lru_cache(maxsize=1)
def runtime_package() -> str:
    h = hashlib.sha256()
    for f in runtime_files():
        h.update(runtime_relpath(f).encode() + b"\0" + f.read_bytes() + b"\0")
    return f"runtime_{h.hexdigest()[:12]}"


def runtime_import(module_template: str) -> str:
    return module_template.replace("{runtime}", f"{SUPPORT_DIR}.{runtime_package()}")
