"""Runs one DAG run in an embedded Airflow (SQLite). Executed as a child process.

`python -m amlcompile.embedded --dag-id ID --conf JSON --result FILE` with AIRFLOW_HOME and
AIRFLOW__CORE__DAGS_FOLDER set by the parent (amlcompile.local_run): Airflow reads its
configuration at import time, so it must run in a process of its own.

With AMLCOMPILE_EVENTS set to a file, the run is reported there as it happens, one JSON
object a line, for the parent to show: phases (`phase`), each step's state when it changes
(`state`, with the error's last lines when it failed) and, from the step operators, each
output line (`line`, runtime/operators.py). The parent never parses Airflow's own log.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

from .runtime.reuse import PLAN_TASK_ID, PLAN_XCOM_KEY

EVENTS_ENV = "AMLCOMPILE_EVENTS"
ERROR_LINES = 12  # of a failed step's error, shown by the parent
NOTE_MAX = 1000  # Airflow's task_instance_note.content


class Events:
    """Appends events to the file named by AMLCOMPILE_EVENTS (nothing when unset)."""

    def __init__(self, path: str | None):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if path else None

    def emit(self, **event) -> None:
        if self.fd is None:
            return
        data = (json.dumps(event, default=str) + "\n").encode()
        try:
            os.write(self.fd, data)
        except OSError:
            pass


EVENTS = Events(os.environ.get(EVENTS_ENV))


def error_lines(error) -> list[str]:
    """The last lines of a task's error: its message (a step's own output tail included)
    and, for an exception that is not one of ours, the traceback's last frames."""
    if error is None:
        return []
    if not isinstance(error, BaseException):
        return str(error).splitlines()[-ERROR_LINES:]
    ours = type(error).__name__ in ("StepError",)
    if ours:
        lines = f"{type(error).__name__}: {error}".splitlines()
    else:
        text = "".join(traceback.format_exception(error))
        lines = text.rstrip("\n").splitlines()
    return lines[-ERROR_LINES:]


def _key(task_id: str, map_index) -> str:
    """A task, or one mapped instance of it (`score[3]`: a mini-batch, a trial)."""
    return task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"


def state_name(state) -> str:
    """'success', not 'TaskInstanceState.SUCCESS'."""
    if state is None:
        return "none"
    return str(getattr(state, "value", state))


def _log_offset() -> int | None:
    """Where the run log (this process's stdout) is now: a step's slice of it is its log."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        return os.lseek(1, 0, os.SEEK_CUR)
    except OSError:
        return None


class SyncLock:
    """An exclusive lock of this embedded Airflow (AIRFLOW_HOME), released once."""

    def __init__(self):
        import fcntl

        home = os.environ.get("AIRFLOW_HOME") or "."
        self._fh = open(os.path.join(home, ".dag-sync.lock"), "w")  # noqa: SIM115
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            EVENTS.emit(ev="phase", text="waiting for another run to load its DAG")
            fcntl.flock(self._fh, fcntl.LOCK_EX)
            EVENTS.emit(ev="phase", text="loading the DAG into the embedded Airflow")

    def release(self) -> None:
        if not self._fh.closed:
            self._fh.close()  # closing the file drops the lock


class Watcher:
    """Wraps dag.test()'s task runner: reports each step's state when it changes, its error,
    where its log is, and puts a note on each task the reuse planner skipped."""

    def __init__(self, dag_id: str, started=lambda: None):
        self.dag_id = dag_id
        self.started = started  # called when the first task starts
        self.run_id: str | None = None
        self.states: dict[str, str] = {}
        self.errors: dict[str, list[str]] = {}
        self.logs: dict[str, list] = {}  # task → [start, end] offsets in the run log
        self.notes: dict[str, str] = {}
        self.reused: dict[str, dict] = {}  # task → what its state event says of its reuse

    def install(self) -> None:
        from airflow.sdk.definitions import dag as dag_module

        original = dag_module._run_task

        def run_task(*, ti, task, run_triggerer=False):
            if self.run_id is None:
                self.run_id = ti.run_id
                self.started()
                EVENTS.emit(ev="run", run_id=ti.run_id)
            key = _key(ti.task_id, ti.map_index)
            self.states[key] = "running"
            EVENTS.emit(ev="state", task=key, state="running", try_number=ti.try_number)
            start = _log_offset()
            result = original(ti=ti, task=task, run_triggerer=run_triggerer)
            end = _log_offset()
            if start is not None and end is not None and key == ti.task_id:
                self.logs.setdefault(key, [start, end])[1] = end
            state = state_name(ti.state)
            error = getattr(result, "error", None) if result is not None else None
            extra = {}
            if state in ("failed", "up_for_retry") and error is not None:
                self.errors[key] = extra["error"] = error_lines(error)
            elif state in ("skipped", "up_for_reschedule") and error is not None:
                extra["reason"] = str(error)
            self.states[key] = state
            EVENTS.emit(ev="state", task=key, state=state, **extra)
            if ti.task_id == PLAN_TASK_ID and state == "success":
                self.note_reused(ti.run_id)
            self.report_changes(ti.run_id)
            return result

        dag_module._run_task = run_task

    def report_changes(self, run_id: str) -> None:
        """States set without running the task: skipped by the planner, upstream_failed."""
        from airflow.models import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            rows = session.execute(
                select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state).where(
                    TaskInstance.dag_id == self.dag_id, TaskInstance.run_id == run_id
                )
            ).all()
        for task_id, map_index, state in rows:
            state = state_name(state)
            task_id = _key(task_id, map_index)
            if state != "none" and self.states.get(task_id) != state:
                self.states[task_id] = state
                extra = self.reused.get(task_id, {}) if state == "skipped" else {}
                EVENTS.emit(ev="state", task=task_id, state=state, **extra)

    def note_reused(self, run_id: str) -> None:
        """Airflow shows a reused step as skipped: its note says it was reused, from which
        run and why, in the UI's task-instance details (and `amlcompile status`)."""
        from airflow.models import TaskInstance
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            row = session.scalars(
                select(XComModel).where(
                    XComModel.dag_id == self.dag_id,
                    XComModel.run_id == run_id,
                    XComModel.task_id == PLAN_TASK_ID,
                    XComModel.key == PLAN_XCOM_KEY,
                )
            ).first()
            plan = (_decode(row.value) if row is not None else None) or {}
            reused = {k: v for k, v in plan.items() if isinstance(v, dict) and v.get("reuse")}
            if not reused:
                return
            tis = session.scalars(
                select(TaskInstance).where(
                    TaskInstance.dag_id == self.dag_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.task_id.in_(sorted(reused)),
                )
            ).all()
            for ti in tis:
                entry = reused[ti.task_id]
                text = reuse_note(entry)[:NOTE_MAX]
                self.notes[ti.task_id] = text
                self.reused[ti.task_id] = {
                    "note": text,
                    "reused_from": str((entry.get("reused_from") or {}).get("run_id")),
                    "fingerprint": str(entry.get("fingerprint") or ""),
                }
                if ti.task_instance_note is None:
                    ti.note = (text, None)
                else:
                    ti.task_instance_note.content = text


def reuse_note(entry: dict) -> str:
    """What a reused step's note says (the same words as `amlcompile status`)."""
    from .console import safe

    origin = entry.get("reused_from") or {}
    run = safe(origin.get("run_id") or "an earlier run")
    fp = safe(str(entry.get("fingerprint") or "")[:12])
    return (
        f"Reused from run {run}: not run, because its fingerprint {fp} (code, arguments,"
        " parameters, environment and input data) matches that run's completed result."
    )


STARTED = time.perf_counter()


def run(dag_id: str, conf: dict) -> dict:
    imported = time.perf_counter()
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    timings = {"airflow imports": time.perf_counter() - imported}
    loading = time.perf_counter()
    EVENTS.emit(ev="phase", text="loading the DAG into the embedded Airflow")
    # Two runs at once in one embedded Airflow parse the same DAGs folder and write the same
    # DAGs to the database (here, and again at the start of dag.test): one at a time, until
    # the run's first task starts.
    lock = SyncLock()
    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    bundle = manager.get_bundle("dags-folder")
    bundle.initialize()
    if str(bundle.path) not in sys.path:
        sys.path.insert(0, str(bundle.path))
    bag = BundleDagBag(
        dag_folder=str(bundle.path), bundle_path=bundle.path, bundle_name=bundle.name
    )
    if bag.import_errors:
        lock.release()
        return {
            "state": "import_error",
            "import_errors": {str(k): v for k, v in bag.import_errors.items()},
        }
    sync_bag_to_db(bag, bundle.name, None)
    dag = bag.get_dag(dag_id)
    if dag is None:
        lock.release()
        return {"state": "missing", "dags": sorted(bag.dags)}
    timings["DAG parsed and written to the database"] = time.perf_counter() - loading
    watcher = Watcher(dag_id, lock.release)
    watcher.install()
    EVENTS.emit(ev="phase", text="starting the run")
    started = time.perf_counter()
    try:
        dagrun = dag.test(run_conf=conf)
    finally:
        lock.release()
    test_seconds = time.perf_counter() - started
    timings["dag.test (task API, tasks)"] = test_seconds
    watcher.report_changes(dagrun.run_id)
    steps = []
    plan = {}
    with create_session() as session:
        plan_xcom = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == dagrun.run_id,
                XComModel.key == "amlcompile_plan",
            )
        ).first()
        if plan_xcom is not None:
            plan = _decode(plan_xcom.value) or {}
        tis = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == dagrun.run_id
            )
        ).all()
        for ti in tis:
            xcom = session.scalars(
                select(XComModel).where(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id == dagrun.run_id,
                    XComModel.task_id == ti.task_id,
                    XComModel.map_index == ti.map_index,
                    XComModel.key == "return_value",
                )
            ).first()
            value = _decode(xcom.value) if xcom is not None else None
            metrics = _step_metrics(session, dag_id, dagrun.run_id, ti.task_id)
            duration = (
                (ti.end_date - ti.start_date).total_seconds()
                if (ti.end_date and ti.start_date)
                else None
            )
            key = _key(ti.task_id, ti.map_index)  # a mapped task's instances: `task[3]`
            steps.append(
                {
                    "task_id": key,
                    "state": state_name(ti.state),
                    "duration": duration,
                    "result": value,
                    "metrics": metrics,
                    "try_number": ti.try_number,
                    "error": watcher.errors.get(key),
                    "log": watcher.logs.get(key),
                    "note": watcher.notes.get(key),
                }
            )
    return {
        "state": state_name(dagrun.state),
        "run_id": dagrun.run_id,
        "steps": steps,
        "conf": dagrun.conf,
        "plan": plan,
        "test_seconds": test_seconds,
        "timings": {**timings, "child process until here": time.perf_counter() - STARTED},
    }


def upload(dags_folder: str, dag_id: str) -> list[str]:
    """The build's recorded uploads of this pipeline (`_amlcompile/uploads.json`), made the
    way `amlcompile deploy` makes them, with this Airflow's connections at hand."""
    from pathlib import Path

    from .uploads import perform, read_manifest

    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        EVENTS.emit(ev="phase", text=line, show=True)

    perform(read_manifest(Path(dags_folder)), [dag_id], progress=progress)
    return lines


def _step_metrics(session, dag_id: str, run_id: str, task_id: str) -> dict:
    """What the step logged through amlcompile_run.Run (XCom `amlcompile_metrics`)."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    xcom = session.scalars(
        select(XComModel).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            XComModel.task_id == task_id,
            XComModel.key == "amlcompile_metrics",
        )
    ).first()
    return (_decode(xcom.value) if xcom is not None else None) or {}


def _decode(value):
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--conf", default="{}")
    parser.add_argument("--result", required=True)
    parser.add_argument("--dags-folder", default=None, help="perform its recorded uploads")
    args = parser.parse_args()
    EVENTS.emit(ev="phase", text="starting the embedded Airflow")
    uploaded: list[str] = []
    try:
        if args.dags_folder:
            uploaded = upload(args.dags_folder, args.dag_id)
        result = run(args.dag_id, json.loads(args.conf))
    except Exception as exc:  # reported to the parent, which prints one clear line
        traceback.print_exc()
        from .uploads import UploadError

        if isinstance(exc, UploadError):
            result = {"state": "upload_error", "error": str(exc)}
        else:
            result = {"state": "error", "error": f"{type(exc).__name__}: {exc}"}
    result["uploads"] = uploaded
    with open(args.result, "w") as fh:
        json.dump(result, fh, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
