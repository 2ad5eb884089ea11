"""Finding pipelines: import the user's files with a build session active.

Found: every `@pipeline` function and module-level `Pipeline` object, and each pipeline a
script passes to `submit` or `publish` (those calls only register it during a build).
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .dsl import session
from .dsl.decorators import PipelineDefinition
from .dsl.pipeline import Pipeline
from .exceptions import BuildError
from .ir.validate import Problem

SKIP_DIRS = {"__pycache__", "dags_out", ".amlcompile", ".git", ".venv", "node_modules"}


@dataclass
class Found:
    pipeline: Pipeline
    name: str
    file: Path


@dataclass
class Discovery:
    found: list[Found] = field(default_factory=list)
    uploads: dict[str, list[session.Upload]] = field(default_factory=dict)  # by file
    problems: list[Problem] = field(default_factory=list)


def candidate_files(paths: list[Path]) -> tuple[list[Path], list[Problem]]:
    files, problems = [], []
    for p in paths:
        if p.is_file():
            files.append(p.resolve())
        elif p.is_dir():
            for f in sorted(p.rglob("*.py")):
                if any(
                    part in SKIP_DIRS or part.startswith(".")
                    for part in f.relative_to(p).parts[:-1]
                ):
                    continue
                # Step scripts are not imported: only files that use amlcompile's pipelines.
                text = f.read_text(encoding="utf-8", errors="replace")
                if "amlcompile" in text and ("Pipeline(" in text or "@pipeline" in text):
                    files.append(f.resolve())
        else:
            problems.append(Problem(f"{p}: no such file or directory"))
    return sorted(dict.fromkeys(files)), problems


def _location_in(exc: BaseException, file: Path):
    from .ir.models import SourceLocation

    line = 0
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == file:
            line = frame.lineno or 0
    return SourceLocation(file=str(file), line=line)


def _import(file: Path, index: int):
    name = f"_amlcompile_user_{index}_{file.stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(file.parent))  # scripts import their siblings
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(file.parent))
    return module


def discover(paths: list[Path]) -> Discovery:
    result = Discovery()
    files, result.problems = candidate_files(paths)
    for index, file in enumerate(files):
        with session.build_session() as build:
            try:
                module = _import(file, index)
            except BuildError as exc:
                result.problems += exc.problems
                continue
            except SystemExit as exc:
                result.problems.append(
                    Problem(
                        f"importing the file called sys.exit({exc.code})", _location_in(exc, file)
                    )
                )
                continue
            except Exception as exc:  # the user's script raised: say where and what
                result.problems.append(
                    Problem(
                        f"importing the file failed: {type(exc).__name__}: {exc}",
                        _location_in(exc, file),
                    )
                )
                continue
        if build.uploads:
            result.uploads[str(file)] = list(build.uploads)
        names: dict[int, str] = {}
        objects: list[Pipeline] = []
        for pipe, registered in build.registered:
            objects.append(pipe)
            if registered:
                names[id(pipe)] = registered
        for var, value in sorted(vars(module).items()):
            if isinstance(value, Pipeline):
                if id(value) not in {id(o) for o in objects}:
                    objects.append(value)
                names.setdefault(id(value), var)
            elif isinstance(value, PipelineDefinition) and Path(value.file).resolve() == file:
                try:
                    built = value.build()
                except BuildError as exc:
                    result.problems += exc.problems
                    continue
                except Exception as exc:
                    result.problems.append(
                        Problem(
                            f"pipeline {value.name!r}: its body raised {type(exc).__name__}: {exc}",
                            _location_in(exc, file),
                        )
                    )
                    continue
                objects.append(built)
                names[id(built)] = value.name
        for pipe in objects:
            name = (
                pipe.name
                or names.get(id(pipe))
                or getattr(pipe, "_experiment_name", None)
                or file.stem
            )
            result.found.append(Found(pipe, name, file))
    return result
