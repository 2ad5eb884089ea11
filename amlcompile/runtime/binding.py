"""Data binding: typed argument tokens and ports → concrete values and paths at run time."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Code snapshots travel beside the runtime package: dags_out/_amlcompile/snapshots/<id>/.
SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"


class StepError(RuntimeError):
    """A step could not be prepared or failed; the message names the step."""


def snapshot_folder(step: dict) -> Path:
    """The step's code snapshot on the worker; missing means a partial deployment."""
    folder = SNAPSHOTS / step["snapshot"]
    if not folder.is_dir():
        raise StepError(
            f"step {step['name']!r}: code snapshot {folder} is missing;"
            " redeploy the whole dags_out/ folder"
        )
    return folder


_SIZE = re.compile(r"\s*(\d+)\s*([KMGT]?B?)\s*", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(value) -> int | None:
    """A ParallelRunStep's mini_batch_size for tabular data: bytes as 1024, "1024KB", "10MB",
    "1GB" (KB = 1024 bytes, as Azure ML read it); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    match = _SIZE.fullmatch(str(value))
    if not match:
        return None
    return int(match.group(1)) * _UNITS[match.group(2).upper().rstrip("B")]


def safe_segment(text: str) -> str:
    """A run id or name usable as one path segment (run ids contain ':' and '+').

    Never `.` or `..`: a run id chosen at trigger time must not climb out of its folder.
    """
    clean = _UNSAFE.sub("_", str(text)).strip("_")
    return "_" if clean.strip(".") == "" else clean


def as_text(value, what: str, step: str) -> str:
    """A value for argv or the environment: NUL and lone surrogates cannot be passed on."""
    text = str(value)
    if "\x00" in text:
        raise StepError(f"step {step!r}: {what} contains a NUL character; it cannot be passed on")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise StepError(f"step {step!r}: {what} is not valid Unicode text") from None
    return text


def inside_datastore(path: str) -> str | None:
    """`path` with forward slashes if it stays inside its datastore (relative, no `..`, no
    NUL), else None. The one check for every path a run is given."""
    clean = path.replace("\\", "/")
    if clean.startswith("/") or ".." in clean.split("/") or "\x00" in clean:
        return None
    return clean


def input_path(port: dict, params: dict, step: str) -> str:
    """The path on the datastore of a datastore input: fixed, or a pipeline parameter's value
    (a DataPath chosen at trigger time), which must stay inside the datastore."""
    name = port.get("param")
    if not name:
        return port["path"]
    value = params.get(name, port["path"])
    if not isinstance(value, str):
        raise StepError(f"step {step!r}: data path parameter {name!r} must be a string")
    path = inside_datastore(value.strip())
    if path is None:
        raise StepError(
            f"step {step!r}: data path parameter {name!r} = {value!r} must be a relative path"
            " inside its datastore"
        )
    return path


# What a step payload leaves out when it is the default (the DAG file's STEPS table is lean).
STEP_DEFAULTS = {"params": [], "arguments": [], "inputs": [], "outputs": [], "env": []}


def expand_step(step: dict, name: str | None = None) -> dict:
    """A step payload as the DAG file's STEPS table writes it (keyed by the step's name,
    defaults left out) → with every key the runtime reads: the name, empty lists,
    allow_reuse=True, the record datastore (its first output's, when not written). A new
    dict: the table is left as it is."""
    full = {**STEP_DEFAULTS, "allow_reuse": True, **step}
    if name is not None:
        full.setdefault("name", name)
    if "record_datastore" not in full and full["outputs"]:
        full["record_datastore"] = full["outputs"][0]["datastore"]
    return full


def step_doc(step: dict) -> str:
    """A step task's doc_md, from its payload: what it is, where the DSL defined it, its reuse
    settings and code snapshot (shown in the task's Docs panel)."""
    reuse = "reuse allowed" if step["allow_reuse"] else "reuse disabled (allow_reuse=False)"
    source = step.get("source") or {}
    parts = [
        f"**{step['name']}**: {step['kind'].replace('_', ' ')}",
        f"defined at `{source.get('location')}`",
        reuse,
        f"code snapshot `{step.get('snapshot')}`",
    ]
    if step.get("hash_paths"):
        parts.append("hash_paths " + ", ".join(f"`{h}`" for h in step["hash_paths"]))
    if step.get("version"):
        parts.append(f"version `{step['version']}`")
    if step.get("distributed"):
        d = step["distributed"]
        parts.append(
            f"distributed ({d['kind']}): {d.get('node_count', 1)} nodes x"
            f" {d.get('process_count_per_node', 1)} processes"
        )
    return "; ".join(parts)


def render_token(token, params: dict, ports: dict[str, str], step: str) -> str:
    """One argument as the string the program receives (never parsed by a shell): a plain
    value is a literal; {"param": name} and {"port": name} are bound at run time."""
    if not isinstance(token, dict):
        return as_text(token, "an argument", step)
    if "literal" in token:
        return as_text(token["literal"], "an argument", step)
    if "param" in token:
        name = token["param"]
        if name not in params:
            raise StepError(f"step {step!r}: pipeline parameter {name!r} has no value")
        return as_text(params[name], f"the value of pipeline parameter {name!r}", step)
    if "port" in token:
        return ports[token["port"]]
    raise StepError(f"step {step!r}: malformed argument token {token!r}")


def bind_input(port: dict, source_path: Path, workdir: Path) -> str:
    if not source_path.exists():
        raise StepError(f"input {port['name']!r}: {source_path} does not exist")
    if port.get("mode") != "download":
        return str(source_path)
    target = workdir / (port.get("path_on_compute") or f"inputs/{port['name']}")
    if source_path.is_dir():
        target = target if port.get("path_on_compute") else target
        shutil.copytree(source_path, target, dirs_exist_ok=True)
        return str(target)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source_path, target / source_path.name)
    return str(target / source_path.name)
