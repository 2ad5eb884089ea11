"""Fixtures any test can use (registered in tests/conftest.py): Azurite, a Databricks Jobs
API stand-in, an Azure Files REST stand-in and an `az` stand-in, each a real process or
server on loopback."""

from __future__ import annotations

import json
import os
import shutil
import threading

import pytest

from .azurite import Azurite, AzuriteUnavailable, ensure_installed, environ_with
from .databricks_standin import DatabricksStandin
from .fake_az import FakeAz
from .fileshare_standin import FileShareStandin


def _install_quietly() -> None:
    try:
        ensure_installed()
    except Exception:  # the fixture tries again and reports the error
        pass


def pytest_collection_modifyitems(session, config, items):
    """On a fresh checkout, install Azurite in the background while other tests run
    (`npm ci` takes a minute or more), if any selected test uses it."""
    if shutil.which("npm") and any("azurite" in getattr(i, "fixturenames", ()) for i in items):
        threading.Thread(target=_install_quietly, name="azurite-npm-ci", daemon=True).start()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """One blob emulator per test process; its Airflow connection is in the environment
    (AIRFLOW_CONN_AZURITE), so subprocess Airflows started by tests see it too."""
    server = Azurite(tmp_path_factory.mktemp("azurite"))
    try:
        server.start()
    except AzuriteUnavailable as exc:
        pytest.fail(str(exc))
    try:
        with environ_with(server.env()):
            yield server
    finally:
        server.stop()


@pytest.fixture
def databricks_standin():
    standin = DatabricksStandin().start()
    env = {f"AIRFLOW_CONN_{standin.conn_id.upper()}": json.dumps(standin.connection())}
    try:
        with environ_with(env):
            yield standin
    finally:
        standin.stop()


@pytest.fixture(scope="session")
def fileshare_standin():
    """One Azure Files REST stand-in per test process (the filesystem attached to Airflow's
    object storage keeps its service client for the process, as on a worker). Its Airflow
    connection (AIRFLOW_CONN_FILESHARE, type azure_fileshare, a connection string) is in the
    environment, so subprocess Airflows see it too."""
    standin = FileShareStandin().start()
    try:
        with environ_with(standin.env()):
            yield standin
    finally:
        standin.stop()


@pytest.fixture
def fake_az(tmp_path, monkeypatch):
    az = FakeAz(tmp_path / "fake_az")
    monkeypatch.setenv("PATH", f"{az.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("FAKE_AZ_RESULT", raising=False)
    az.snapshot_env()
    return az
