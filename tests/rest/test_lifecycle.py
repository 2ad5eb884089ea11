"""The lifecycle commands against a real Airflow 3.3.2 (api-server, scheduler, dag-processor).

One deployed project (the examples plus a pipeline whose step fails on request) shared by the
module; tests run in file order on one xdist worker (xdist_group).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from amlcompile.compiler import build
from amlcompile.rest import AirflowClient, RestError
from amlcompile.rest.client import Credentials
from tests.conftest import EXAMPLES, amlcompile_cli
from tests.schedule.test_schedule import WATCHED
from tests.support.services import free_port

from .conftest import ADMIN, JWT_SECRET, VIEWER

pytestmark = [pytest.mark.airflow, pytest.mark.xdist_group("airflow_rest")]

DAG = "My_Published_Pipeline"
FAILING = textwrap.dedent(
    """
    from amlcompile import CommandStep, Pipeline, PipelineParameter, Workspace

    ws = Workspace.from_config()
    exit_code = PipelineParameter(name="exit_code", default_value=1)
    step = CommandStep(
        command=["python", "-c", "import sys; sys.exit(int(sys.argv[1]))", exit_code],
        name="maybe_fail",
        source_directory="scripts",
    )
    pipeline = Pipeline(ws, steps=[step], name="Fail_On_Request")
    """
)

# More steps than Airflow's page limit (100): status must list every one.
WIDE_STEPS = 120
WIDE = textwrap.dedent(
    f"""
    from amlcompile import CommandStep, Pipeline, Workspace

    ws = Workspace.from_config()
    command = ["python", "-c", "pass"]
    steps = [
        CommandStep(command=command, name=f"s{{i:03d}}", source_directory="scripts")
        for i in range({WIDE_STEPS})
    ]
    pipeline = Pipeline(ws, steps=steps, name="Wide_Pipeline")
    """
)


@pytest.fixture(scope="module")
def project(tmp_path_factory, airflow_server) -> Path:
    """Examples built into the project's dags_out/ and deployed with `amlcompile deploy`."""
    root = tmp_path_factory.mktemp("rest_project")
    shutil.copytree(EXAMPLES, root / "examples")
    (root / "examples" / "failing" / "scripts").mkdir(parents=True)
    (root / "examples" / "failing" / "pipeline.py").write_text(FAILING)
    # An empty source_directory gets no snapshot folder in dags_out/ (a compiler gap, noted).
    (root / "examples" / "failing" / "scripts" / "README").write_text("no code needed\n")
    (root / "examples" / "wide" / "scripts").mkdir(parents=True)
    (root / "examples" / "wide" / "pipeline.py").write_text(WIDE)
    (root / "examples" / "wide" / "scripts" / "README").write_text("no code needed\n")
    (root / "examples" / "watched" / "scripts").mkdir(parents=True)
    (root / "examples" / "watched" / "scripts" / "README").write_text("no code needed\n")
    (root / "examples" / "watched" / "pipeline.py").write_text(
        WATCHED.replace("PARAM", "input_path")
    )
    (root / "amlcompile.toml").write_text(
        f"[airflow]\ndags_folder = {str(airflow_server.dags)!r}\n"
        f"plugins_folder = {str(airflow_server.plugins)!r}\n"
    )
    import os

    cwd = os.getcwd()
    os.chdir(root)
    try:
        build([root / "examples"])  # the uploads are deploy's to make
    finally:
        os.chdir(cwd)
    # Deployed here, not by the first test: whichever test a worker runs first finds the DAGs.
    started = time.monotonic()
    FIRST_DEPLOY["result"] = cli(airflow_server, root, "deploy", "--timeout", "120")
    FIRST_DEPLOY["seconds"] = time.monotonic() - started
    return root


FIRST_DEPLOY: dict = {}


def cli(server, project, *args, user=ADMIN, url=None, extra_env=None):
    env = server.client_env(user, url)
    env.update(extra_env or {})
    return amlcompile_cli(*args, cwd=project, env=env)


def admin(server) -> AirflowClient:
    return AirflowClient(server.url, Credentials(username=ADMIN[0], password=ADMIN[1]))


def test_deploy_parses_every_dag_and_sizes_pools(airflow_server, project):
    r = FIRST_DEPLOY["result"]
    assert r.returncode == 0, r.stderr
    for dag_id in (DAG, "Hello_World", "Sequence_Exp", "Fail_On_Request"):
        assert f"ok  {dag_id}" in r.stdout
    assert "pool amlcompile-aml-compute: 4 slots (created)" in r.stdout
    # The fixture installed the plugin with `amlcompile install-plugin` before Airflow started;
    # deploy (plugins_folder in the config) finds it current.
    assert "plugin amlcompile_plugin.py in" in airflow_server.plugin_install
    assert "installed (restart Airflow's api-server and scheduler" in airflow_server.plugin_install
    assert f"plugin amlcompile_plugin.py in {airflow_server.plugins}: unchanged" in r.stdout
    pool = admin(airflow_server).pool("amlcompile-aml-compute")
    assert pool["slots"] == 4
    # Every file was new to Airflow, whose refresh_interval is the default 300 s: deploy's
    # parse request through the team's existing DAG had them listed at once.
    assert FIRST_DEPLOY["seconds"] < 100, FIRST_DEPLOY["seconds"]
    print(f"first deploy took {FIRST_DEPLOY['seconds']:.1f}s")
    # Deploying the same files again changes nothing and needs no parse.
    again = cli(airflow_server, project, "deploy")
    assert again.returncode == 0, again.stderr
    assert "0 written" in again.stdout and "(unchanged)" in again.stdout


def test_deploy_reports_import_errors_against_the_dsl_file(airflow_server, project):
    broken = project / "dags_out" / "Broken_Pipeline.py"
    broken.write_text(
        "# Generated by amlcompile 0.1.0 from examples/broken/pipeline.py; do not edit.\n"
        "from airflow.sdk import DAG  # safe mode parses files naming airflow and DAG\n"
        "raise RuntimeError('this DAG cannot be imported')\n"
    )
    # A real generated file broken inside one step's task: the error names the step's DSL line.
    source = (project / "dags_out" / "Fail_On_Request.py").read_text()
    step_broken = project / "dags_out" / "Broken_Step.py"
    text = source.replace("'Fail_On_Request'", "'Broken_Step'")
    text = re.sub(r"'snapshot': '[^']*'", "'snapshot': undefined_name", text, count=1)
    step_broken.write_text(text)
    dsl = re.search(r"'location': '(examples/failing/pipeline\.py:\d+)'", source)[1]
    dag_line = next(i for i, x in enumerate(text.splitlines(), 1) if "undefined_name" in x)
    try:
        r = cli(airflow_server, project, "deploy", "--timeout", "120")
        assert r.returncode == 1, r.stdout + r.stderr
        assert (
            "error: examples/broken/pipeline.py: Airflow could not import Broken_Pipeline.py:"
            " RuntimeError: this DAG cannot be imported"
        ) in r.stderr
        assert (
            f"error: {dsl}: Airflow could not import Broken_Step.py (step 'maybe_fail', its"
            f" line {dag_line}): NameError: name 'undefined_name' is not defined"
        ) in r.stderr, r.stderr
    finally:
        broken.unlink()
        step_broken.unlink()
    r = cli(airflow_server, project, "deploy")
    assert r.returncode == 0, r.stderr
    assert not (airflow_server.dags / "Broken_Pipeline.py").exists()


def test_publish_trigger_with_conf_wait_and_status(airflow_server, project):
    r = cli(airflow_server, project, "publish", DAG, "--version", "2.1", "--description", "nightly")
    assert r.returncode == 0, r.stderr
    client = admin(airflow_server)
    assert client.dag(DAG)["is_paused"] is False
    var = client.get(f"/api/v2/variables/amlcompile_published__{DAG}")
    assert json.loads(var["value"])["version"] == "2.1"
    assert "version 2.1: nightly" in var["description"]

    r = cli(
        airflow_server, project, "trigger", DAG, "--param", "pipeline_arg=20",
        "--run-id", "first", "--wait",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "run first: success" in r.stdout
    assert "compare: success" in r.stdout
    outputs = project / ".amlcompile" / "datastores" / "workspaceblobstore"
    reports = [json.loads(p.read_text()) for p in outputs.rglob("report.json")]
    assert any(rep.get("param1") == 20 for rep in reports), reports

    # The same parameters again: every step is reused from the first run.
    r = cli(
        airflow_server, project, "trigger", DAG, "--param", "pipeline_arg=20",
        "--run-id", "second", "--wait",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    status = cli(airflow_server, project, "status", DAG, "second")
    assert status.returncode == 0, status.stderr
    for step in ("prep", "train", "extract", "compare"):
        line = next(x for x in status.stdout.splitlines() if x.strip().startswith(step + " "))
        assert "reused from first" in line, status.stdout

    runs = cli(airflow_server, project, "runs", DAG)
    assert "first" in runs.stdout and "second" in runs.stdout and "success" in runs.stdout
    logs = cli(airflow_server, project, "logs", DAG, "first", "compare")
    assert logs.returncode == 0, logs.stderr
    assert "compare" in logs.stdout or "param1" in logs.stdout
    missing = cli(airflow_server, project, "logs", DAG, "first", "nope")
    assert missing.returncode == 2
    assert "has no step 'nope'" in missing.stderr


def test_reused_steps_carry_a_note_in_the_deployed_airflow(airflow_server, project):
    """Airflow shows a reused step as skipped (`compare` reads the parameter: a value no other
    test uses makes it run in the first run); the plugin's listener (in the scheduler) notes
    on it which run it was reused from, as `amlcompile run` does, and `status` says the same."""
    assert cli(airflow_server, project, "enable", DAG).returncode == 0
    for run_id in ("noted_first", "noted_second"):
        r = cli(
            airflow_server, project, "trigger", DAG, "--param", "pipeline_arg=7331",
            "--run-id", run_id, "--wait",
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
    client = admin(airflow_server)
    base = f"/api/v2/dags/{DAG}/dagRuns"
    computed = client.get(f"{base}/noted_first/taskInstances/compare")
    assert computed["state"] == "success" and not computed.get("note")
    reused = client.get(f"{base}/noted_second/taskInstances/compare")
    assert reused["state"] == "skipped"
    assert reused["note"].startswith("Reused from run noted_first: not run, because its"), reused
    status = cli(airflow_server, project, "status", DAG, "noted_second")
    assert status.returncode == 0, status.stderr
    line = next(x for x in status.stdout.splitlines() if x.strip().startswith("compare "))
    assert "reused from noted_first" in line, status.stdout
    fingerprint = reused["note"].split("fingerprint ")[1].split()[0]
    assert f"fingerprint {fingerprint} unchanged" in status.stdout


def test_same_run_id_is_idempotent_other_conf_refused(airflow_server, project):
    # The run may exist already (the publish test starts it when it runs on this worker);
    # enabled, whatever ran before (a paused DAG is refused before its run ids are looked at).
    assert cli(airflow_server, project, "enable", DAG).returncode == 0
    first = cli(
        airflow_server, project, "trigger", DAG, "--param", "pipeline_arg=20", "--run-id", "first"
    )
    assert first.returncode == 0, first.stderr
    same = cli(
        airflow_server, project, "trigger", DAG, "--param", "pipeline_arg=20", "--run-id", "first"
    )
    assert same.returncode == 0, same.stderr
    assert "already triggered" in same.stdout
    other = cli(
        airflow_server, project, "trigger", DAG, "--param", "pipeline_arg=3", "--run-id", "first"
    )
    assert other.returncode == 2
    assert other.stderr.count("\n") == 1
    assert "run id 'first' already exists" in other.stderr
    # Straight to Airflow: its 409 is mapped too.
    with pytest.raises(RestError, match="run id 'first' already exists"):
        admin(airflow_server).trigger(DAG, {"pipeline_arg": 3}, "first")


def test_wrongly_typed_parameter_refused_with_airflows_reason(airflow_server, project):
    # Enabled: a paused DAG is refused before its parameters are looked at (another test
    # of this worker may have disabled it).
    assert cli(airflow_server, project, "enable", DAG).returncode == 0
    r = cli(airflow_server, project, "trigger", DAG, "--param", "pipeline_arg=ten")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1, r.stderr
    assert "Airflow refused the parameters of 'My_Published_Pipeline'" in r.stderr
    assert "'ten' is not of type 'integer'" in r.stderr
    unknown = cli(airflow_server, project, "trigger", DAG, "--param", "nope=1")
    assert unknown.returncode == 2
    assert "has no such parameter (parameters: pipeline_arg)" in unknown.stderr


def test_wait_exit_codes_and_azure_body(airflow_server, project):
    assert cli(airflow_server, project, "enable", "Fail_On_Request").returncode == 0
    failed = cli(airflow_server, project, "trigger", "Fail_On_Request", "--wait")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "maybe_fail: failed" in failed.stdout
    run_id = failed.stdout.split()[3]
    log = cli(airflow_server, project, "logs", "Fail_On_Request", run_id, "maybe_fail")
    assert "exit code 1" in log.stdout, log.stdout[-3000:]
    body = project / "body.json"
    body.write_text(json.dumps({"ExperimentName": "exp", "ParameterAssignments": {"exit_code": 0}}))
    ok = cli(airflow_server, project, "trigger", "Fail_On_Request", "--body", body, "--wait")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # continue_on_step_failure is a run option, the run's conf key of that name.
    strict = cli(
        airflow_server,
        project,
        "trigger",
        "Fail_On_Request",
        "--continue-on-step-failure",
        "--run-id",
        "tolerant",
    )
    assert strict.returncode == 0, strict.stderr
    run = admin(airflow_server).dag_run("Fail_On_Request", "tolerant")
    assert run["conf"] == {"continue_on_step_failure": True}
    body.write_text(json.dumps({"ParameterAssignment": {}}))
    bad = cli(airflow_server, project, "trigger", "Fail_On_Request", "--body", body)
    assert bad.returncode == 2
    assert "unknown key 'ParameterAssignment'" in bad.stderr


def test_disable_enable_and_cancel(airflow_server, project):
    client = admin(airflow_server)
    assert cli(airflow_server, project, "disable", DAG).returncode == 0
    assert client.dag(DAG)["is_paused"] is True
    refused = cli(airflow_server, project, "trigger", DAG, "--run-id", "while-paused")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert f"{DAG} is paused (disabled), so its run would wait in the queue" in refused.stderr
    # A run queued while paused (started some other way): --wait, with no --timeout, stops.
    client.trigger(DAG, {}, "while-paused")
    started = time.monotonic()
    waited = cli(airflow_server, project, "trigger", DAG, "--run-id", "while-paused", "--wait")
    assert waited.returncode == 2, waited.stdout + waited.stderr
    assert "its run while-paused waits in the queue and never starts" in waited.stderr
    assert time.monotonic() - started < 30
    cancel = cli(airflow_server, project, "cancel", DAG, "while-paused")
    assert cancel.returncode == 0, cancel.stderr
    assert "while-paused of My_Published_Pipeline: failed" in cancel.stdout
    unpaused = cli(airflow_server, project, "trigger", DAG, "--unpause", "--run-id", "unpaused")
    assert unpaused.returncode == 0, unpaused.stderr
    assert f"{DAG} enabled (unpaused)" in unpaused.stdout
    assert client.dag(DAG)["is_paused"] is False
    assert cli(airflow_server, project, "cancel", DAG, "unpaused").returncode == 0
    assert cli(airflow_server, project, "enable", DAG).returncode == 0
    assert client.dag(DAG)["is_paused"] is False


class Forwarder:
    """A TCP forwarder to Airflow's port that can be switched off (connections refused and
    cut) and on again: an api-server restart or a network blip as a client sees it."""

    def __init__(self, target_port: int):
        self.port = free_port()
        self.target = target_port
        self.on = False
        self.conns: list[socket.socket] = []

    def start(self) -> None:
        self.on = True
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(32)
        srv.settimeout(0.2)
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def stop(self) -> None:
        self.on = False
        time.sleep(0.5)  # the accept loop closes the listening socket
        for conn in self.conns:
            conn.close()
        self.conns = []

    def _accept(self, srv) -> None:
        with srv:
            while self.on:
                try:
                    client, _ = srv.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                upstream = socket.create_connection(("127.0.0.1", self.target))
                self.conns += [client, upstream]
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (a, b):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_wait_survives_airflow_going_away_for_a_while(airflow_server, project):
    client = admin(airflow_server)
    assert cli(airflow_server, project, "enable", "Fail_On_Request").returncode == 0
    forwarder = Forwarder(int(airflow_server.url.rsplit(":", 1)[1]))
    forwarder.start()
    env = airflow_server.client_env(ADMIN, f"http://127.0.0.1:{forwarder.port}")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "amlcompile.cli", "trigger", "Fail_On_Request",
            "--param", "exit_code=0", "--regenerate-outputs", "--run-id", "outage", "--wait",
        ],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client.dag_run("Fail_On_Request", "outage")
                break
            except RestError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
                time.sleep(0.2)
        forwarder.stop()  # refused and cut while --wait follows the run
        time.sleep(7)
        forwarder.start()
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
        forwarder.stop()
    assert proc.returncode == 0, out + err
    assert "Airflow did not answer (" in out and "retrying in" in out, out
    assert "run outage: success" in out


def test_a_failed_reuse_planner_is_explained(airflow_server, project):
    assert cli(airflow_server, project, "enable", "Fail_On_Request").returncode == 0
    body = project / "bad_option.json"
    # A run option the planner refuses: every step then ends upstream_failed.
    body.write_text(json.dumps({"ParameterAssignments": {"continue_on_step_failure": "maybe"}}))
    r = cli(
        airflow_server, project, "trigger", "Fail_On_Request", "--body", body,
        "--run-id", "bad-option", "--wait", "--timeout", "180",
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    reason = "must be true or false, not 'maybe'"
    assert "the reuse planner (amlcompile_reuse_plan) failed: " in r.stdout, r.stdout
    assert reason in r.stdout
    assert "did not run (upstream_failed)" in r.stdout
    status = cli(airflow_server, project, "status", "Fail_On_Request", "bad-option")
    assert status.returncode == 0, status.stderr
    assert reason in status.stdout


def test_listings_page_through_the_api(airflow_server, project):
    client = admin(airflow_server)
    everything = client.get("/api/v2/dags", limit=100)
    paged = client.paged("/api/v2/dags", "dags", page_size=2)
    assert len(paged) == everything["total_entries"] > 4
    assert [d["dag_id"] for d in paged] == [d["dag_id"] for d in everything["dags"]]
    # A real run of more than 100 steps: its task instances exist from the start (the DAG stays
    # paused, so nothing runs); status lists all of them.
    client.trigger("Wide_Pipeline", {}, "wide")
    try:
        status = cli(airflow_server, project, "status", "Wide_Pipeline", "wide")
        assert status.returncode == 0, status.stderr
        listed = [x.split()[0] for x in status.stdout.splitlines()[1:]]
        assert sorted(listed) == [f"s{i:03d}" for i in range(WIDE_STEPS)], status.stdout
        logs = cli(airflow_server, project, "logs", "Wide_Pipeline", "wide", "s119")
        assert "(step s119 has not started" in logs.stdout, logs.stdout + logs.stderr
    finally:
        client.set_run_state("Wide_Pipeline", "wide", "failed")
    path = f"/api/v2/dags/{DAG}/dagRuns"
    runs = client.get(path, limit=100, order_by="-run_after")["dag_runs"]
    one_by_one = client.paged(path, "dag_runs", page_size=1, order_by="-run_after")
    assert [r["dag_run_id"] for r in one_by_one] == [r["dag_run_id"] for r in runs]
    assert len(runs) >= 2


def test_missing_dag_and_missing_run(airflow_server, project):
    r = cli(airflow_server, project, "trigger", "No_Such_Dag")
    assert r.returncode == 2
    assert "no DAG 'No_Such_Dag'" in r.stderr
    r = cli(airflow_server, project, "status", DAG, "no-such-run")
    assert r.returncode == 2
    assert "has no run 'no-such-run'" in r.stderr


def test_wrong_password_forbidden_user_unreachable_server(airflow_server, project):
    wrong = cli(airflow_server, project, "runs", DAG, user=(ADMIN[0], "not-the-password"))
    assert wrong.returncode == 2
    assert "refused the login of user 'admin': wrong username or password" in wrong.stderr
    assert "not-the-password" not in wrong.stderr + wrong.stdout
    viewer = cli(airflow_server, project, "trigger", DAG, user=VIEWER)
    assert viewer.returncode == 2
    assert "the user may not do this (403" in viewer.stderr
    port = free_port()
    down = cli(airflow_server, project, "runs", DAG, url=f"http://127.0.0.1:{port}")
    assert down.returncode == 2
    assert f"Airflow is unreachable at http://127.0.0.1:{port}" in down.stderr
    assert down.stderr.count("\n") == 1


def test_expired_token_is_refreshed_once(airflow_server, project):
    import jwt

    token = admin(airflow_server)._ensure_token()
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["exp"] = int(time.time()) - 60
    header = jwt.get_unverified_header(token)
    expired = jwt.encode(claims, JWT_SECRET, algorithm=header["alg"], headers=header)
    # With username/password as well: one new login, then the call succeeds.
    r = cli(airflow_server, project, "runs", DAG, extra_env={"AIRFLOW_TOKEN": expired})
    assert r.returncode == 0, r.stderr
    # The expired token alone: one clear line, naming where credentials come from.
    only = cli(
        airflow_server,
        project,
        "runs",
        DAG,
        extra_env={"AIRFLOW_TOKEN": expired, "AIRFLOW_USERNAME": "", "AIRFLOW_PASSWORD": ""},
    )
    assert only.returncode == 2
    assert "invalid or expired" in only.stderr and "$AIRFLOW_TOKEN" in only.stderr
    assert expired not in only.stderr
    # A token Airflow cannot verify (another signing key) is a 403: the same one retry.
    forged = jwt.encode(claims | {"exp": int(time.time()) + 600}, "x" * 64, algorithm="HS512")
    r = cli(airflow_server, project, "runs", DAG, extra_env={"AIRFLOW_TOKEN": forged})
    assert r.returncode == 0, r.stderr
    only = cli(
        airflow_server,
        project,
        "runs",
        DAG,
        extra_env={"AIRFLOW_TOKEN": forged, "AIRFLOW_USERNAME": "", "AIRFLOW_PASSWORD": ""},
    )
    assert only.returncode == 2
    assert "refused the token (403" in only.stderr and "Invalid JWT" in only.stderr
    assert forged not in only.stderr


def test_seed_rest_call_on_the_published_endpoint(airflow_server, project):
    """The seed's sample: requests.post(published_pipeline.endpoint, headers=<auth header>,
    json={"ExperimentName": ..., "ParameterAssignments": {"pipeline_arg": 20}})."""
    requests = pytest.importorskip("requests")
    from amlcompile.client.runs import PublishedPipeline
    from amlcompile.rest import lifecycle

    assert cli(airflow_server, project, "publish", DAG).returncode == 0
    client = admin(airflow_server)
    endpoint = PublishedPipeline(client, DAG).endpoint
    assert endpoint == f"{airflow_server.url}/amlcompile/v1.0/PipelineRuns/PipelineSubmit/{DAG}"
    auth_header = {"Authorization": f"Bearer {client._ensure_token()}"}
    started = time.monotonic()
    response = requests.post(
        endpoint,
        headers=auth_header,
        json={"ExperimentName": "My_Pipeline", "ParameterAssignments": {"pipeline_arg": 20}},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    run_id = answer["Id"]
    assert answer["Status"]["StatusCode"] in ("Queued", "Running", "NotStarted")
    assert answer["PipelineId"] == DAG and answer["ExperimentName"] == "My_Pipeline"
    quoted = urllib.parse.quote(run_id, safe="")
    assert answer["StatusUrl"] == f"{airflow_server.url}/api/v2/dags/{DAG}/dagRuns/{quoted}"
    assert requests.get(answer["StatusUrl"], headers=auth_header).json()["dag_run_id"] == run_id
    run = client.dag_run(DAG, run_id)
    assert run["conf"] == {"pipeline_arg": 20}
    assert "experiment: My_Pipeline" in (run.get("note") or "")
    plugins = client.get("/api/v2/plugins")["plugins"]
    assert any(p["name"] == "amlcompile" for p in plugins), plugins
    audit = client.get("/api/v2/eventLogs", event="amlcompile_pipeline_submit", dag_id=DAG)
    assert audit["total_entries"] >= 1 and audit["event_logs"][0]["owner"] == ADMIN[0]
    final = lifecycle.wait(client, DAG, run_id, show=lambda line: None, timeout=180)
    assert final["state"] == "success"
    print(f"seed REST call: run {run_id} finished in {time.monotonic() - started:.1f}s")

    # A value given as text is typed by the DAG's Param, as `--param` does.
    text = requests.post(
        endpoint, headers=auth_header, json={"ParameterAssignments": {"pipeline_arg": "7"}}
    )
    assert text.status_code == 200, text.text
    assert client.dag_run(DAG, text.json()["Id"])["conf"] == {"pipeline_arg": 7}
    client.set_run_state(DAG, text.json()["Id"], "failed")  # not needed further

    def refused(resp, status, *words):
        assert resp.status_code == status, resp.text
        error = resp.json()["error"]
        assert error["code"] == "UserError", error
        for word in words:
            assert word in error["message"], error

    unknown = requests.post(
        endpoint, headers=auth_header, json={"ParameterAssignments": {"nope": 1}}
    )
    refused(unknown, 400, "has no parameter 'nope' (parameters: pipeline_arg)")
    bad_key = requests.post(endpoint, headers=auth_header, json={"ParameterAssignment": {}})
    refused(bad_key, 400, "unknown key 'ParameterAssignment'")
    wrong_type = requests.post(
        endpoint, headers=auth_header, json={"ParameterAssignments": {"pipeline_arg": "ten"}}
    )
    refused(wrong_type, 400, "'ten' is not of type 'integer'")
    not_json = requests.post(
        endpoint, headers={**auth_header, "Content-Type": "application/json"}, data="{nope"
    )
    refused(not_json, 400, "the request body is not valid")
    refused(requests.post(endpoint, json={}), 401, "Not authenticated")
    refused(requests.get(endpoint, headers=auth_header), 405, "Method Not Allowed")
    viewer = AirflowClient(airflow_server.url, Credentials(username=VIEWER[0], password=VIEWER[1]))
    viewer_header = {"Authorization": f"Bearer {viewer._ensure_token()}"}
    refused(requests.post(endpoint, headers=viewer_header, json={}), 403)
    missing = endpoint.replace(DAG, "No_Such_Dag")
    refused(requests.post(missing, headers=auth_header, json={}), 404, "No_Such_Dag")
    assert cli(airflow_server, project, "disable", DAG).returncode == 0
    try:
        paused = requests.post(endpoint, headers=auth_header, json={})
        refused(paused, 409, "is disabled", f"amlcompile enable {DAG}")
    finally:
        assert cli(airflow_server, project, "enable", DAG).returncode == 0


SDK_SCRIPT = """
import json
from amlcompile import Experiment, PipelineEndpoint, PublishedPipeline, Workspace
from amlcompile.rest import RestError

ws = Workspace.from_config()
exec(open("examples/failing/pipeline.py").read())  # builds `pipeline` (Fail_On_Request)
out = {}
run = Experiment(ws, "sdk_exp").submit(pipeline, pipeline_parameters={"exit_code": 0})
out["status"] = run.wait_for_completion(show_output=True)
out["steps"] = {s.name: s.get_status() for s in run.get_steps()}
published = pipeline.publish(name="Fail_On_Request", description="sdk", version="3")
out["endpoint"] = published.endpoint
got = PublishedPipeline.get(ws, id="Fail_On_Request")
out["got"] = [got.version, got.description]
published.disable()
out["listed_disabled"] = [p.id for p in PublishedPipeline.list(ws)]
published.enable()
out["listed_enabled"] = [p.id for p in PublishedPipeline.list(ws)]
endpoint = PipelineEndpoint.publish(ws, "ep", "an endpoint", published)
endpoint.add_default(PublishedPipeline.get(ws, id="My_Published_Pipeline"))
endpoint = PipelineEndpoint.get(ws, name="ep")
out["versions"] = [[v.version for v in endpoint.list_versions()], endpoint.default_version]
out["version_ids"] = [v.pipeline_id for v in endpoint.get_all_versions()]
out["default"] = [endpoint.get_default_version(), endpoint.get_pipeline().id, endpoint.endpoint]
endpoint.set_default_version("0")
out["reset"] = PipelineEndpoint.get(ws, id="ep").get_default_version()
endpoint.set_default_version("1")
failing = endpoint.submit("sdk_exp", pipeline_parameters={"exit_code": 2}, pipeline_version="0")
out["failed"] = failing.wait_for_completion(show_output=False, raise_on_error=False)
try:
    failing.wait_for_completion(show_output=False)
except RestError as exc:
    out["raised"] = str(exc)
print(json.dumps(out))
"""


def test_sdk_v1_objects_over_rest(airflow_server, project):
    import subprocess
    import sys

    # Published and enabled here too: tests of one module may run on either xdist worker,
    # in any order.
    published = cli(airflow_server, project, "publish", DAG)
    assert published.returncode == 0, published.stderr
    enabled = cli(airflow_server, project, "enable", "Fail_On_Request")
    assert enabled.returncode == 0, enabled.stderr
    script = project / "sdk_script.py"
    script.write_text(SDK_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=project,
        env=airflow_server.client_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["status"] == "Finished"
    assert out["steps"] == {"maybe_fail": "Finished"}
    assert out["endpoint"] == (
        f"{airflow_server.url}/amlcompile/v1.0/PipelineRuns/PipelineSubmit/Fail_On_Request"
    )
    assert out["got"] == ["3", "sdk"]
    assert "Fail_On_Request" not in out["listed_disabled"]
    assert "Fail_On_Request" in out["listed_enabled"]
    assert out["versions"] == [["0", "1"], "1"]
    assert out["version_ids"] == ["Fail_On_Request", "My_Published_Pipeline"]
    assert out["default"] == [
        "1",
        "My_Published_Pipeline",
        f"{airflow_server.url}/amlcompile/v1.0/PipelineRuns/PipelineSubmit/My_Published_Pipeline",
    ]
    assert out["reset"] == "0"  # saved in the endpoint's Airflow Variable
    assert out["failed"] == "Failed"
    assert "finished failed" in out["raised"]


def test_datastore_trigger_starts_the_pipeline_with_the_changed_path(airflow_server, project):
    client = admin(airflow_server)
    watch = "Watched__datastore_watch"
    assert cli(airflow_server, project, "publish", "Watched").returncode == 0
    assert client.dag(watch)["is_paused"] is False  # publish unpaused the polling DAG too
    first = cli(airflow_server, project, "trigger", watch, "--wait")
    assert first.returncode == 0, first.stdout + first.stderr
    _wait_idle(client, watch)  # unpausing may also have started a scheduled poll
    incoming = project / ".amlcompile" / "datastores" / "workspaceblobstore" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    (incoming / "new.csv").write_text("x,y\n1,2\n")
    second = cli(airflow_server, project, "trigger", watch, "--wait")
    assert second.returncode == 0, second.stdout + second.stderr
    deadline = time.monotonic() + 60
    while True:
        runs = client.dag_runs("Watched")
        if runs or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert [r["conf"] for r in runs] == [{"input_path": "incoming/new.csv"}]
    run_id = runs[0]["dag_run_id"]
    # The idempotent form of trigger (same id, same parameters) follows the existing run.
    done = cli(
        airflow_server, project, "trigger", "Watched", "--run-id", run_id,
        "--param", "input_path=incoming/new.csv", "--wait",
    )  # fmt: skip
    assert "already triggered" in done.stdout and done.returncode == 0, done.stdout + done.stderr
    log = cli(airflow_server, project, "logs", "Watched", run_id, "show")
    assert "got incoming/new.csv" in log.stdout


def _wait_idle(client, dag_id, timeout=60):
    deadline = time.monotonic() + timeout
    while any(r["state"] in ("queued", "running") for r in client.dag_runs(dag_id)):
        assert time.monotonic() < deadline, f"{dag_id} still has active runs"
        time.sleep(1)
