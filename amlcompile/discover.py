"""Finding pipelines: import the user's files with a build session active.

Found: every `@pipeline` function and module-level `Pipeline` object, and each pipeline a
script passes to `submit` or `publish` (those calls only register it during a build).
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
import traceback
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from . import notebook_source
from .dsl import session
from .dsl.decorators import PipelineDefinition
from .dsl.pipeline import Pipeline
from .exceptions import AmlCompileError, BuildError
from .ir.validate import Problem
from .sdk_compat import hook
from .text import did_you_mean, parameter_names

_PACKAGE_DIR = str(Path(__file__).resolve().parent)
ROOT_MARKERS = ("amlcompile.toml", "pyproject.toml", "setup.py", "setup.cfg", ".git")
# Folders a search of a directory does not enter (a path given by name is still read):
# tests and benchmarks (scripts that build pipelines to measure or test them), installed
# packages, virtual environments, build output and tool state. Hidden
# folders (.git, .venv, .tox, ...) and folders holding a pyvenv.cfg are skipped too.
SKIP_DIRS = {
    "__pycache__",
    "dags_out",
    "tests",
    "benchmarks",
    "site-packages",
    "dist-packages",
    "node_modules",
    "build",
    "dist",
    "htmlcov",
}
SOURCE_SUFFIXES = (".py", ".ipynb")
# Python's own library (argparse raising SystemExit, ...): never the user's line.
_LIBRARY_DIRS = tuple(
    {sysconfig.get_paths()[k] + os.sep for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)


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


def _builds_a_pipeline(text: str) -> bool:
    """Files that make pipelines: amlcompile's or SDK v1's. Step scripts are not imported."""
    if "@pipeline" in text and "amlcompile" in text:
        return True
    return "Pipeline(" in text and ("amlcompile" in text or "azureml" in text)


def _skip_dir(path: str, name: str) -> bool:
    return (
        name in SKIP_DIRS
        or name.startswith(".")
        or name.endswith(".egg-info")
        or os.path.isfile(os.path.join(path, "pyvenv.cfg"))  # a virtual environment
        or os.path.isdir(os.path.join(path, "conda-meta"))  # a conda environment
        or os.path.realpath(path) == _PACKAGE_DIR  # amlcompile itself, in a checkout
    )


def _walk_sources(folder: Path) -> list[Path]:
    """The .py and .ipynb files under `folder`, skipped folders not even listed."""
    out = []
    for path, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _skip_dir(os.path.join(path, d), d))
        out += [Path(path, n) for n in names if n.endswith(SOURCE_SUFFIXES)]
    return sorted(out)


def candidate_files(paths: list[Path]) -> tuple[list[Path], list[Problem]]:
    files, problems = [], []
    for p in paths:
        if p.is_file():
            if p.suffix not in SOURCE_SUFFIXES:
                problems.append(
                    Problem(
                        f"{p}: not a Python file or notebook; amlcompile reads pipelines from"
                        " .py files, .ipynb notebooks and folders holding them"
                    )
                )
                continue
            files.append(p.resolve())
        elif p.is_dir():
            for f in _walk_sources(p):
                text = f.read_text(encoding="utf-8", errors="replace")
                if _builds_a_pipeline(text):
                    files.append(f.resolve())
        else:
            problems.append(Problem(f"{p}: no such file or directory"))
    return sorted(dict.fromkeys(files)), problems


def _location_in(exc: BaseException, file: Path):
    """Where the user's code raised: its innermost frame outside amlcompile and Python's
    import machinery (a helper module of the project counts), else the built file."""
    from .ir.models import SourceLocation

    where = SourceLocation(file=str(file), line=0)
    for frame in traceback.extract_tb(exc.__traceback__):
        name = frame.filename
        if name.startswith(("<", _PACKAGE_DIR, sys.prefix, *_LIBRARY_DIRS)):
            continue
        where = SourceLocation(file=str(Path(name).resolve()), line=frame.lineno or 0)
    return where


def _syntax_problem(exc: SyntaxError, file: Path) -> Problem:
    """Where Python's parser stopped: the file (maybe a module the pipeline imports), the
    line and the column, as a one-line error."""
    from .ir.models import SourceLocation

    where = Path(exc.filename).resolve() if exc.filename else file
    column = f" (column {exc.offset})" if exc.offset else ""
    kind = type(exc).__name__.replace("Error", " error").lower()  # IndentationError too
    return Problem(
        f"{kind}: {exc.msg}{column}", SourceLocation(file=str(where), line=exc.lineno or 0)
    )


_UNEXPECTED_KEYWORD = re.compile(r"^([\w.]+)\(\) got an unexpected keyword argument '(\w+)'")


def _suggestion(exc: Exception) -> str:
    """ " (did you mean 'source_directory'?)" for a misspelled keyword argument of a call the
    user's code made: the callee is looked up in the calling frame's globals, then amlcompile."""
    match = _UNEXPECTED_KEYWORD.match(str(exc)) if isinstance(exc, TypeError) else None
    if match is None:
        return ""
    import amlcompile

    head, *rest = match.group(1).split(".")
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    scopes = [tb.tb_frame.f_globals] if tb is not None else []
    sdk = {head: getattr(amlcompile, head)} if head in amlcompile.__all__ else {}
    for scope in [*scopes, sdk]:
        target = scope.get(head)
        for part in rest:
            target = getattr(target, part, None)
        if target is not None:
            return did_you_mean(match.group(2), parameter_names(target))
    return ""


def project_root(file: Path) -> Path:
    """The nearest folder above `file` that holds the project's config or repository."""
    for folder in file.parents:
        if any((folder / m).exists() for m in ROOT_MARKERS):
            return folder
    return file.parent


def _runs_as_main(text: str) -> bool:
    return "__name__" in text and "__main__" in text


def _import(file: Path, index: int):
    """Runs the user's file as a build sees it: `azureml.*` resolves to amlcompile, the
    file's folder, the project root and the working directory are importable, and a script
    guarded by `if __name__ == "__main__":` runs as the main program (with no arguments)."""
    if file.suffix == ".ipynb":
        text = notebook_source.to_source(file)
        as_main = True  # a notebook's cells run top to bottom as __main__
    else:
        text = file.read_text(encoding="utf-8")
        as_main = _runs_as_main(text)
    code = compile(text, str(file), "exec", dont_inherit=True)
    name = "__main__" if as_main else f"_amlcompile_user_{index}_{file.stem}"
    module = types.ModuleType(name)
    module.__file__ = str(file)
    module.__builtins__ = __builtins__
    if file.suffix == ".ipynb":
        module.get_ipython = notebook_source.get_ipython
    extra = [str(file.parent), str(project_root(file)), str(Path.cwd())]
    saved_path, saved_argv = list(sys.path), list(sys.argv)
    saved_main = sys.modules.get("__main__")
    saved_modules = set(sys.modules)
    sys.path[:0] = list(dict.fromkeys(extra))
    sys.argv = [str(file)]
    sys.modules[name] = module
    saved_cwd = os.getcwd()
    if file.suffix == ".ipynb":
        os.chdir(file.parent)  # as Jupyter runs a notebook: in its folder
    try:
        with (
            hook.installed(),
            session.actions().during_build(session.current(), "requests" in text),
        ):
            exec(code, module.__dict__)
    except SystemExit as exc:
        if exc.code not in (None, 0):  # main() ending with sys.exit(0) built fine
            raise
    except Exception as exc:
        build = session.current()
        if build is None or not build.registered or not _raised_by_user_code(exc):
            raise
        # After `submit`/`publish` registered a pipeline, notebooks and scripts read the run's
        # results (`wait_for_completion`, `get_output_data(...).download`, ...), which a build
        # does not have: what was registered is built, the rest of the file is not run.
        warnings.warn_explicit(
            f"{type(exc).__name__}: {exc} (raised after the pipeline was submitted or"
            " published, where the code reads the run's results, which a build does not"
            " have; the rest of the file was not run, the pipelines registered before"
            " it are built)",
            AfterSubmitWarning,
            *_location_in(exc, file).model_dump().values(),
        )
    finally:
        os.chdir(saved_cwd)
        sys.path[:], sys.argv[:] = saved_path, saved_argv
        if as_main:
            sys.modules["__main__"] = saved_main
        # The project's own modules are imported afresh for the next file: two files may
        # each have a sibling `utils.py`.
        for added in set(sys.modules) - saved_modules:
            mod = sys.modules.get(added)
            if added != name and _is_project_module(mod, extra):
                del sys.modules[added]
    return module


def _raised_by_user_code(exc: BaseException) -> bool:
    """Raised by the user's code or a library it called, not by amlcompile (whose errors
    say what is wrong with the pipeline and stay errors)."""
    if isinstance(exc, AmlCompileError):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    return not (frames and frames[-1].filename.startswith(_PACKAGE_DIR))


class AfterSubmitWarning(UserWarning):
    """The user's file raised after it had submitted or published a pipeline."""


def _is_project_module(module, folders: list[str]) -> bool:
    origin = getattr(module, "__file__", None) or ""
    if not origin or origin.startswith((_PACKAGE_DIR, sys.prefix, sys.base_prefix)):
        return False
    return any(origin.startswith(f.rstrip("/") + "/") for f in folders)


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
            except notebook_source.NotebookError as exc:
                result.problems.append(Problem(str(exc)))
                continue
            except SystemExit as exc:
                result.problems.append(
                    Problem(
                        f"importing the file called sys.exit({exc.code})", _location_in(exc, file)
                    )
                )
                continue
            except SyntaxError as exc:  # the file itself, or a module of the project it imports
                result.problems.append(_syntax_problem(exc, file))
                continue
            except Exception as exc:  # the user's script raised: say where and what
                result.problems.append(
                    Problem(
                        f"importing the file failed: {type(exc).__name__}: {exc}"
                        + _suggestion(exc),
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
