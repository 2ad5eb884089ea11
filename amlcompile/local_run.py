"""`amlcompile run`: compile one pipeline and run it end to end in an embedded Airflow.

The embedded Airflow lives under `.amlcompile/airflow` (SQLite), the DAGs it runs under
`.amlcompile/run/dags` (never the deployable dags_out/), local datastores under
`.amlcompile/datastores`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .compiler import Compiled, check, owner_of, render_files
from .exceptions import AmlCompileError
from .ir import models as ir
from .render import writer
from .runtime.reuse import CONTINUE_PARAM, PLAN_TASK_ID, REGENERATE_PARAM


class RunError(AmlCompileError):
    pass


@dataclass
class RunResult:
    pipeline: ir.Pipeline
    state: str
    run_id: str | None
    steps: list[dict]
    log_file: Path
    raw: dict

    @property
    def succeeded(self) -> bool:
        return self.state == "success"


def parse_params(p: ir.Pipeline, pairs: list[str]) -> dict:
    """`name=value` strings → typed conf values, refusing unknown names and bad values."""
    types = {x.name: x.type for x in p.parameters}
    conf = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise RunError(f"--param {pair!r}: expected name=value")
        if name not in types:
            known = ", ".join(sorted(types)) or "none"
            raise RunError(
                f"--param {name}: pipeline {p.name!r} has no such parameter (parameters: {known})"
            )
        conf[name] = convert(name, types[name], text)
    return conf


def convert(name: str, kind: str, text: str):
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind == "boolean":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
    except ValueError:
        raise RunError(f"--param {name}: {text!r} is not a valid {kind}") from None
    return text


def select(target: str) -> Compiled:
    path = Path(target)
    if path.exists():
        compiled = check([path])
        if len(compiled) > 1:
            names = ", ".join(c.pipeline.name for c in compiled)
            raise RunError(f"{target} holds several pipelines ({names}); give one name")
        return compiled[0]
    compiled = check([Path.cwd()])
    for c in compiled:
        if c.pipeline.name == target:
            return c
    names = ", ".join(sorted(c.pipeline.name for c in compiled)) or "none"
    raise RunError(f"no pipeline file or pipeline named {target!r} (pipelines here: {names})")


def _airflow_env(home: Path, dags: Path) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        }
    )
    return env


def _ensure_airflow() -> None:
    try:
        import importlib.util

        if importlib.util.find_spec("airflow") is None:
            raise ImportError
    except ImportError:
        raise RunError(
            "running needs Airflow: pip install 'amlcompile[airflow]' -c"
            " constraints/constraints-3.11.txt"
        ) from None


def run_compiled(
    c: Compiled,
    conf: dict,
    force_local: bool = False,
    verbose: bool = False,
    airflow_home: Path | None = None,
) -> RunResult:
    _ensure_airflow()
    state_dir = c.config.state_dir
    # Each embedded Airflow home gets its own DAGs folder (two runs at once must not race).
    dags = ((airflow_home / "dags") if airflow_home else state_dir / "run" / "dags").resolve()
    files, owned = render_files([c], force_local=force_local, out_dir=dags)
    # Its recorded uploads are made by the child (the same code as deploy's), which has
    # Airflow's object storage and this Airflow's connections at hand.
    writer.apply(dags, files, owned, owner_of(c.config))
    home = (airflow_home or state_dir / "airflow").resolve()
    env = _airflow_env(home, dags)
    log_dir = home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"run-{c.pipeline.name}-{time.strftime('%Y%m%dT%H%M%S')}.log"
    with open(log_file, "w") as log:
        out = None if verbose else log
        if not (home / "airflow.db").exists():
            print("Preparing the embedded Airflow (first run only)...", flush=True)
            code = subprocess.call(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
            )
            if code != 0:
                raise RunError(f"could not initialise the embedded Airflow; see {log_file}")
        result_file = log_dir / f".result-{os.getpid()}.json"
        subprocess.call(
            [
                sys.executable,
                "-m",
                "amlcompile.embedded",
                "--dag-id",
                c.pipeline.name,
                "--conf",
                json.dumps(conf),
                "--result",
                str(result_file),
                "--dags-folder",
                str(dags),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
        )
    try:
        raw = json.loads(result_file.read_text())
        result_file.unlink()
    except (OSError, ValueError):
        raise RunError(f"the embedded Airflow stopped without a result; see {log_file}") from None
    if raw["state"] == "import_error":
        errors = "; ".join(
            f"{k}: {v.strip().splitlines()[-1]}" for k, v in raw["import_errors"].items()
        )
        raise RunError(f"Airflow could not import the generated DAG: {errors}")
    for line in raw.get("uploads") or []:
        print(line, flush=True)
    if raw["state"] == "upload_error":
        raise RunError(raw["error"])
    if raw["state"] == "error":
        raise RunError(f"the run could not start: {raw['error']} (log: {log_file})")
    order = {s.name: i for i, s in enumerate(c.pipeline.steps)}
    plan = raw.get("plan") or {}
    steps = []
    for entry in raw.get("steps", []):
        if entry["task_id"] == PLAN_TASK_ID:
            continue
        planned = plan.get(entry["task_id"]) or {}
        result = entry.get("result") or {}
        if planned.get("reuse") and not result:
            result = {"outputs": planned.get("outputs"), "reused_from": planned.get("reused_from")}
        entry["result"] = result
        entry["metrics"] = entry.get("metrics") or planned.get("metrics") or {}
        entry["fingerprint"] = planned.get("fingerprint")
        entry["reused_from"] = result.get("reused_from") if entry["state"] == "skipped" else None
        steps.append(entry)
    steps.sort(key=lambda s: order[s["task_id"]])
    return RunResult(c.pipeline, raw["state"], raw.get("run_id"), steps, log_file, raw)


def print_result(r: RunResult, stream=sys.stdout) -> None:
    print(f"Run {r.run_id} of {r.pipeline.name}: {r.state}", file=stream)
    width = max([len(s["task_id"]) for s in r.steps] + [4])
    for s in r.steps:
        duration = f"{s['duration']:.1f}s" if s.get("duration") is not None else "-"
        state = s["state"]
        if s.get("reused_from"):
            state = f"reused from {s['reused_from'].get('run_id')}"
        print(f"  {s['task_id']:<{width}}  {state:<16} {duration:>7}", file=stream)
        result = s.get("result") or {}
        for name, path in sorted((result.get("outputs") or {}).items()):
            print(f"  {'':<{width}}    output {name}: {path}", file=stream)
        print_metrics(s.get("metrics") or {}, f"  {'':<{width}}    ", stream)
        if s["state"] == "success":
            for line in (result.get("log_tail") or [])[-3:]:
                print(f"  {'':<{width}}    | {line}", file=stream)
    reused = sum(1 for s in r.steps if s.get("reused_from"))
    if reused:
        print(
            f"{reused} of {len(r.steps)} steps reused earlier results"
            " (--regenerate-outputs reruns them)",
            file=stream,
        )
    if not r.succeeded:
        print(f"Task logs: {r.log_file}", file=stream)


def print_metrics(metrics: dict, indent: str, stream) -> None:
    """What a step logged with Run.get_context(): metrics, tags, and what it logged on
    `run.parent` (the pipeline run), one line each."""
    for prefix, part in (("", metrics), ("parent ", metrics.get("parent") or {})):
        for name, value in sorted((part.get("metrics") or {}).items()):
            print(f"{indent}{prefix}metric {name}: {_short(value)}", file=stream)
        for name, value in sorted((part.get("tags") or {}).items()):
            print(f"{indent}{prefix}tag {name}: {_short(value)}", file=stream)


def _short(value) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 120 else text[:117] + "..."


def run_pipeline_object(
    pipeline, file, experiment_name, pipeline_parameters, regenerate, continue_on_step_failure=None
):
    """`Experiment.submit` outside a build: compile this pipeline and run it right away."""
    from .dsl.capture import capture

    name = pipeline.name or experiment_name or Path(file).stem
    # Outside a build, upload_files already copied the data: there are no deferred uploads.
    c = Compiled(capture(pipeline, name), pipeline.workspace._config, Path(file))
    from .dsl.dataset import trigger_value

    conf = {name: trigger_value(value) for name, value in (pipeline_parameters or {}).items()}
    if regenerate:
        conf[REGENERATE_PARAM] = True
    if continue_on_step_failure is not None:
        conf[CONTINUE_PARAM] = continue_on_step_failure
    result = run_compiled(c, conf)
    return SubmittedRun(result)


class SubmittedRun:
    """A finished embedded run with the PipelineRun methods scripts call."""

    def __init__(self, result: RunResult):
        self._result = result
        self.id = result.run_id

    def wait_for_completion(self, show_output=True, timeout_seconds=None, raise_on_error=True):
        if show_output:
            print_result(self._result)
        if raise_on_error and not self._result.succeeded:
            raise RunError(f"pipeline run {self.id} finished {self._result.state}")
        return "Finished" if self._result.succeeded else "Failed"

    def get_status(self):
        return "Finished" if self._result.succeeded else "Failed"

    def get_steps(self):
        return list(self._result.steps)

    def publish_pipeline(self, name, description=None, version=None, **kwargs):
        raise RunError(
            "publishing needs Airflow's REST API (`amlcompile publish`), which is not available yet"
        )
