"""`amlcompile run`: compile one pipeline and run it end to end in an embedded Airflow.

The embedded Airflow lives under `.amlcompile/airflow` (SQLite), the DAGs it runs under
`.amlcompile/run/<dag id>/` (never the deployable dags_out/), local datastores under
`.amlcompile/datastores`, a record of each run (for `status` and `logs`) under
`.amlcompile/runs/`.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import credentials
from .compiler import Compiled, check, check_each, owner_of, render_files
from .console import Console, elapsed, safe
from .embedded import EVENTS_ENV
from .exceptions import AmlCompileError, BuildError
from .ir import models as ir
from .render import writer
from .runtime.binding import safe_segment
from .runtime.reuse import CONTINUE_PARAM, PLAN_TASK_ID, REGENERATE_PARAM


class RunError(AmlCompileError):
    pass


@dataclass
class RunResult:
    pipeline: ir.Pipeline
    state: str
    run_id: str | None
    steps: list[dict]
    log_file: Path | None
    raw: dict
    airflow: bool = True  # False: every step was reused and no Airflow run was started
    planner_error: list[str] = field(default_factory=list)
    planner_log: list | None = None

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
    # By name: only that pipeline must compile; another file's errors are no reason to refuse
    # (they are reported when the name is not found: it may be the pipeline that failed).
    compiled, problems = check_each([Path.cwd()])
    for c in compiled:
        if c.pipeline.name == target:
            if problems:
                print(
                    f"note: {len(problems)} problem(s) in other pipeline files here; run"
                    " `amlcompile check .` to see them",
                    file=sys.stderr,
                )
            return c
    if problems:
        raise BuildError(problems)
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


INITIALISED = ".amlcompile-initialised"  # written after `airflow db migrate` succeeded


def _new_log(log_dir: Path, name: str) -> Path:
    """A log file of this run alone: two runs started in the same second get two files."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    while True:
        path = (
            log_dir / f"run-{safe_segment(name)}-{stamp}-{os.getpid()}-{secrets.token_hex(2)}.log"
        )
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return path
        except FileExistsError:
            continue


def _initialise(home: Path, env: dict, log_file: Path, out: Console, verbose: bool) -> None:
    """`airflow db migrate` once per embedded Airflow, under a lock: a second run started
    meanwhile waits for the first to finish it instead of migrating the same database."""
    if (home / INITIALISED).exists():
        return
    with open(home / ".init.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            out.line("Waiting for another amlcompile run to prepare the embedded Airflow...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if (home / INITIALISED).exists():
            return
        out.line(
            "Preparing the embedded Airflow (first run only: creating its database in"
            f" {home}; about 10-30 s)..."
        )
        started = time.monotonic()
        with open(log_file, "a") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=env,
                stdout=None if verbose else log,
                stderr=None if verbose else subprocess.STDOUT,
            )
            while proc.poll() is None:
                out.status(f"preparing the embedded Airflow {elapsed(time.monotonic() - started)}")
                time.sleep(0.2)
        out.clear_status()
        if proc.returncode != 0:
            raise RunError(f"could not initialise the embedded Airflow; see {log_file}")
        (home / INITIALISED).write_text(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        out.line(f"Embedded Airflow ready ({elapsed(time.monotonic() - started)}).")


def run_dags_folder(c: Compiled, airflow_home: Path | None = None) -> Path:
    """The DAGs folder of a run: one per pipeline (`.amlcompile/run/<dag id>/`), since writing
    one pipeline's files removes the DAG files of the project's other pipelines from its
    folder, and two runs of two pipelines may be under way at once; an explicit Airflow home
    has its own."""
    if airflow_home is not None:
        return (airflow_home / "dags").resolve()
    return (c.config.state_dir / "run" / safe_segment(c.pipeline.name)).resolve()


def run_compiled(
    c: Compiled,
    conf: dict,
    force_local: bool = False,
    verbose: bool = False,
    airflow_home: Path | None = None,
    console: Console | None = None,
    plan_first: bool = True,
) -> RunResult:
    """Compile `c` into the embedded Airflow's DAGs folder and run it, showing the run as it
    happens on `console` (stdout by default).

    plan_first: when no step would run (every step reusable, nothing changed, local
    datastores only), report the reused results without starting Airflow at all; the
    result says so (`airflow` False) and no Airflow run exists.
    """
    _ensure_airflow()
    out = console if console is not None else Console()
    state_dir = c.config.state_dir
    dags = run_dags_folder(c, airflow_home)
    files, owned = render_files([c], force_local=force_local, out_dir=dags)
    # Its recorded uploads are made by the child (the same code as deploy's), which has
    # Airflow's object storage and this Airflow's connections at hand.
    # The secrets the config names (password_env, ...) are refused in what is written, as by build.
    writer.apply(dags, files, owned, owner_of(c.config), credentials.known_secrets([c.config]))
    home = (airflow_home or state_dir / "airflow").resolve()
    uploaded: list[str] | None = None
    if plan_first:
        reused = plan_without_airflow(c, conf, dags, out)
        if isinstance(reused, RunResult):
            _save(reused, state_dir)
            return reused
        uploaded = reused
        for line in uploaded or []:
            out.line(safe(line))
    env = _airflow_env(home, dags)
    log_file = _new_log(home / "logs", c.pipeline.name)
    _initialise(home, env, log_file, out, verbose)
    events = log_file.with_suffix(".events")
    events.touch()
    env[EVENTS_ENV] = str(events)
    result_file = log_file.with_suffix(".result.json")
    argv = [
        sys.executable,
        "-m",
        "amlcompile.embedded",
        "--dag-id",
        c.pipeline.name,
        "--conf",
        json.dumps(conf),
        "--result",
        str(result_file),
    ]
    if uploaded is None:  # not made here already: the child makes them
        argv += ["--dags-folder", str(dags)]
    view = LiveView(out, [s.name for s in c.pipeline.steps])
    try:
        with open(log_file, "a") as log:
            proc = subprocess.Popen(
                argv,
                env=env,
                stdout=None if verbose else log,
                stderr=None if verbose else subprocess.STDOUT,
            )
            try:
                _follow(proc, events, view)
            except BaseException:
                proc.terminate()
                proc.wait()
                raise
    finally:
        out.clear_status()
    try:
        raw = json.loads(result_file.read_text())
        result_file.unlink()
        events.unlink(missing_ok=True)
    except (OSError, ValueError):
        tail = "".join(f"\n  | {safe(line)}" for line in _tail(log_file, 8))
        raise RunError(
            f"the embedded Airflow stopped without a result (exit code {proc.returncode});"
            f" the end of its log {log_file}:{tail}"
        ) from None
    if raw["state"] == "import_error":
        errors = "; ".join(
            f"{k}: {v.strip().splitlines()[-1]}" for k, v in raw["import_errors"].items()
        )
        raise RunError(f"Airflow could not import the generated DAG: {errors}")
    if raw["state"] == "missing":
        found = ", ".join(raw.get("dags") or []) or "none"
        raise RunError(
            f"the embedded Airflow found no DAG {c.pipeline.name!r} in {dags} (found: {found});"
            f" see {log_file}"
        )
    if raw["state"] == "upload_error":
        raise RunError(raw["error"])
    if raw["state"] == "error":
        raise RunError(f"the run could not start: {raw['error']} (log: {log_file})")
    order = {s.name: i for i, s in enumerate(c.pipeline.steps)}
    plan = raw.get("plan") or {}
    steps = []
    planner = None
    for entry in raw.get("steps", []):
        if entry["task_id"] == PLAN_TASK_ID:
            planner = entry
            continue
        planned = plan.get(entry["task_id"]) or {}
        result = entry.get("result") or {}
        if not isinstance(result, dict):  # a step's other task (a HyperDriveStep's trial list)
            result = {}
        if planned.get("reuse") and not result:
            result = {"outputs": planned.get("outputs"), "reused_from": planned.get("reused_from")}
        entry["result"] = result
        entry["metrics"] = entry.get("metrics") or planned.get("metrics") or {}
        entry["fingerprint"] = planned.get("fingerprint")
        entry["reused_from"] = result.get("reused_from") if entry["state"] == "skipped" else None
        if entry["reused_from"] is not None and not entry.get("note"):
            entry["note"] = reuse_note(entry["fingerprint"], entry["reused_from"])
        steps.append(entry)
    steps.sort(key=lambda s: _report_order(order, s["task_id"]))
    result = RunResult(c.pipeline, raw["state"], raw.get("run_id"), steps, log_file, raw)
    if planner is not None and planner.get("state") == "failed":
        result.planner_error = planner.get("error") or []
        result.planner_log = planner.get("log")
    _save(result, state_dir)
    return result


def _tail(path: Path, n: int) -> list[str]:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - 8192))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if line.strip()][-n:]


def _follow(proc: subprocess.Popen, events: Path, view: LiveView) -> None:
    """Show the child's events as they come until it exits (and the last ones after)."""
    offset = 0
    pending = b""
    while True:
        done = proc.poll() is not None
        try:
            with open(events, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except OSError:
            chunk = b""
        offset += len(chunk)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict):
                view.handle(event)
        if done:
            return
        view.tick()
        time.sleep(0.1)


PLANNER_NAME = "reuse plan"
FINISHED_STATES = ("success", "skipped", "failed", "upstream_failed", "removed")
PLAIN_PHASE_SECONDS = 2.0  # piped output names a phase (starting Airflow, ...) that lasts this


class LiveView:
    """Turns the child's events into lines: each step's state when it changes, its output
    lines as they come (prefixed by the step), its error when it failed; on a terminal a
    status line says what is under way and for how long."""

    def __init__(self, console: Console, steps: list[str]):
        self.out = console
        self.steps = steps
        self.width = max([len(s) for s in steps] + [len(PLANNER_NAME)])
        self.started: dict[str, float] = {}
        self.states: dict[str, str] = {}
        self.phase = "starting the embedded Airflow"
        self.phase_since = time.monotonic()
        self.run_id: str | None = None

    def _prefix(self, task: str) -> str:
        name = PLANNER_NAME if task == PLAN_TASK_ID else task
        return "  " + self.out.style(f"{safe(name):<{self.width}}", "bold")

    def handle(self, event: dict) -> None:
        kind = event.get("ev")
        task = str(event.get("task") or "")
        if kind == "phase":
            self.phase, self.phase_since = str(event.get("text") or ""), time.monotonic()
            if event.get("show"):  # a result worth keeping (uploads made)
                self.out.line(safe(self.phase))
        elif kind == "run":
            self.run_id = str(event.get("run_id"))
            self.out.line(f"Run {safe(self.run_id)} started in the embedded Airflow")
        elif kind == "line":
            self.out.line(f"{self._prefix(task)} | {safe(event.get('text', ''))}")
        elif kind == "state":
            self._state(task, str(event.get("state")), event)

    def _state(self, task: str, state: str, event: dict) -> None:
        previous = self.states.get(task)
        self.states[task] = state
        if "[" in task and state in ("scheduled", "queued", "running", "success"):
            # One instance of a mapped task (a mini-batch): its own line says how it went,
            # the status line counts them; only what went wrong gets a line of its own.
            if state == "running":
                self.started[task] = time.monotonic()
            return
        if state == "running":
            self.started[task] = time.monotonic()
            if task == PLAN_TASK_ID:
                self.phase, self.phase_since = "planning reuse", time.monotonic()
                return
            self.phase = None
            self.out.line(f"{self._prefix(task)} {self.out.style('running', 'running')}")
            return
        if task == PLAN_TASK_ID and state == "success":
            return
        took = ""
        if task in self.started and previous == "running":
            took = " " + elapsed(time.monotonic() - self.started[task])
        if state == "skipped" and event.get("note"):
            text = self.out.style(f"reused from {safe(event.get('reused_from'))}", "reused")
            text += f" (fingerprint {safe(str(event.get('fingerprint'))[:12])} unchanged)"
        elif state == "upstream_failed":
            text = self.out.style(state, state) + " (not run: a step it depends on failed)"
        elif state == "up_for_reschedule":
            text = (
                self.out.style("waiting", "running") + " for another run computing the same result"
            )
        else:
            text = self.out.style(state, state) + took
            if event.get("reason"):
                text += f" ({safe(event['reason'])})"
        self.out.line(f"{self._prefix(task)} {text}")
        for line in event.get("error") or []:
            self.out.line(f"{self._prefix(task)} {self.out.style('!', 'error')} {safe(line)}")

    def tick(self) -> None:
        now = time.monotonic()
        running = [t for t, s in self.states.items() if s == "running" and t != PLAN_TASK_ID]
        if running:
            task = running[-1]
            base = task.partition("[")[0]
            text = f"[{self._done()}/{len(self.steps)} done] {safe(task)} running"
            mapped = [s for t, s in self.states.items() if t.startswith(base + "[")]
            if mapped:  # mini-batches or trials of one step
                finished = sum(1 for s in mapped if s in FINISHED_STATES)
                text += f" ({finished} of {len(mapped)} {safe(base)} instances done)"
            self.out.status(f"{text} {elapsed(now - self.started.get(task, now))}")
        elif self.phase and self.out.terminal:
            self.out.status(f"{self.phase} {elapsed(now - self.phase_since)}")
        elif self.phase and now - self.phase_since > PLAIN_PHASE_SECONDS:
            self.out.progress(self.phase, f"{self.phase}...")  # piped: once, if it lasts

    def _done(self) -> int:
        """Steps finished (a mapped step: when every instance seen so far is)."""
        done = 0
        for step in self.steps:
            states = [s for t, s in self.states.items() if t == step or t.startswith(step + "[")]
            if states and all(s in FINISHED_STATES for s in states):
                done += 1
        return done


def reuse_note(fingerprint: str | None, origin: dict | None) -> str:
    """Why a step was not run (the words of its note in Airflow, see embedded.reuse_note)."""
    run = (origin or {}).get("run_id") or "an earlier run"
    fp = str(fingerprint or "")[:12]
    return (
        f"Reused from run {safe(run)}: not run, because its fingerprint {safe(fp)} (code,"
        " arguments, parameters, environment and input data) matches that run's completed result."
    )


# -- every step reused: no Airflow run at all -----------------------------------------------------
REUSED_RUN_PREFIX = "reused__"
# The planner's warnings (a record ignored, ...) are said by the planner task in Airflow, which
# then runs: not here too.
_QUIET = logging.getLogger("amlcompile.plan_first")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def plan_without_airflow(c: Compiled, conf: dict, dags: Path, out: Console):
    """The reuse plan of this run, computed here with the planner's own code before any
    Airflow starts. When every step would be reused, a RunResult of reused steps (no Airflow
    run); otherwise the upload lines made here (None when the child must make them: remote
    datastores, which need Airflow's connections)."""
    from .ir.validate import topological_order
    from .render.dag import datastores_table
    from .runtime.binding import expand_step
    from .targets.base import step_payload

    p = c.pipeline
    if conf.get(REGENERATE_PARAM):
        return None
    datastores = datastores_table(p)
    if any(ds.get("kind") != "local" for ds in datastores.values()):
        return None
    from .uploads import perform, read_manifest

    manifest = {k: v for k, v in read_manifest(dags).items() if k == p.name}
    if any(e["store"].get("kind") != "local" for v in manifest.values() for e in v):
        return None
    lines: list[str] = []
    if manifest:
        with out.working("checking and making the pipeline's uploads..."):
            perform(manifest, [p.name], progress=lines.append)  # UploadError: one clear line
    # What the DAG file's STEPS table holds, in its order, as the planner task expands it.
    by_name = {s.name: s for s in p.steps}
    steps = [expand_step(step_payload(p, by_name[n])) for n in topological_order(p)]
    if not all(s["allow_reuse"] for s in steps) or any(
        port.get("urls") for s in steps for port in s["inputs"]
    ):
        return lines
    from .runtime import storage
    from .runtime.plan import compute_plan

    params = {x.name: x.default for x in p.parameters}
    params[REGENERATE_PARAM] = False
    params.update(conf)
    storage.variables_from_airflow = False
    try:
        plan = compute_plan(steps, datastores, params, False, _QUIET)
    except Exception:  # the planner task in Airflow reports it, with its reason
        return lines
    finally:
        storage.variables_from_airflow = True
    if not all(entry["reuse"] for entry in plan.values()):
        return lines
    for line in lines:
        out.line(safe(line))
    run_id = REUSED_RUN_PREFIX + dt.datetime.now(dt.UTC).isoformat()
    result_steps = []
    for s in p.steps:
        entry = plan[s.name]
        result_steps.append(
            {
                "task_id": s.name,
                "state": "skipped",
                "duration": None,
                "result": {
                    "outputs": entry.get("outputs"),
                    "reused_from": entry.get("reused_from"),
                },
                "metrics": entry.get("metrics") or {},
                "fingerprint": entry["fingerprint"],
                "reused_from": entry.get("reused_from") or {},
                "note": reuse_note(entry["fingerprint"], entry.get("reused_from")),
            }
        )
    raw = {"state": "success", "run_id": run_id, "airflow": False, "plan": plan, "conf": conf}
    result = RunResult(p, "success", run_id, result_steps, None, raw)
    result.airflow = False
    return result


# -- run records: what `amlcompile status` and `logs` show for embedded runs ----------------------
RUNS_DIR = "runs"


def _record_path(state_dir: Path, dag_id: str, run_id: str) -> Path:
    return state_dir / RUNS_DIR / safe_segment(dag_id) / f"{safe_segment(run_id)}.json"


def _save(r: RunResult, state_dir: Path) -> None:
    if not r.run_id:
        return
    body = {
        "dag_id": r.pipeline.name,
        "run_id": r.run_id,
        "state": r.state,
        "airflow": r.airflow,
        "log_file": str(r.log_file) if r.log_file else None,
        "steps": r.steps,
        "planner_error": r.planner_error,
        "planner_log": r.planner_log,
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "timings": r.raw.get("timings"),
    }
    path = _record_path(state_dir, r.pipeline.name, r.run_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body, indent=1, default=str))
        os.replace(tmp, path)
    except OSError:  # the run stands; only `status` of it will not find it
        pass


def load_run(state_dir: Path, dag_id: str, run_id: str) -> dict | None:
    """An embedded run recorded by `amlcompile run` (None when there is none)."""
    folder = state_dir / RUNS_DIR / safe_segment(dag_id)
    if run_id == "latest":
        found = sorted(folder.glob("*.json"), key=lambda f: f.stat().st_mtime)
        path = found[-1] if found else None
    else:
        path = _record_path(state_dir, dag_id, run_id)
    if path is None or not path.is_file():
        return None
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _own_tasks(steps: list[dict]) -> list[dict]:
    """The steps' own tasks of a run report: not a step's other tasks (`<step>__trials`,
    its mapped trials), which follow the step's reuse."""
    names = {s["task_id"] for s in steps}
    return [s for s in steps if not any(s["task_id"].startswith(n + "__") for n in names)]


def _report_order(order: dict[str, int], task_id: str) -> tuple:
    """A step's place in the report; a step's other tasks (`<step>__trials`, its mapped
    `<step>__trial[3]`, Bayesian rounds `<step>__trials_1`, ...) just before it, round by
    round, each mapped task's instances in order."""
    if task_id in order:
        return (order[task_id], 1, 0, 0, 0)
    owners = [n for n in order if task_id.startswith(n + "__")]
    if not owners:
        return (len(order), 0, 0, 0, 0)
    m = re.fullmatch(r"(.*?)(?:_(\d+))?(?:\[(\d+)\])?", task_id[len(max(owners, key=len)) + 2 :])
    round_, index = (m.group(2), m.group(3)) if m else (None, None)
    mapped = index is not None  # the list task of a round first, then its mapped instances
    return (order[max(owners, key=len)], 0, int(round_ or 0), int(mapped), int(index or 0))


def status_lines(body: dict) -> list[str]:
    """`amlcompile status` of an embedded run: the same report `amlcompile run` ended with."""
    buf = io.StringIO()
    p = ir.Pipeline.model_construct(name=body.get("dag_id"))
    r = RunResult(p, body.get("state"), body.get("run_id"), body.get("steps") or [], None, body)
    r.airflow = bool(body.get("airflow", True))
    r.log_file = Path(body["log_file"]) if body.get("log_file") else None
    r.planner_error = body.get("planner_error") or []
    r.planner_log = body.get("planner_log")
    print_result(r, Console(buf, terminal=False), hints=False)
    return buf.getvalue().splitlines()


def step_log(body: dict, task_id: str) -> str:
    """A step's part of an embedded run's log (the run log holds every step, one after the
    other: dag.test() runs them in turn)."""
    name = task_id
    if task_id in ("plan", PLANNER_NAME):
        task_id = PLAN_TASK_ID
    if task_id == PLAN_TASK_ID:
        span = body.get("planner_log")
    else:
        steps = {s.get("task_id"): s for s in body.get("steps") or []}
        if task_id not in steps:
            names = ", ".join(sorted(steps)) or "none"
            raise RunError(f"run {body.get('run_id')} has no step {name!r} (steps: {names})")
        step = steps[task_id]
        if step.get("reused_from"):
            note = step.get("note") or reuse_note(step.get("fingerprint"), step["reused_from"])
            return safe(note) + "\n"
        span = step.get("log")
    if not body.get("airflow", True):
        return "no Airflow run: every step was reused\n"
    log_file = body.get("log_file")
    if not span or not log_file:
        return f"(no log of {name} in this run: it did not start)\n"
    try:
        with open(log_file, "rb") as fh:
            fh.seek(span[0])
            data = fh.read(max(0, span[1] - span[0]))
    except OSError as exc:
        raise RunError(f"cannot read {log_file}: {exc.strerror or exc}") from None
    return data.decode("utf-8", "replace")


def print_result(r: RunResult, console=None, hints: bool = True) -> None:
    """The report a run ends with. `console`: a Console, or a text stream (plain lines)."""
    if console is None:
        out = Console()
    elif isinstance(console, Console):
        out = console
    else:
        out = Console(console, terminal=False)
    state = out.style(safe(r.state), "success" if r.succeeded else "failed")
    if not r.airflow:
        out.line(f"Run {safe(r.run_id)} of {safe(r.pipeline.name)}: {state} (every step reused)")
        out.line(
            "  no Airflow run was started: nothing changed since the runs named below"
            " (--airflow starts one anyway, --regenerate-outputs reruns every step)"
        )
    else:
        out.line(f"Run {safe(r.run_id)} of {safe(r.pipeline.name)}: {state}")
    width = max([len(s["task_id"]) for s in r.steps] + [4])
    pad = f"  {'':<{width}}    "
    for s in r.steps:
        duration = f"{s['duration']:.1f}s" if s.get("duration") is not None else "-"
        text = safe(s["state"])
        style = s["state"]
        if s.get("reused_from"):
            text = f"reused from {safe(s['reused_from'].get('run_id'))}"
            style = "reused"
        cell = out.style(f"{text:<16}", style)
        out.line(f"  {safe(s['task_id']):<{width}}  {cell} {duration:>7}")
        result = s.get("result") if isinstance(s.get("result"), dict) else {}
        for name, path in sorted((result.get("outputs") or {}).items()):
            out.line(f"{pad}output {safe(name)}: {safe(path)}")
        if s.get("reused_from") and s.get("fingerprint"):
            out.line(
                f"{pad}fingerprint {safe(s['fingerprint'][:12])} unchanged"
                " (code, arguments, parameters, environment, input data)"
            )
        for line in metric_lines(s.get("metrics") or {}):
            out.line(pad + line)
        if s["state"] == "success":
            for line in (result.get("log_tail") or [])[-3:]:
                out.line(f"{pad}| {safe(line)}")
        if s["state"] in ("failed", "up_for_retry"):
            for line in s.get("error") or []:
                out.line(f"{pad}{out.style('!', 'error')} {safe(line)}")
            if r.run_id:
                out.line(
                    f"{pad}whole log: amlcompile logs {_arg(r.pipeline.name)} {_arg(r.run_id)}"
                    f" {_arg(s['task_id'])}"
                )
    if r.planner_error:
        out.line(f"  the reuse planner ({PLAN_TASK_ID}) failed:")
        for line in r.planner_error:
            out.line(f"    {out.style('!', 'error')} {safe(line)}")
        blocked = sum(1 for s in r.steps if s["state"] == "upstream_failed")
        if blocked:
            out.line(f"  so {blocked} step(s) did not run (upstream_failed)")
        if r.run_id:
            out.line(
                f"  whole log: amlcompile logs {_arg(r.pipeline.name)} {_arg(r.run_id)}"
                f" {PLAN_TASK_ID}"
            )
    reused = sum(1 for s in r.steps if s.get("reused_from"))
    if reused and hints:
        out.line(
            f"{reused} of {len(_own_tasks(r.steps))} steps reused earlier results"
            " (--regenerate-outputs reruns them)"
        )
    if not r.succeeded and r.log_file:
        out.line(f"Airflow log of the whole run: {r.log_file}")


def _arg(text) -> str:
    """A command-line argument as the user would type it (quoted when needed; escaped)."""
    import shlex

    return safe(shlex.quote(str(text)))


def print_metrics(metrics: dict, indent: str, stream) -> None:
    """What a step logged with Run.get_context(): metrics, tags, and what it logged on
    `run.parent` (the pipeline run), one line each."""
    for line in metric_lines(metrics):
        print(f"{indent}{line}", file=stream)


def metric_lines(metrics: dict) -> list[str]:
    lines = []
    for prefix, part in (("", metrics), ("parent ", metrics.get("parent") or {})):
        if not isinstance(part, dict):
            continue
        for name, value in sorted((part.get("metrics") or {}).items()):
            lines.append(f"{prefix}metric {safe(name)}: {safe(_short(value))}")
        for name, value in sorted((part.get("tags") or {}).items()):
            lines.append(f"{prefix}tag {safe(name)}: {safe(_short(value))}")
    return lines


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
