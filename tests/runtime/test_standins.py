"""The Databricks Jobs API stand-in driven by the provider's real operator, and the `az`
stand-in driven like a BashOperator would (a shell, PATH lookup)."""

from __future__ import annotations

import json
import subprocess

import pytest

NOTEBOOK_JSON = {
    "run_name": "standin-check",
    "existing_cluster_id": "1234-567890-abcde123",
    "notebook_task": {"notebook_path": "/Shared/prep", "base_parameters": {"x": "1"}},
    "timeout_seconds": 600,
}


def submit(standin, task_id="submit"):
    from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

    op = DatabricksSubmitRunOperator(
        task_id=task_id,
        json=dict(NOTEBOOK_JSON),
        databricks_conn_id=standin.conn_id,
        polling_period_seconds=0.05,
        databricks_retry_delay=0.1,
        databricks_retry_limit=2,
        do_xcom_push=False,
    )
    return op.execute(context={})


@pytest.mark.airflow
def test_databricks_submit_run_succeeds_against_the_standin(databricks_standin):
    databricks_standin.polls = 3
    submit(databricks_standin)
    [body] = databricks_standin.submitted()
    assert body["notebook_task"] == NOTEBOOK_JSON["notebook_task"]
    assert body["existing_cluster_id"] == NOTEBOOK_JSON["existing_cluster_id"]
    assert body["run_name"] == "standin-check"
    gets = [r for r in databricks_standin.requests if r["path"].endswith("/jobs/runs/get")]
    assert len(gets) >= 4  # the run page URL, then polls until the end state
    assert all(r["query"]["run_id"] == "1" for r in gets)
    auth = databricks_standin.requests[0]["headers"].get("Authorization")
    assert auth == "Bearer standin-token"


@pytest.mark.airflow
def test_databricks_failed_run_raises(databricks_standin):
    from airflow.exceptions import AirflowException

    databricks_standin.set_result("FAILED")
    with pytest.raises(AirflowException, match="FAILED"):
        submit(databricks_standin)
    paths = [r["path"] for r in databricks_standin.requests]
    assert any(p.endswith("/jobs/runs/get-output") for p in paths)  # the hook asked why


def test_databricks_standin_rejects_unknown_runs_and_routes(databricks_standin):
    import urllib.error
    import urllib.request

    for path in ("/api/2.1/jobs/runs/get?run_id=99", "/api/2.1/jobs/nothing"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(databricks_standin.url + path, timeout=5)
        assert err.value.code in (400, 404)
    with pytest.raises(ValueError, match="unknown Databricks result state"):
        databricks_standin.set_result("DONE")


def az(*args, env=None):
    return subprocess.run(["az", *args], capture_output=True, text=True, timeout=60, env=env)


def test_fake_az_submits_shows_and_records(fake_az, tmp_path, monkeypatch):
    script = tmp_path / "job.usql"
    script.write_text("@a = SELECT * FROM @in;\n")
    monkeypatch.setenv("ADLA_PARAM_X", "$(touch pwned); `id`")
    out = az(
        "dla", "job", "submit", "--account", "acct", "--job-name", "j1", "--script", f"@{script}"
    )
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)
    first = json.loads(
        az("dla", "job", "show", "--account", "acct", "--job-identity", job["jobId"]).stdout
    )
    assert first["state"] == "Running"
    ended = json.loads(az("dla", "job", "show", "--job-identity", job["jobId"]).stdout)
    assert (ended["state"], ended["result"]) == ("Ended", "Succeeded")
    fake_az.set_result("Failed")
    failed = json.loads(az("dla", "job", "show", "--job-identity", job["jobId"]).stdout)
    assert failed["result"] == "Failed" and failed["errorMessage"]
    calls = fake_az.calls()
    assert calls[0]["argv"][:3] == ["dla", "job", "submit"]
    assert calls[0]["script_text"] == "@a = SELECT * FROM @in;\n"
    assert calls[0]["env"]["ADLA_PARAM_X"] == "$(touch pwned); `id`"
    assert "HOME" not in calls[0]["env"]  # only what differs from the test's environment
    assert not (tmp_path / "pwned").exists()


def test_fake_az_refuses_unknown_commands(fake_az):
    out = az("storage", "blob", "list")
    assert out.returncode != 0 and "stand-in az" in out.stderr
    out = az("dla", "job", "show", "--job-identity", "nope")
    assert out.returncode == 3 and "JobNotFound" in out.stderr
    out = az("dla", "job", "submit", "--account", "a")
    assert out.returncode == 2 and "--job-name" in out.stderr
    assert len(fake_az.calls()) == 3
