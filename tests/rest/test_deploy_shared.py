"""build → deploy → trigger of the seed example, and a DAGs folder shared by projects, against
the real Airflow of tests/rest/conftest.py. Only what a user does, through the CLI.

The seed's copy is renamed (`Seed_Deploy_Pipeline`): test_lifecycle.py deploys the examples,
seed included, into the same DAGs folder as another project, and a DAG id belongs to one
project.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, amlcompile_cli

pytestmark = [pytest.mark.airflow, pytest.mark.xdist_group("airflow_rest")]

SEED_DAG = "Seed_Deploy_Pipeline"
TEAM_B_DAG = "Team_B_Pipeline"
TEAM_IGNORE_LINE = "team_scratch/"
TEAM_B = textwrap.dedent(
    """
    from amlcompile import CommandStep, Pipeline, Workspace

    ws = Workspace.from_config()
    step = CommandStep(
        command=["python", "-c", "print('team b was here')"],
        name="hello_b",
        source_directory="scripts",
    )
    pipeline = Pipeline(ws, steps=[step], name="Team_B_Pipeline")
    """
)


def cli(server, root: Path, *args):
    started = time.monotonic()
    r = amlcompile_cli(*args, cwd=root, env=server.client_env())
    print(f"amlcompile {' '.join(map(str, args))}: {time.monotonic() - started:.1f}s")
    return r


def seed_project(root: Path, project: str, dags: Path) -> Path:
    """A copy of the seed example as its own project (one amlcompile.toml at its root)."""
    shutil.copytree(EXAMPLES / "seed_compare_models", root / "seed")
    source = root / "seed" / "pipeline.py"
    source.write_text(source.read_text().replace("My_Published_Pipeline", SEED_DAG))
    (root / "amlcompile.toml").write_text(
        f"project = {project!r}\n[airflow]\ndags_folder = {str(dags)!r}\n"
    )
    return root


@pytest.fixture(scope="module")
def seed(tmp_path_factory, airflow_server) -> Path:
    # The team keeps its own .airflowignore in the DAGs folder.
    ignore = airflow_server.dags / ".airflowignore"
    text = ignore.read_text() if ignore.exists() else ""
    if TEAM_IGNORE_LINE not in text.splitlines():
        ignore.write_text(text + TEAM_IGNORE_LINE + "\n")
    return seed_project(tmp_path_factory.mktemp("seed"), "seed-deploy", airflow_server.dags)


def test_seed_build_deploy_trigger(airflow_server, seed):
    r = cli(airflow_server, seed, "build", "seed")
    assert r.returncode == 0, r.stderr
    store = seed / ".amlcompile" / "datastores" / "workspaceblobstore"
    assert not store.exists()  # the build uploads nothing
    r = cli(airflow_server, seed, "deploy", "--timeout", "120")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "uploaded 1 file (1.6 kB) to workspaceblobstore, 0 unchanged" in r.stdout
    assert f"ok  {SEED_DAG}" in r.stdout
    data = seed / "seed" / "data" / "20news.pkl"
    assert (store / "20newsgroups" / "20news.pkl").read_bytes() == data.read_bytes()
    assert not (airflow_server.dags / "_amlcompile" / "uploads.json").exists()
    manifest = json.loads(
        (airflow_server.dags / "_amlcompile" / "projects" / "seed-deploy.json").read_text()
    )
    assert manifest["files"] == [f"{SEED_DAG}.py"] and manifest["root"] == str(seed)

    assert cli(airflow_server, seed, "enable", SEED_DAG).returncode == 0
    r = cli(airflow_server, seed, "trigger", SEED_DAG, "--param", "pipeline_arg=20", "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "compare" in r.stdout and r.stdout.rstrip().endswith(": success")

    again = cli(airflow_server, seed, "deploy")
    assert again.returncode == 0, again.stderr
    assert "uploaded 0 files to workspaceblobstore, 1 unchanged" in again.stdout
    assert "0 written" in again.stdout


def deployed(server, seed: Path) -> None:
    """The seed deployed (by the first test, or here when a test runs alone)."""
    if not (server.dags / "_amlcompile" / "projects" / "seed-deploy.json").exists():
        assert cli(server, seed, "build", "seed").returncode == 0
        r = cli(server, seed, "deploy", "--timeout", "120")
        assert r.returncode == 0, r.stdout + r.stderr


def test_a_second_project_in_the_same_dags_folder(airflow_server, seed, tmp_path):
    deployed(airflow_server, seed)
    team_b = tmp_path / "team_b"
    (team_b / "scripts").mkdir(parents=True)
    (team_b / "scripts" / "README").write_text("no code needed\n")
    (team_b / "pipeline.py").write_text(TEAM_B)
    (team_b / "amlcompile.toml").write_text(
        f"project = 'team-b'\n[airflow]\ndags_folder = {str(airflow_server.dags)!r}\n"
    )
    seed_file = airflow_server.dags / f"{SEED_DAG}.py"
    seed_bytes = seed_file.read_bytes()
    assert cli(airflow_server, team_b, "build", ".").returncode == 0
    r = cli(airflow_server, team_b, "deploy", "--timeout", "120")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"ok  {TEAM_B_DAG}" in r.stdout and ", 0 removed" in r.stdout
    assert seed_file.read_bytes() == seed_bytes
    lines = (airflow_server.dags / ".airflowignore").read_text().splitlines()
    assert TEAM_IGNORE_LINE in lines and lines.count("_amlcompile") == 1

    # Both still run: B's new DAG and the seed, deployed by the other project.
    for root, dag in ((team_b, TEAM_B_DAG), (seed, SEED_DAG)):
        assert cli(airflow_server, root, "enable", dag).returncode == 0
        r = cli(airflow_server, root, "trigger", dag, "--wait")
        assert r.returncode == 0, r.stdout + r.stderr

    # B drops its pipeline: its own file goes, named; the seed's stays.
    (team_b / "pipeline.py").write_text(TEAM_B.replace("Team_B_Pipeline", "Team_B_Renamed"))
    assert cli(airflow_server, team_b, "build", ".").returncode == 0
    r = cli(airflow_server, team_b, "deploy", "--timeout", "120")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"removed  {TEAM_B_DAG}.py" in r.stdout
    assert seed_file.read_bytes() == seed_bytes


def test_a_dag_id_of_another_project_is_refused(airflow_server, seed, tmp_path):
    deployed(airflow_server, seed)
    other = seed_project(tmp_path / "other", "seed-other", airflow_server.dags)
    assert cli(airflow_server, other, "build", "seed").returncode == 0
    r = cli(airflow_server, other, "deploy", "--timeout", "60")
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"error: DAG id {SEED_DAG!r} in {airflow_server.dags} belongs to")
    assert f"project 'seed-deploy' ({seed})" in line and f"project 'seed-other' ({other})" in line
    # Refused before anything: no upload, the seed project's file and manifest unchanged.
    assert not (other / ".amlcompile" / "datastores").exists()
    manifest = json.loads(
        (airflow_server.dags / "_amlcompile" / "projects" / "seed-deploy.json").read_text()
    )
    assert manifest["root"] == str(seed)
    assert not (airflow_server.dags / "_amlcompile" / "projects" / "seed-other.json").exists()
