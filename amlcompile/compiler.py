"""The Python API: check and build. Discover → capture (IR) → lower → render → write."""

from __future__ import annotations

import gc
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import config as config_mod
from . import credentials
from . import snapshot as snapshot_mod
from . import uploads as uploads_mod
from .discover import discover
from .dsl.capture import capture
from .dsl.session import Upload
from .exceptions import AmlCompileError, BuildError, UserErrorException
from .ir import models as ir
from .ir.validate import Problem
from .render import writer
from .render.bundle import (
    PIPELINE_INDEX,
    SUPPORT_DIR,
    runtime_files,
    runtime_package,
    runtime_relpath,
)
from .render.dag import render
from .targets import LoweringContext, LoweringError, lower_step, plan_task


@dataclass
class Compiled:
    pipeline: ir.Pipeline
    config: config_mod.ProjectConfig
    file: Path
    uploads: list[Upload] = field(default_factory=list)


@dataclass
class BuildResult:
    compiled: list[Compiled]
    out_dir: Path | None = None
    changes: dict = field(default_factory=dict)

    @property
    def pipelines(self) -> list[ir.Pipeline]:
        return [c.pipeline for c in self.compiled]


def check(paths: list[Path | str]) -> list[Compiled]:
    """Discover and validate; raises BuildError with every problem of every pipeline."""
    compiled, problems = check_each(paths)
    if problems:
        raise BuildError(problems)
    _warn_unmatched_step_settings(compiled)
    return compiled


def check_each(paths: list[Path | str]) -> tuple[list[Compiled], list[Problem]]:
    """Discover and validate, pipeline by pipeline: those that compile, and the problems of
    the others (`run NAME` needs only its own pipeline to compile)."""
    snapshot_mod.use_cache_dir(cache_dir(paths))
    try:
        return _check(paths)
    finally:
        snapshot_mod.save_caches()


def cache_dir(paths: list[Path | str]) -> Path:
    """The digest cache of the project the first path belongs to (the folder of its config,
    as `Workspace.from_config()` finds it), never the working directory's."""
    first = Path(paths[0]) if paths else Path.cwd()
    start = first if first.is_dir() else first.parent
    return config_mod.find_root(start) / config_mod.STATE_DIR / "cache"


def _check(paths: list[Path | str]) -> tuple[list[Compiled], list[Problem]]:
    found = discover([Path(p) for p in paths])
    problems: list[Problem] = list(found.problems)
    compiled: list[Compiled] = []
    names: dict[str, Path] = {}
    for f in found.found:
        try:
            p = capture(f.pipeline, f.name)
            p = _with_schedule(p, f.pipeline)
            p = _with_failure_mode(p, f.pipeline)
        except BuildError as exc:
            problems += exc.problems
            continue
        if p.name in names:
            problems.append(
                Problem(
                    f"two pipelines compile to the same DAG id {p.name!r} (the"
                    f" other is in {names[p.name]})",
                    p.location,
                )
            )
            continue
        names[p.name] = f.file
        compiled.append(
            Compiled(p, f.pipeline.workspace._config, f.file, found.uploads.get(str(f.file), []))
        )
    if not compiled and not problems:
        problems.append(
            Problem(
                "no pipelines found (looked for @pipeline functions, module-level"
                " Pipeline objects and submitted or published pipelines)"
            )
        )
    return compiled, problems


def _warn_unmatched_step_settings(compiled: list[Compiled]) -> None:
    """A `[dag.steps.NAME]` of the config that names no step built: a typo, most likely."""
    import warnings

    if not compiled:
        return
    cfg = compiled[0].config
    names = {n for c in compiled for s in c.pipeline.steps for n in (s.name, s.display_name) if n}
    for key in sorted(set(cfg.dag.steps) - names):
        warnings.warn(
            f"{cfg.source or 'config'}: dag.steps.{key}: no step of the pipelines built is"
            f" named {key!r}; these settings apply to nothing",
            UserWarning,
            stacklevel=2,
        )


def _with_failure_mode(p: ir.Pipeline, pipeline) -> ir.Pipeline:
    """continue_on_step_failure from submit/publish/Schedule.create, into the IR."""
    noted = getattr(pipeline, "_continue_on_step_failure", None)
    if noted is None:
        return p
    return p.model_copy(update={"continue_on_step_failure": noted[0]})


def _with_schedule(p: ir.Pipeline, pipeline) -> ir.Pipeline:
    """The recurrence from Schedule.create or @pipeline(schedule=...), into the IR."""
    from .dsl.schedule import to_ir, watch_to_ir

    watch = getattr(pipeline, "_datastore_trigger", None)
    if watch is not None:
        types = {x.name: x.type for x in p.parameters}
        data_paths: dict[str, set[str]] = {}  # DataPath parameter → datastores it names paths on
        for s in p.steps:
            for port in s.inputs:
                if isinstance(port.source, ir.DatastoreSource) and port.source.param:
                    data_paths.setdefault(port.source.param, set()).add(port.source.datastore)
        try:
            trigger = watch_to_ir(watch, types, pipeline.workspace._config, data_paths)
        except UserErrorException as exc:
            raise BuildError([Problem(str(exc))]) from None
        p = p.model_copy(update={"datastore_trigger": trigger})
    value = getattr(pipeline, "_schedule", None)
    if value is None:
        return p
    name, description, where = getattr(pipeline, "_schedule_meta", (None, None, None))
    location = where or (p.location.file, p.location.line)
    try:
        schedule = to_ir(value, location, name, description)
    except UserErrorException as exc:
        raise BuildError([Problem(str(exc))]) from None
    return p.model_copy(update={"schedule": schedule})


def _snapshot_present(out_dir: Path | None, snapshot: ir.Snapshot) -> bool:
    """Whether dags_out already holds every file of this snapshot.

    A snapshot folder is named by its content and written once; each of its files arrives by
    an atomic rename, so a file that exists is whole. Checking presence (one stat per file)
    spares every rebuild from reading the source tree and the copy again.
    """
    if out_dir is None:
        return False
    base = out_dir / SUPPORT_DIR / "snapshots" / snapshot.id
    names = [f.path for f in snapshot.files] + [name for name, _ in snapshot.generated]
    return base.is_dir() and all(os.path.isfile(base / name) for name in names)


def _snapshot_files(step: ir.Step) -> dict[str, tuple[bytes, bool]]:
    base = f"{SUPPORT_DIR}/snapshots/{step.snapshot.id}"
    out: dict[str, tuple[bytes, bool]] = {}
    src = Path(step.snapshot.source_directory) if step.snapshot.source_directory else None
    for f in step.snapshot.files:
        data = (src / f.path).read_bytes()
        if snapshot_mod.data_digest(data) != f.digest:
            raise BuildError(
                [Problem(f"{src / f.path} changed while building; build again", step.location)]
            )
        out[f"{base}/{f.path}"] = (data, f.executable)
    for name, text in step.snapshot.generated:
        out[f"{base}/{name}"] = (text.encode(), False)
    return out


def render_files(
    compiled: list[Compiled],
    force_local: bool = False,
    template: Path | None = None,
    out_dir: Path | None = None,
) -> tuple[dict, set[str]]:
    """Every file of `out_dir` (relative path → (bytes, executable)) and the support folders
    it owns. Snapshots `out_dir` already holds whole are owned but not read again."""
    files: dict[str, tuple[bytes, bool]] = {}
    owned: set[str] = set()
    problems: list[Problem] = []
    for c in compiled:
        ctx = LoweringContext(config=c.config, force_local=force_local)
        tasks = [plan_task(c.pipeline)]
        for s in c.pipeline.steps:
            try:
                tasks.append(lower_step(c.pipeline, s, ctx))
            except LoweringError as exc:
                problems.append(Problem(str(exc)))
                continue
            folder = f"{SUPPORT_DIR}/snapshots/{s.snapshot.id}"
            if folder not in owned and not _snapshot_present(out_dir, s.snapshot):
                files.update(_snapshot_files(s))
            owned.add(folder)
        problems += _task_id_clashes(c.pipeline, tasks)
        if problems:
            continue
        files[f"{c.pipeline.name}.py"] = (_render(c.pipeline, tasks, template), False)
    if problems:
        raise BuildError(problems)
    package = f"{SUPPORT_DIR}/{runtime_package()}"
    owned.add(package)
    for f in runtime_files():
        files[f"{package}/{runtime_relpath(f)}"] = (f.read_bytes(), False)
    # Which DSL `Pipeline(...)` became which DAG: `Experiment.submit` outside a build finds
    # the deployed DAG of the pipeline it is given, whatever name the build chose.
    index = {str(c.pipeline.location): c.pipeline.name for c in compiled}
    files[f"{SUPPORT_DIR}/{PIPELINE_INDEX}"] = (
        (json.dumps(index, indent=1, sort_keys=True) + "\n").encode(),
        False,
    )
    # What deploy (and run) upload before the DAGs appear: sources by path and digest.
    files[uploads_mod.MANIFEST_REL] = (uploads_mod.manifest_for(compiled), False)
    return files, owned


def _task_id_clashes(p: ir.Pipeline, tasks) -> list[Problem]:
    """A step run as several tasks names them after itself (`score__split`, `tune__trial`):
    a step of that name elsewhere in the pipeline would be a second task with that id."""
    owner: dict[str, str] = {}
    problems = []
    for spec in tasks:
        for t in (*spec.before, spec):
            step = t.of_step or t.task_id
            if t.task_id in owner and owner[t.task_id] != step:
                other = owner[t.task_id]
                clash = step if t.of_step is None else other
                helper_of = other if t.of_step is None else step
                problems.append(
                    Problem(
                        f"step {clash!r}: its name is the task id amlcompile gives a task of"
                        f" step {helper_of!r} ({t.task_id!r}); rename one of them",
                        p.step(clash).location,
                    )
                )
            owner.setdefault(t.task_id, step)
    return problems


def _render(p: ir.Pipeline, tasks, template: Path | None) -> bytes:
    """The DAG source; a replacement template's mistakes are the user's, said in one line."""
    if template is None:
        return render(p, tasks, None)
    import jinja2

    try:
        return render(p, tasks, template)
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or template}:{exc.lineno}"
        raise AmlCompileError(f"--template {where}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise AmlCompileError(
            f"--template {template}: rendering pipeline {p.name!r} failed:"
            f" {type(exc).__name__}: {exc}"
        ) from None
    except SyntaxError as exc:
        raise AmlCompileError(
            f"--template {template}: the DAG file it makes for pipeline {p.name!r} is not valid"
            f" Python (line {exc.lineno}: {exc.msg})"
        ) from None


def check_template(template: Path | None) -> None:
    """A replacement DAG template must be a readable file (checked before any work)."""
    if template is None:
        return
    path = Path(template)
    if not path.exists():
        raise AmlCompileError(f"--template {template}: no such file")
    if not path.is_file():
        raise AmlCompileError(f"--template {template}: not a file (give a Jinja2 template file)")
    try:
        path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AmlCompileError(f"--template {template}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise AmlCompileError(f"--template {template}: not a UTF-8 text file") from None


def build(
    paths: list[Path | str],
    out_dir: Path | str | None = None,
    force_local: bool = False,
    template: Path | None = None,
    progress=None,
) -> BuildResult:
    """Compile every pipeline found under `paths` into `out_dir` (default: config's dags_out).

    Nothing is written unless every pipeline compiles. `progress(line)` hears about long
    work (writing thousands of files).
    """
    check_template(template)
    with _fewer_collections():
        compiled = check(paths)
        target = Path(out_dir).resolve() if out_dir else compiled[0].config.dags_out_path
        files, owned = render_files(compiled, force_local, template, out_dir=target)
        configs = list({id(c.config): c.config for c in compiled}.values())
        secrets = credentials.known_secrets(configs)
        changes = writer.apply(
            target, files, owned, owner_of(compiled[0].config), secrets, progress=progress
        )
    return BuildResult(compiled, target, changes)


@contextmanager
def _fewer_collections():
    """A build makes millions of small objects that live to its end (IR, task specs), and
    each collection of the cycle collector walked all of them: a tenth of a 10,000-step
    build. What exists before it starts (the modules) is frozen out of the collector's way,
    young collections run after 20,000 allocations instead of 700, and no full collection
    runs (each walks every object made so far: their count grew faster than the steps,
    1.1 s of a 50,000-step build). Young cycles, the user code's included, are still
    collected; peak memory was the same without any collection at all."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(20_000, thresholds[1], 1_000_000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def owner_of(config: config_mod.ProjectConfig) -> writer.Owner:
    """The project that owns what this build or deploy writes (see render/writer.py)."""
    return writer.Owner(config.project_id, str(Path(config.root).resolve()))
