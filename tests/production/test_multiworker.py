"""The scale-out recipe of docs/production.md, for real: PostgreSQL as Airflow's metadata
database, Redis as Celery's broker, CeleryExecutor, an api-server, a scheduler, a
dag-processor and TWO Celery workers started from different working directories with
different local folders; Azurite as the Blob datastore. All of it started here, on loopback.

What a user does only: `amlcompile build` and `amlcompile deploy` (its uploads included), then
`amlcompile trigger`. Asserted: two identical runs started at once compute each step once
(the reuse claim holds across workers), an output written on one worker is read on the other
(steps pinned to workers by queue, `[compute.X] queue`), a shared local datastore is found on
each worker where that worker's Airflow Variable says (not the build machine's folder), and a
local datastore not declared shared is refused at deploy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import amlcompile_cli
from tests.support.services import (
    Postgres,
    Redis,
    Unavailable,
    airflow_healthy,
    free_port,
    stop_process_groups,
)

pytest.importorskip("airflow", reason="Airflow is installed with the [airflow] extra")
for _module in ("airflow.providers.celery", "celery", "redis", "psycopg2"):
    pytest.importorskip(_module, reason="the [production] extra (Celery, Redis, PostgreSQL)")

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.multiworker,
    pytest.mark.xdist_group("multiworker"),
]

ADMIN = ("admin", "admin-pw-multiworker")
JWT_SECRET = "amlcompile-multiworker-jwt-" + "0123456789abcdef" * 3
DAG = "Multi_Worker_Pipeline"
START_TIMEOUT = 180

# a (worker 1) → x on Blob → b (worker 2) → y on the shared local datastore → c (worker 1).
# Each step writes which worker ran it (and from which folder) next to what it read.
PIPELINE = textwrap.dedent(
    f"""
    from amlcompile import *

    ws = Workspace.from_config()
    blob = Datastore.get(ws, "workspaceblobstore")
    disk = Datastore.get(ws, "shareddisk")
    blob.upload_files(["data/raw.txt"], target_path="inputs", overwrite=True)
    raw = DataReference(blob, "raw", "inputs/raw.txt")
    x = PipelineData("x", datastore=blob)
    y = PipelineData("y", datastore=disk)
    z = PipelineData("z", datastore=blob)
    a = PythonScriptStep("step.py", name="a", source_directory="src", compute_target="one",
                         arguments=["--in", raw, "--out", x, "--sleep", "8"],
                         inputs=[raw], outputs=[x])
    b = PythonScriptStep("step.py", name="b", source_directory="src", compute_target="two",
                         arguments=["--in", x, "--out", y], inputs=[x], outputs=[y])
    c = PythonScriptStep("step.py", name="c", source_directory="src", compute_target="one",
                         arguments=["--in", y, "--out", z], inputs=[y], outputs=[z])
    pipeline = Pipeline(ws, steps=[a, b, c], name="{DAG}")
    """
)
STEP = textwrap.dedent(
    """
    import argparse, os, time
    p = argparse.ArgumentParser()
    p.add_argument("--in", dest="src")
    p.add_argument("--out")
    p.add_argument("--sleep", type=float, default=0)
    a = p.parse_args()
    src = a.src if os.path.isfile(a.src) else os.path.join(a.src, "trace.txt")
    text = open(src).read()
    time.sleep(a.sleep)
    me = f"{os.environ['MW_WORKER']} in {os.environ['MW_WORKER_DIR']}"
    with open(os.path.join(a.out, "trace.txt"), "w") as fh:
        fh.write(text + me + "\\n")
    print("ran on", me)
    """
)


class Cluster:
    def __init__(self, url, home, dags, plugins, shared, workers):
        self.url, self.home, self.dags, self.plugins = url, home, dags, plugins
        self.shared, self.workers = shared, workers

    def client_env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
        env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW_VAR_")}
        env.update(
            {
                "AMLCOMPILE_AIRFLOW_URL": self.url,
                "AIRFLOW_USERNAME": ADMIN[0],
                "AIRFLOW_PASSWORD": ADMIN[1],
            }
        )
        return env

    def client(self):
        from amlcompile.rest import AirflowClient
        from amlcompile.rest.client import Credentials

        return AirflowClient(self.url, Credentials(username=ADMIN[0], password=ADMIN[1]))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, azurite):
    started = time.monotonic()
    home = tmp_path_factory.mktemp("multiworker")
    dags, plugins, logs = home / "dags", home / "plugins", home / "logs"
    dags.mkdir()
    installed = amlcompile_cli("install-plugin", "--plugins-folder", plugins, cwd=home)
    assert installed.returncode == 0, installed.stderr
    services = []
    try:
        pg = Postgres().start()
        services.append(pg)
        redis = Redis().start()
        services.append(redis)
    except Unavailable as exc:
        for s in services:
            s.stop()
        pytest.skip(str(exc)) if not os.environ.get("CI") else pytest.fail(str(exc))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps(dict([ADMIN])))
    # The shared filesystem: one folder, seen by each worker at its own path (as two machines
    # mounting one NFS export at different places), and at neither by the build machine.
    shared = home / "shared-fs"
    shared.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_VAR_")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.url,
        "AIRFLOW__CELERY__BROKER_URL": redis.url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + pg.url,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": "amlcompile-multiworker-secret-key",
        "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN[0]}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs),
        "AMLCOMPILE_REUSE_POKE_SECONDS": "2",
    }
    airflow = [sys.executable, "-m", "airflow"]
    procs, files = [], []

    def start(name, argv, cwd, extra=None):
        log = open(home / f"{name}.log", "w")
        files.append(log)
        procs.append(
            subprocess.Popen(
                [*airflow, *argv],
                env={**env, **(extra or {})},
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    try:
        migrate = subprocess.run(
            [*airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
        )
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        print(f"postgres, redis, db migrate: {time.monotonic() - started:.1f}s")
        for name in ("api-server", "scheduler", "dag-processor"):
            start(name, [name], home)
        workers = {}
        for n in (1, 2):
            wdir = home / f"worker{n}"
            (wdir / "mnt").mkdir(parents=True)
            view = wdir / "mnt" / "shared"
            view.symlink_to(shared, target_is_directory=True)
            workers[n] = wdir
            start(
                f"worker{n}",
                ["celery", "worker", "--queues", f"default,w{n}", "--concurrency", "2"],
                wdir,
                {
                    "MW_WORKER": f"worker{n}",
                    "MW_WORKER_DIR": str(wdir),
                    # This worker's own view of the shared datastore: an Airflow Variable
                    # given in its environment (the metadata DB one would serve all workers).
                    "AIRFLOW_VAR_AMLCOMPILE_DATASTORE__SHAREDDISK": str(view),
                    "TMPDIR": str(wdir),
                },
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not airflow_healthy(url):
            dead = [p.args[3] for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                tails = {
                    p.args[3]: (home / f"{p.args[3]}.log").read_text()[-1500:] for p in procs[:3]
                }
                pytest.fail(f"Airflow did not become healthy (dead: {dead}): {tails}")
            time.sleep(0.5)
        print(f"Airflow healthy: {time.monotonic() - started:.1f}s")
        yield Cluster(url, home, dags, plugins, shared, workers)
    finally:
        stop_process_groups(procs, term_grace=10.0)
        for f in files:
            f.close()
        for s in services:
            s.stop()


def project(root: Path, cluster: Cluster, container: str, datastores: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "amlcompile.toml").write_text(
        textwrap.dedent(
            f"""
            project = "{root.name}"
            default_datastore = "workspaceblobstore"
            [airflow]
            dags_folder = "{cluster.dags}"

            [compute.one]
            kind = "local"
            queue = "w1"

            [compute.two]
            kind = "local"
            queue = "w2"
            """
        )
        + datastores
    )
    (root / "pipeline.py").write_text(PIPELINE)
    (root / "data").mkdir()
    (root / "data" / "raw.txt").write_text("raw data\n")
    (root / "src").mkdir()
    (root / "src" / "step.py").write_text(STEP)
    return root


def cli(cluster: Cluster, root: Path, *args):
    started = time.monotonic()
    r = amlcompile_cli(*args, cwd=root, env=cluster.client_env())
    print(f"amlcompile {' '.join(map(str, args))}: {time.monotonic() - started:.1f}s")
    return r


def wait_runs(client, run_ids: list[str], timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        states = {r: client.dag_run(DAG, r)["state"] for r in run_ids}
        if all(s in ("success", "failed") for s in states.values()):
            return states
        assert time.monotonic() < deadline, f"runs not finished after {timeout}s: {states}"
        time.sleep(2)


def test_two_workers_share_outputs_and_compute_each_step_once(cluster, azurite, tmp_path):
    container = azurite.create_container()
    blob_and_shared = textwrap.dedent(
        f"""
        [datastores.workspaceblobstore]
        kind = "azure_blob"
        conn_id = "{azurite.conn_id}"
        path = "{container}"
        account_name = "devstoreaccount1"

        [datastores.shareddisk]
        kind = "local"
        shared = true
        path = "{tmp_path / "not-mounted-on-the-build-machine"}"
        """
    )
    root = project(tmp_path / "mw", cluster, container, blob_and_shared)
    r = cli(cluster, root, "build", "pipeline.py")
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli(cluster, root, "deploy", "--plugins-folder", cluster.plugins, "--timeout", "120")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "to workspaceblobstore" in r.stdout and f"ok  {DAG}" in r.stdout
    r = cli(cluster, root, "enable", DAG)
    assert r.returncode == 0, r.stderr

    # Two identical runs at once.
    for run_id in ("r1", "r2"):
        r = cli(cluster, root, "trigger", DAG, "--run-id", run_id)
        assert r.returncode == 0, r.stdout + r.stderr
    client = cluster.client()
    states = wait_runs(client, ["r1", "r2"])
    assert states == {"r1": "success", "r2": "success"}, [
        cli(cluster, root, "status", DAG, r).stdout for r in states
    ]

    tis = {r: {t["task_id"]: t for t in client.task_instances(DAG, r)} for r in ("r1", "r2")}
    for step, queue in (("a", "w1"), ("b", "w2"), ("c", "w1")):
        ran = [r for r in ("r1", "r2") if tis[r][step]["state"] == "success"]
        assert len(ran) == 1, f"step {step} computed {len(ran)} times: {tis}"
        assert {tis[r][step]["state"] for r in ("r1", "r2")} == {"success", "skipped"}
        assert tis[ran[0]][step]["queue"] == queue

    # What each step read and which worker wrote it: a on worker 1 → b on worker 2 (read
    # from Blob what worker 1 wrote) → c on worker 1 (read from the shared folder, through
    # its own mount, what worker 2 wrote there through its mount).
    blobs = azurite.service_client().get_container_client(container)
    z = [b.name for b in blobs.list_blobs() if b.name.endswith("/z/trace.txt")]
    assert len(z) == 1, z
    trace = blobs.download_blob(z[0]).readall().decode().splitlines()
    w1, w2 = cluster.workers[1], cluster.workers[2]
    assert trace == [
        "raw data",
        f"worker1 in {w1}",
        f"worker2 in {w2}",
        f"worker1 in {w1}",
    ]
    ys = list(cluster.shared.glob("azureml/fp/*/y/trace.txt"))
    assert len(ys) == 1 and ys[0].read_text().endswith(f"worker2 in {w2}\n")
    records = list(cluster.shared.glob("azureml/_reuse/*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["refs"] == {"y": ["shareddisk", str(ys[0].parent.relative_to(cluster.shared))]}
    assert record["outputs"]["y"].startswith(str(w2 / "mnt" / "shared"))
    # Nobody used the build machine's folder: it was only the embedded default.
    assert not (tmp_path / "not-mounted-on-the-build-machine").exists()


def test_a_local_datastore_not_shared_is_refused_at_deploy(cluster, tmp_path):
    local = '\n[datastores.scratch]\nkind = "local"\npath = "scratch"\n'
    root = project(tmp_path / "mw-local", cluster, "unused", local)
    text = (root / "pipeline.py").read_text()
    (root / "pipeline.py").write_text(
        text.replace('"shareddisk"', '"scratch"')
        .replace('"workspaceblobstore"', '"scratch"')
        .replace(DAG, "Local_Only_Pipeline")
    )
    r = cli(cluster, root, "build", "pipeline.py")
    assert r.returncode == 0, r.stdout + r.stderr
    before = sorted(p.name for p in cluster.dags.iterdir())
    r = cli(cluster, root, "deploy", "--timeout", "60")
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert "runs CeleryExecutor (from amlcompile's plugin on the api-server)" in lines[0]
    assert "'scratch' (used by Local_Only_Pipeline)" in lines[0]
    assert "[datastores.scratch] shared = true" in lines[0]
    assert sorted(p.name for p in cluster.dags.iterdir()) == before  # nothing written
    assert not (root / "scratch").exists()  # nor uploaded
