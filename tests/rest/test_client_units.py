"""The REST client and lifecycle helpers without a server: paging, token retry, --wait's
retries and paused runs, the planner's failure reason, import-error locations, and the pure
half of the Airflow plugin (the Azure ML body mapping)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.parse
from pathlib import Path

import pytest

from amlcompile.airflow_plugin import PLUGIN_FILE
from amlcompile.airflow_plugin import amlcompile_plugin as plugin
from amlcompile.rest import AirflowClient, RestError, lifecycle
from amlcompile.rest.client import Credentials


class PagedClient(AirflowClient):
    """Answers listings of `total` items in pages of at most `cap` (Airflow's page limit)."""

    def __init__(self, total: int, cap: int = 100, with_total=True):
        super().__init__("http://airflow.test", Credentials(token="t"))
        self.total, self.cap, self.with_total = total, cap, with_total
        self.calls: list[dict] = []

    def _send(self, method, path, body, auth=True, accept_json=True):
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.calls.append(query)
        if parts.path.endswith("/dagRuns/r1") or parts.path.endswith("/dags/d"):
            return 200, {"dag_id": "d", "dag_run_id": "r1", "state": "running"}
        key = "task_instances" if parts.path.endswith("taskInstances") else "dag_runs"
        limit = min(int(query.get("limit", 50)), self.cap)
        offset = int(query.get("offset", 0))
        page = [
            {"task_id": f"t{i:03d}", "dag_run_id": f"r{i}", "map_index": -1}
            for i in range(offset, min(offset + limit, self.total))
        ]
        data = {key: page}
        if self.with_total:
            data["total_entries"] = self.total
        return 200, data


def test_task_instances_and_runs_are_read_page_by_page():
    client = PagedClient(total=250)
    tis = client.task_instances("d", "r1")
    assert [t["task_id"] for t in tis] == [f"t{i:03d}" for i in range(250)]
    pages = [c for c in client.calls if "offset" in c]
    assert [(c["offset"], c["limit"]) for c in pages] == [
        ("0", "100"),
        ("100", "100"),
        ("200", "100"),
    ]
    client = PagedClient(total=250)
    runs = client.dag_runs("d", limit=150)
    assert len(runs) == 150
    pages = [c for c in client.calls if "offset" in c]
    assert [(c["offset"], c["limit"]) for c in pages] == [("0", "100"), ("100", "50")]
    assert all(c["order_by"] == "-run_after" for c in pages)
    # A server whose page limit is below ours, and one that gives no total_entries.
    assert len(PagedClient(total=130, cap=40).task_instances("d", "r1")) == 130
    assert len(PagedClient(total=230, with_total=False).task_instances("d", "r1")) == 230


class TokenClient(AirflowClient):
    """Refuses every token but the one its login hands out."""

    def __init__(self, refusal: int, password=True):
        creds = Credentials(
            token="given", username="u" if password else None, password="p" if password else None
        )
        super().__init__("http://airflow.test", creds)
        self.refusal = refusal
        self.sent: list[tuple[str, str | None]] = []

    def _send(self, method, path, body, auth=True, accept_json=True):
        self.sent.append((path, self._token if auth else None))
        if path == "/auth/token":
            return 201, {"access_token": "fresh"}
        if self._token == "fresh":
            return 200, {"ok": True}
        return self.refusal, {"detail": "Invalid JWT token" if self.refusal == 403 else "Expired"}


@pytest.mark.parametrize("refusal", [401, 403])
def test_a_refused_given_token_is_replaced_by_one_login(refusal):
    client = TokenClient(refusal)
    assert client.get("/api/v2/dags") == {"ok": True}
    assert [p for p, _ in client.sent] == ["/api/v2/dags", "/auth/token", "/api/v2/dags"]
    # Without a password: one line, and a 403 for a bad token says so (not "may not do this").
    alone = TokenClient(refusal, password=False)
    with pytest.raises(RestError) as err:
        alone.get("/api/v2/dags")
    text = str(err.value)
    assert "no username/password is set" in text and "given" not in text
    assert len(alone.sent) == 1


def test_a_403_after_our_own_login_is_not_retried():
    client = TokenClient(403)
    client._token, client._token_given = "other", False
    with pytest.raises(RestError, match="the user may not do this"):
        client.get("/api/v2/dags")
    assert len(client.sent) == 1


class FlakyRun:
    """A run that answers `script` in order: 'down', '503', a state, or 'paused'."""

    def __init__(self, script):
        self.script = list(script)
        self.paused = False
        self.url = "http://airflow.test"

    def dag_run(self, dag_id, run_id):
        what = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if what == "down":
            raise RestError("Airflow is unreachable at http://airflow.test: refused")
        if what == "503":
            raise RestError("Airflow at http://airflow.test answered 503", 503)
        if what == "404":
            raise RestError("DAG 'd' has no run 'r'", 404)
        if what == "paused":
            self.paused = True
            what = "queued"
        return {"state": what}

    def dag(self, dag_id):
        return {"is_paused": self.paused}

    def task_instances(self, dag_id, run_id):
        return [{"task_id": "s", "state": "running", "map_index": -1}]


def test_wait_survives_transient_errors_with_backoff():
    sleeps, shown = [], []
    client = FlakyRun(["running", "down", "503", "down", "running", "success"])
    run = lifecycle.wait(client, "d", "r", show=shown.append, poll=1.0, sleep=sleeps.append)
    assert run["state"] == "success"
    assert sleeps == [1.0, 1.0, 2.0, 4.0, 1.0]  # backoff doubles, then the poll interval again
    assert sum("retrying" in line for line in shown) == 3


def test_wait_gives_up_after_bounded_retries_and_says_the_run_carries_on():
    sleeps = []
    client = FlakyRun(["down"])
    with pytest.raises(RestError) as err:
        lifecycle.wait(client, "d", "r", show=lambda x: None, poll=2.0, sleep=sleeps.append)
    assert len(sleeps) == lifecycle.WAIT_RETRIES
    assert max(sleeps) == lifecycle.WAIT_BACKOFF_MAX
    assert "the run carries on in Airflow (amlcompile status d r)" in str(err.value)
    # Not transient: at once.
    with pytest.raises(RestError, match="has no run"):
        lifecycle.wait(FlakyRun(["404"]), "d", "r", show=lambda x: None, sleep=sleeps.append)


def test_wait_on_a_paused_dag_ends_at_once():
    sleeps = []
    with pytest.raises(RestError) as err:
        lifecycle.wait(FlakyRun(["paused"]), "d", "r", show=lambda x: None, sleep=sleeps.append)
    assert sleeps == []
    assert "d is paused (disabled), so its run r waits in the queue and never starts" in str(
        err.value
    )
    assert "--unpause" in str(err.value)


def test_failure_reason_is_the_last_exception_of_the_log():
    log = "\n".join(
        [
            "2026-01-01T00:00:00 Task started",
            "2026-01-01T00:00:01 Task failed with exception",
            "    StepError: conf 'continue_on_step_failure' must be true or false, not 'x'",
            "2026-01-01T00:00:02 Marking task as FAILED",
        ]
    )
    assert lifecycle.failure_reason(log) == (
        "StepError: conf 'continue_on_step_failure' must be true or false, not 'x'"
    )
    plain = "Traceback (most recent call last):\n  File 'x'\nValueError: bad\nend of log"
    assert lifecycle.failure_reason(plain) == "ValueError: bad"


DAG_SOURCE = textwrap.dedent(
    """\
    # Generated by amlcompile 0.1.0 from examples/p/pipeline.py; do not edit.
    from x import Operator
    with DAG(
        dag_id='P',
        doc_md=(
            'Compiled by amlcompile from `examples/p/pipeline.py` (pipeline defined at '
            '`examples/p/pipeline.py:40`).'
        ),
    ) as dag:
        first = Operator(
            task_id='first',
            step={
                'source': {'location': 'examples/p/pipeline.py:12', 'git_commit': None},
                'snapshot': 'abc',
            },
        )
        second = Operator(
            task_id='second',
            step={
                'source': {'location': 'examples/p/pipeline.py:20', 'git_commit': None},
                'snapshot': broken,
            },
        )
    """
)


def test_import_errors_name_the_dsl_line(tmp_path):
    dag_file = tmp_path / "P.py"
    dag_file.write_text(DAG_SOURCE)

    def trace(line):
        return (
            "Traceback (most recent call last):\n"
            f'  File "/opt/airflow/dags/P.py", line {line}, in <module>\n'
            '  File "/opt/airflow/dags/_amlcompile/runtime_x/ops.py", line 3, in __init__\n'
            "NameError: name 'broken' is not defined"
        )

    line = lifecycle._import_error_line(dag_file, {"stack_trace": trace(21)})
    assert line == (
        "examples/p/pipeline.py:20: Airflow could not import P.py (step 'second', its line 21):"
        " NameError: name 'broken' is not defined"
    )
    assert lifecycle.dsl_location(dag_file, trace(13)) == ("examples/p/pipeline.py:12", 13, "first")
    assert lifecycle.dsl_location(dag_file, trace(2)) == ("examples/p/pipeline.py:40", 2, None)
    # No frame in the DAG file: the file named by the header, as before.
    line = lifecycle._import_error_line(dag_file, {"stack_trace": "ImportError: nothing"})
    assert line.startswith("examples/p/pipeline.py: Airflow could not import P.py:")


def test_azure_body_is_mapped_and_typed_by_the_params():
    params = {"pipeline_arg": {"type": "integer"}, "rate": {"type": ["number", "null"]}}
    body = {
        "ExperimentName": "My_Pipeline",
        "ParameterAssignments": {"pipeline_arg": "20", "rate": "0.5"},
        "DataPathAssignments": {},
        "ContinueRunOnStepFailure": True,
    }
    conf, experiment, description = plugin.conf_from_azure_body(body, params, "P")
    assert conf == {"pipeline_arg": 20, "rate": 0.5, "continue_on_step_failure": True}
    assert (experiment, description) == ("My_Pipeline", None)
    # The seed's own body: 20 is already a number.
    assert plugin.conf_from_azure_body({"ParameterAssignments": {"pipeline_arg": 20}}, params)[
        0
    ] == {"pipeline_arg": 20}
    with pytest.raises(plugin.BodyError, match=r"no parameter 'nope' \(parameters: pipeline_arg"):
        plugin.conf_from_azure_body({"ParameterAssignments": {"nope": 1}}, params, "P")
    with pytest.raises(plugin.BodyError, match="unknown key 'Parameters'"):
        plugin.conf_from_azure_body({"Parameters": {}}, params)
    with pytest.raises(plugin.BodyError, match="expected a JSON object"):
        plugin.conf_from_azure_body([1], params)
    assert plugin.typed("ten", {"type": "integer"}) == "ten"  # Airflow refuses it, with reason
    assert plugin.error_body(409, "m") == {
        "error": {"code": "UserError", "message": "m", "innerError": {"code": "Conflict"}}
    }


def test_dataset_assignments_take_urls_and_data_paths_and_explain_saved_ids():
    params = {"file_ds_param": {"type": "string"}, "data": {"type": "string"}}
    body = {
        "DataSetDefinitionValueAssignments": {
            "file_ds_param": "https://example.com/iris.csv",
            "data": {"DataPath": {"DataStoreName": "ws", "RelativePath": "in/x.csv"}},
        }
    }
    conf, _, _ = plugin.conf_from_azure_body(body, params, "P")
    assert conf == {"file_ds_param": "https://example.com/iris.csv", "data": "in/x.csv"}
    saved = {
        "DataSetDefinitionValueAssignments": {
            "file_ds_param": {"SavedDataSetReference": {"Id": "x"}}
        }
    }
    with pytest.raises(plugin.BodyError) as err:
        plugin.conf_from_azure_body(saved, params, "P")
    assert str(err.value).startswith(
        "the request body: DataSetDefinitionValueAssignments.file_ds_param: a"
        " SavedDataSetReference names a dataset registered in Azure ML"
    )
    with pytest.raises(plugin.BodyError, match="expected URL text"):
        plugin.conf_from_azure_body({"DataSetDefinitionValueAssignments": {"data": 3}}, params)
    with pytest.raises(plugin.BodyError, match="must be a JSON object"):
        plugin.conf_from_azure_body({"DataSetDefinitionValueAssignments": []}, params)


def test_the_plugin_file_imports_neither_airflow_nor_amlcompile():
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]);"
        " assert not any(m == 'airflow' or m.startswith(('airflow.', 'amlcompile')) for m in"
        " sys.modules), sorted(sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, plugin.__file__], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_install_plugin_says_what_it_did(tmp_path):
    folder = tmp_path / "plugins"
    assert lifecycle.install_plugin(folder) == "installed"
    target = folder / "amlcompile_plugin.py"
    assert target.read_bytes() == PLUGIN_FILE.read_bytes()
    assert lifecycle.install_plugin(folder) == "unchanged"
    target.write_text("# an older version\n")
    assert lifecycle.install_plugin(folder) == "updated"
    assert target.read_bytes() == PLUGIN_FILE.read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == ["amlcompile_plugin.py"]  # no temp left


def test_install_plugin_command(tmp_path):
    from tests.conftest import amlcompile_cli

    missing = amlcompile_cli("install-plugin", cwd=tmp_path)
    assert missing.returncode == 2
    assert "give --plugins-folder DIR or set [airflow] plugins_folder" in missing.stderr
    (tmp_path / "amlcompile.toml").write_text('[airflow]\nplugins_folder = "airflow/plugins"\n')
    done = amlcompile_cli("install-plugin", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folder = (tmp_path / "airflow" / "plugins").resolve()
    assert done.stdout.strip() == (
        f"plugin amlcompile_plugin.py in {folder}: installed (restart Airflow's api-server and"
        " scheduler to load it: plugins load when they start)"
    )
    again = amlcompile_cli("install-plugin", cwd=tmp_path)
    assert again.stdout.strip() == f"plugin amlcompile_plugin.py in {folder}: unchanged"


class PausedDag:
    """A paused DAG with one queued run `r` (conf {})."""

    def __init__(self):
        self.paused = True
        self.triggered = []

    def dag_run(self, dag_id, run_id):
        if run_id == "r":
            return {"dag_run_id": "r", "conf": {}, "state": "queued"}
        raise RestError("no run", 404)

    def dag(self, dag_id):
        return {"dag_id": dag_id, "is_paused": self.paused}

    def set_paused(self, dag_id, paused):
        self.paused = paused

    def trigger(self, dag_id, conf, run_id):
        self.triggered.append(run_id)
        return {"dag_run_id": run_id or "new", "conf": conf}


def test_trigger_refuses_a_paused_dag_unless_unpause():
    client = PausedDag()
    with pytest.raises(RestError) as err:
        lifecycle.trigger(client, "d", {})
    assert str(err.value) == (
        "d is paused (disabled), so its run would wait in the queue: enable it first"
        " (amlcompile enable d, or trigger with --unpause)"
    )
    assert client.triggered == [] and client.paused
    # The idempotent form returns the queued run (--wait then says it never starts) ...
    assert lifecycle.trigger(client, "d", {}, "r") == (
        {"dag_run_id": "r", "conf": {}, "state": "queued"},
        False,
    )
    assert client.paused
    # ... and with unpause it unpauses, so that the run starts.
    assert lifecycle.trigger(client, "d", {}, "r", unpause=True)[1] is False
    assert not client.paused
    client.paused = True
    run, created = lifecycle.trigger(client, "d", {"a": 1}, unpause=True)
    assert created and not client.paused and client.triggered == [None]


def test_dag_file_lines_map_to_the_step_through_the_steps_table():
    """A generated DAG names each step once, in its STEPS table: a failing line in a step's
    entry or in its task maps to that step's DSL line; elsewhere to the pipeline's."""
    golden = Path(__file__).resolve().parents[1] / "golden" / "Mixed_Compute.py"
    lines = golden.read_text().splitlines()

    def trace(n):
        return f'  File "/dags/Mixed_Compute.py", line {n}, in <module>\n'

    entry = lines.index("    'prep': {") + 2
    task = next(i for i, x in enumerate(lines, 1) if x.strip() == "task_id='prep',")
    for n in (entry, task):
        assert lifecycle.dsl_location(golden, trace(n)) == (
            "examples/mixed_compute/pipeline.py:70",
            n,
            "prep",
        )
    assert lifecycle.dsl_location(golden, trace(3)) == (
        "examples/mixed_compute/pipeline.py:111",
        3,
        None,
    )


def test_the_plugins_reuse_note_is_amlcompile_runs():
    """The deployed Airflow's note on a reused step (the plugin's listener) says what
    `amlcompile run` and `status` say, and reads the planner's own task and XCom key."""
    from amlcompile.local_run import reuse_note
    from amlcompile.runtime import reuse

    assert (plugin.PLAN_TASK_ID, plugin.PLAN_XCOM_KEY) == (reuse.PLAN_TASK_ID, reuse.PLAN_XCOM_KEY)
    origin = {"run_id": "manual__2026-11-27T10:00:00+00:00"}
    plan = {
        "train": {"reuse": True, "fingerprint": "0123456789abcdef", "reused_from": origin},
        "score": {"reuse": False, "fingerprint": "fedcba9876543210"},
        "old": {"reuse": True, "fingerprint": "aa", "reused_from": None},
    }
    notes = plugin.reused_notes(json.dumps(plan))
    assert notes == plugin.reused_notes(plan)
    assert sorted(notes) == ["old", "train"]
    assert notes["train"] == reuse_note("0123456789abcdef", origin)
    assert notes["old"] == reuse_note("aa", None)
    assert plugin.reused_notes("not json") == {} and plugin.reused_notes(None) == {}


class FlakyTriggerClient(AirflowClient):
    """POST dagRuns answers 500 ("Database error") the first time, after creating the run
    or not, as a busy Airflow on SQLite does."""

    def __init__(self, created_on_failure: bool):
        super().__init__("http://airflow.test", Credentials(token="t"))
        self.created_on_failure = created_on_failure
        self.runs: dict[str, dict] = {}
        self.posts: list[dict] = []

    def _send(self, method, path, body, auth=True, accept_json=True):
        if method == "GET" and path.endswith("/dags/d"):
            return 200, {"dag_id": "d"}
        if method == "GET" and "/dagRuns/" in path:
            run_id = urllib.parse.unquote(path.rsplit("/", 1)[1])
            return (200, self.runs[run_id]) if run_id in self.runs else (404, {})
        if method == "POST":
            self.posts.append(body)
            run_id = body["dag_run_id"]
            if run_id in self.runs:
                return 409, {"detail": "exists"}
            if len(self.posts) == 1:
                if self.created_on_failure:
                    self.runs[run_id] = {"dag_run_id": run_id, "state": "queued"}
                return 500, {"detail": "Database error"}
            self.runs[run_id] = {"dag_run_id": run_id, "state": "queued"}
            return 200, self.runs[run_id]
        return 404, {}


@pytest.mark.parametrize("created_on_failure", [False, True])
def test_a_trigger_answered_5xx_is_sent_again_and_makes_one_run(created_on_failure, monkeypatch):
    monkeypatch.setattr("amlcompile.rest.client.time.sleep", lambda s: None)
    client = FlakyTriggerClient(created_on_failure)
    run = client.trigger("d", {"x": 1})
    assert len(client.runs) == 1 and run["dag_run_id"] in client.runs
    assert run["dag_run_id"].startswith("manual__")  # Airflow's own form, chosen client-side
    assert {p["dag_run_id"] for p in client.posts} == {run["dag_run_id"]}  # the same run id


def test_a_given_run_id_that_exists_is_still_refused():
    client = FlakyTriggerClient(False)
    client.runs["mine"] = {"dag_run_id": "mine"}
    with pytest.raises(RestError, match="run id 'mine' already exists"):
        client.trigger("d", {}, run_id="mine")
