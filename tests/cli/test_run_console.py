"""What `amlcompile run` prints, without Airflow: the live view of a run's events, piped
(plain lines) and on a terminal (colour, one redrawn status line); escaping of everything
that comes from the datastore or a step; the report of a failed step; the first-run lock."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from amlcompile import local_run
from amlcompile.console import Console, safe
from amlcompile.embedded import error_lines, reuse_note
from amlcompile.ir import models as ir
from amlcompile.local_run import LiveView, RunResult, print_result, status_lines
from amlcompile.runtime.reuse import PLAN_TASK_ID

HOSTILE = "\x1b[2J\x1b[1;1Hrun\nRun x of p: success\r\x9b31m\u202eevil\x07"

EVENTS = [
    {"ev": "phase", "text": "starting the embedded Airflow"},
    {"ev": "phase", "text": "uploaded 1 file (1.6 kB) to workspaceblobstore", "show": True},
    {"ev": "run", "run_id": "manual__1"},
    {"ev": "state", "task": PLAN_TASK_ID, "state": "running"},
    {"ev": "state", "task": PLAN_TASK_ID, "state": "success"},
    {
        "ev": "state",
        "task": "prep",
        "state": "skipped",
        "note": reuse_note({"fingerprint": "ab" * 32, "reused_from": {"run_id": "manual__0"}}),
        "reused_from": "manual__0",
        "fingerprint": "ab" * 32,
    },
    {"ev": "state", "task": "train", "state": "running"},
    {"ev": "line", "task": "train", "text": "epoch 1"},
    {"ev": "line", "task": "train", "text": HOSTILE},
    {
        "ev": "state",
        "task": "train",
        "state": "failed",
        "error": ["StepError: step 'train' failed: exit code 1", "ValueError: alpha < 0"],
    },
    {"ev": "state", "task": "score", "state": "upstream_failed"},
]


def play(terminal: bool) -> str:
    buf = io.StringIO()
    view = LiveView(Console(buf, terminal=terminal), ["prep", "train", "score"])
    for event in EVENTS:
        view.handle(event)
        view.tick()
    view.out.clear_status()
    return buf.getvalue()


def test_live_view_piped_is_plain_lines_in_order():
    text = play(terminal=False)
    assert "\x1b" not in text and "\r" not in text
    lines = text.splitlines()
    assert lines == [
        "uploaded 1 file (1.6 kB) to workspaceblobstore",
        "Run manual__1 started in the embedded Airflow",
        "  prep       reused from manual__0 (fingerprint abababababab unchanged)",
        "  train      running",
        "  train      | epoch 1",
        "  train      | " + safe(HOSTILE),
        lines[6],  # "  train      failed <duration>"
        "  train      ! StepError: step 'train' failed: exit code 1",
        "  train      ! ValueError: alpha < 0",
        "  score      upstream_failed (not run: a step it depends on failed)",
    ]
    assert lines[6].startswith("  train      failed ")


def test_live_view_on_a_terminal_colours_and_redraws_one_status_line():
    text = play(terminal=True)
    assert "\x1b[31mfailed\x1b[0m" in text
    assert "\x1b[36mreused from manual__0\x1b[0m" in text
    assert "\r\x1b[2K" in text  # the status line is redrawn in place
    assert "[0/3 done] train running" in text or "[1/3 done] train running" in text
    # The hostile line is escaped on a terminal too: no raw ESC but ours (colour, redraw).
    assert "\x1b[2J" not in text and "\x9b" not in text and "\u202e" not in text


def test_terminal_is_chosen_by_isatty_and_forced_by_env(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("AMLCOMPILE_TERMINAL", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert Console(Tty()).terminal and not Console(io.StringIO()).terminal
    monkeypatch.setenv("AMLCOMPILE_TERMINAL", "1")
    assert Console(io.StringIO()).terminal
    monkeypatch.setenv("AMLCOMPILE_TERMINAL", "0")
    assert not Console(Tty()).terminal
    monkeypatch.setenv("AMLCOMPILE_TERMINAL", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    c = Console(io.StringIO())
    assert c.terminal and not c.colour


def test_safe_escapes_control_characters_and_keeps_text():
    assert safe("caf\u00e9\tok") == "caf\u00e9\tok"
    assert safe("a\nb\rc\x1b[31m\x9b\u202e\x00") == "a\\nb\\rc\\x1b[31m\\x9b\\u202e\\x00"


def hostile_result(airflow: bool = True) -> RunResult:
    p = ir.Pipeline.model_construct(name="pipe")
    steps = [
        {
            "task_id": "prep",
            "state": "skipped",
            "duration": None,
            "result": {"outputs": {"out": "/data/" + HOSTILE}},
            "metrics": {"metrics": {HOSTILE: HOSTILE}},
            "fingerprint": "cd" * 32,
            "reused_from": {"run_id": HOSTILE},
        },
        {
            "task_id": "train",
            "state": "failed",
            "duration": 1.5,
            "result": {},
            "metrics": {},
            "error": ["ValueError: " + HOSTILE],
        },
    ]
    r = RunResult(p, "failed", "manual__2", steps, Path("/tmp/run.log"), {})
    r.airflow = airflow
    return r


@pytest.mark.parametrize("terminal", [False, True])
def test_report_escapes_what_the_datastore_and_steps_said(terminal):
    buf = io.StringIO()
    print_result(hostile_result(), Console(buf, terminal=terminal))
    text = buf.getvalue()
    assert "\x1b[2J" not in text and "\x9b" not in text and "\u202e" not in text
    assert not any(line.startswith("Run x of p") for line in text.splitlines())
    assert f"reused from {safe(HOSTILE)}" in text
    assert "whole log: amlcompile logs pipe manual__2 train" in text
    assert "fingerprint cdcdcdcdcdcd unchanged" in text


def test_report_of_a_run_without_airflow_says_so():
    r = hostile_result(airflow=False)
    r.state = "success"
    r.steps = r.steps[:1]
    buf = io.StringIO()
    print_result(r, buf)
    first, second = buf.getvalue().splitlines()[:2]
    assert first == "Run manual__2 of pipe: success (every step reused)"
    assert "no Airflow run was started" in second


def test_status_of_a_recorded_embedded_run(tmp_path):
    r = hostile_result(airflow=False)
    r.state = "success"
    r.steps = r.steps[:1]
    local_run._save(r, tmp_path)
    body = local_run.load_run(tmp_path, "pipe", "manual__2")
    assert body == local_run.load_run(tmp_path, "pipe", "latest")
    lines = status_lines(body)
    assert lines[0] == "Run manual__2 of pipe: success (every step reused)"
    assert "no Airflow run was started" in lines[1]
    assert all("\x1b" not in line for line in lines)
    assert local_run.step_log(body, "prep").startswith("Reused from run")


def test_error_lines_end_with_the_exception_of_a_foreign_error():
    class AirflowNotFoundException(Exception):
        pass

    def connect():
        raise AirflowNotFoundException("The conn_id `databricks_default` isn't defined")

    try:
        connect()
    except Exception as exc:
        lines = error_lines(exc)
    assert lines[-1].endswith("The conn_id `databricks_default` isn't defined")
    assert any("connect()" in line for line in lines)
    assert len(lines) <= 12


def test_two_runs_in_one_second_get_two_logs(tmp_path):
    a = local_run._new_log(tmp_path, "p")
    b = local_run._new_log(tmp_path, "p")
    assert a != b and a.exists() and b.exists()


def test_first_initialisation_runs_once_under_a_lock(tmp_path, monkeypatch):
    calls = []

    class FakeMigrate:
        def __init__(self, argv, **kwargs):
            calls.append(argv)
            self.returncode = None
            self.started = time.monotonic()

        def poll(self):
            if time.monotonic() - self.started > 0.5:
                self.returncode = 0
            return self.returncode

    monkeypatch.setattr(local_run.subprocess, "Popen", FakeMigrate)
    outs = [io.StringIO(), io.StringIO()]
    errors = []

    def init(buf):
        try:
            log = local_run._new_log(tmp_path / "logs", "p")
            local_run._initialise(tmp_path, {}, log, Console(buf, terminal=False), False)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=init, args=(b,)) for b in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(calls) == 1
    said = [b.getvalue() for b in outs]
    assert sum("Preparing the embedded Airflow" in s for s in said) == 1
    assert sum("Waiting for another amlcompile run" in s for s in said) == 1
    local_run._initialise(tmp_path, {}, tmp_path / "x.log", Console(io.StringIO()), False)
    assert len(calls) == 1  # initialised: never again


class FakeAirflow:
    """The REST calls `amlcompile status` makes of a deployed Airflow."""

    def task_instances(self, dag_id, run_id):
        return [
            {"task_id": PLAN_TASK_ID, "state": "success", "try_number": 1},
            {"task_id": "prep", "state": "skipped", "try_number": 0},
            {"task_id": "train", "state": "failed", "try_number": 1, "duration": 2.0},
        ]

    def xcom(self, dag_id, run_id, task_id, key):
        if task_id == PLAN_TASK_ID:
            return {
                "prep": {
                    "reuse": True,
                    "fingerprint": "ef" * 32,
                    "reused_from": {"run_id": HOSTILE},
                },
                "train": {"reuse": False, "fingerprint": "01" * 32},
            }
        return None

    def log(self, dag_id, run_id, task_id, try_number):
        return "Task failed with exception\n    ValueError: bad value for alpha\x1b[2J\n"


def test_status_of_a_deployed_run_gives_reuse_reasons_and_errors_escaped():
    from amlcompile.rest import lifecycle

    lines = lifecycle.run_report(FakeAirflow(), "pipe", "r1")
    text = "\n".join(lines)
    assert "\x1b" not in text and "\u202e" not in text
    assert f"reused from {safe(HOSTILE)}"[:40] in text
    assert "fingerprint efefefefefef unchanged" in text
    assert "  train: ValueError: bad value for alpha\\x1b[2J" in lines
    assert "    whole log: amlcompile logs pipe r1 train" in lines


def test_status_line_counts_mapped_instances():
    buf = io.StringIO()
    view = LiveView(Console(buf, terminal=True), ["prep", "score"])
    for event in (
        {"ev": "state", "task": "prep", "state": "running"},
        {"ev": "state", "task": "prep", "state": "success"},
        {"ev": "state", "task": "score[0]", "state": "running"},
        {"ev": "state", "task": "score[0]", "state": "success"},
        {"ev": "state", "task": "score[1]", "state": "running"},
    ):
        view.handle(event)
    view.tick()
    assert "[1/2 done] score[1] running (1 of 2 score instances done)" in buf.getvalue()


def test_mini_batch_instances_print_only_their_own_lines_and_failures():
    buf = io.StringIO()
    view = LiveView(Console(buf, terminal=False), ["score"])
    for event in (
        {"ev": "state", "task": "score__batches[0]", "state": "scheduled"},
        {"ev": "state", "task": "score__batches[0]", "state": "running"},
        {"ev": "line", "task": "score__batches", "text": "mini-batch 0: 10 files in 0.05 s"},
        {"ev": "state", "task": "score__batches[0]", "state": "success"},
        {"ev": "state", "task": "score__batches[1]", "state": "running"},
        {"ev": "state", "task": "score__batches[1]", "state": "failed", "error": ["killed"]},
    ):
        view.handle(event)
    lines = buf.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["score__batches", *["score__batches[1]"] * 2]
    assert "mini-batch 0: 10 files in 0.05 s" in lines[0]
    assert "failed" in lines[1] and "! killed" in lines[2]
