"""A real Airflow 3.3.2 (api-server, scheduler, dag-processor) for the REST tests.

Started once per session in a temporary AIRFLOW_HOME: LocalExecutor on SQLite (what 3.3.2
allows for a single machine), a free loopback port, the execution API URL set to match, the
simple auth manager with known users. Every REST test carries `xdist_group("airflow_rest")`
so that under `pytest -n 2 --dist loadgroup` one worker owns the servers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.services import airflow_healthy, free_port, stop_process_groups

pytest.importorskip("airflow", reason="Airflow is installed with the [airflow] extra")

ADMIN = ("admin", "admin-pw-for-tests")
VIEWER = ("viewer", "viewer-pw-for-tests")
JWT_SECRET = "amlcompile-test-jwt-secret-" + "0123456789abcdef" * 3  # 64 bytes for HS512
START_TIMEOUT = 120
# A DAG the team had before amlcompile: the first deploy finds its new files through it.
EXISTING_DAG = "team_existing_dag"
EXISTING_DAG_SOURCE = f"""\
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG("{EXISTING_DAG}", schedule=None):
    EmptyOperator(task_id="noop")
"""


@dataclass
class AirflowServer:
    url: str
    home: Path
    dags: Path
    env: dict  # the environment Airflow's processes run with (AIRFLOW_HOME and config)
    plugins: Path | None = None  # Airflow's plugins folder, amlcompile's plugin installed
    plugin_install: str = ""  # what `amlcompile install-plugin` printed

    def client_env(self, user=ADMIN, url: str | None = None) -> dict:
        """Environment for an amlcompile process talking to this server (no Airflow config)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "AMLCOMPILE_AIRFLOW_URL": url or self.url,
                "AIRFLOW_USERNAME": user[0],
                "AIRFLOW_PASSWORD": user[1],
            }
        )
        return env


@pytest.fixture(scope="session")
def airflow_server(tmp_path_factory) -> AirflowServer:
    home = tmp_path_factory.mktemp("airflow_rest_home")
    dags = home / "dags"
    dags.mkdir()
    (dags / f"{EXISTING_DAG}.py").write_text(EXISTING_DAG_SOURCE)
    plugins = home / "plugins"
    # As a user does (docs/lifecycle.md): install amlcompile's plugin, then (re)start the
    # api-server, which loads plugins when it starts.
    from tests.conftest import amlcompile_cli

    installed = amlcompile_cli("install-plugin", "--plugins-folder", plugins, cwd=home)
    assert installed.returncode == 0, installed.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps(dict([ADMIN, VIEWER])))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": "amlcompile-test-secret-key",
        "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        # Airflow's default (300 s) on purpose: deploy must not wait for it (see EXISTING_DAG).
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN[0]}:admin,{VIEWER[0]}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
    }
    airflow = [sys.executable, "-m", "airflow"]
    migrate = subprocess.run(
        [*airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    procs = []
    logs = []
    for name in ("api-server", "scheduler", "dag-processor"):
        log = open(home / f"{name}.log", "w")
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [*airflow, name],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with all its children
            )
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not airflow_healthy(url):
            dead = [p.args[3] for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                tails = {
                    n: (home / f"{n}.log").read_text()[-1500:]
                    for n in ("api-server", "scheduler", "dag-processor")
                }
                pytest.fail(f"Airflow did not become healthy (dead: {dead}): {tails}")
            time.sleep(0.5)
        _wait_for_dag(url, EXISTING_DAG, deadline)
        yield AirflowServer(url, home, dags, env, plugins, installed.stdout)
    finally:
        stop_process_groups(procs)
        for log in logs:
            log.close()


def _wait_for_dag(url: str, dag_id: str, deadline: float) -> None:
    from amlcompile.rest import AirflowClient, RestError
    from amlcompile.rest.client import Credentials

    client = AirflowClient(url, Credentials(username=ADMIN[0], password=ADMIN[1]))
    while True:
        try:
            client.get(f"/api/v2/dags/{dag_id}")
            return
        except RestError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
