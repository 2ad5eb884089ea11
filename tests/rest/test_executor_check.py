"""deploy refuses a local datastore that is not shared when Airflow's executor may run steps on
several machines; how it learns the executor (config, plugin, /api/v2/config)."""

from __future__ import annotations

import pytest

from amlcompile.rest import lifecycle
from amlcompile.rest.client import RestError

LOCAL = {"kind": "local", "path": "/build/ds", "conn_id": None}
BLOB = {"kind": "azure_blob", "path": "c", "conn_id": "blob"}


class FakeClient:
    url = "http://airflow.test:8080"

    def __init__(self, plugin=None, config=None):
        self.plugin, self.config, self.calls = plugin, config, []

    def get(self, path, **params):
        self.calls.append(path)
        if path.startswith("/amlcompile/"):
            if self.plugin is None:
                raise RestError("not found", 404)
            return {"executor": self.plugin}
        if self.config is None:
            raise RestError("the user may not do this (403)", 403)
        return {
            "sections": [{"name": "core", "options": [{"key": "executor", "value": self.config}]}]
        }


def dag_file(tmp_path, name, datastores):
    path = tmp_path / f"{name}.py"
    path.write_text(f"import sys\nDATASTORES = {datastores!r}\n")
    return path


@pytest.mark.parametrize(
    "value, distributed",
    [
        ("LocalExecutor", False),
        ("SequentialExecutor", False),
        ("airflow.executors.local_executor.LocalExecutor", False),
        ("CeleryExecutor", True),
        ("KubernetesExecutor", True),
        ("LocalExecutor,CeleryExecutor", True),
        ("fast:LocalExecutor", False),
        ("airflow.providers.edge3.executors.EdgeExecutor", True),
        ("my_team.executors.OwnExecutor", True),
    ],
)
def test_which_executors_are_distributed(value, distributed):
    assert lifecycle.is_distributed(value) is distributed


def test_a_local_datastore_not_shared_is_refused_on_celery(tmp_path):
    files = [dag_file(tmp_path, "P", {"workspaceblobstore": LOCAL, "blob": BLOB})]
    with pytest.raises(RestError) as err:
        lifecycle.check_executor(FakeClient(plugin="CeleryExecutor"), files, None)
    line = str(err.value)
    assert "\n" not in line
    assert "runs CeleryExecutor (from amlcompile's plugin on the api-server)" in line
    assert "'workspaceblobstore' (used by P)" in line and "'blob'" not in line
    assert "[datastores.workspaceblobstore] shared = true" in line


def test_shared_local_and_remote_datastores_pass_any_executor(tmp_path):
    files = [dag_file(tmp_path, "P", {"s": {**LOCAL, "shared": True}, "blob": BLOB})]
    client = FakeClient(plugin="CeleryExecutor")
    assert lifecycle.check_executor(client, files, None) == ""
    assert client.calls == []  # nothing to check: Airflow is not even asked


def test_local_executor_is_fine_and_config_wins(tmp_path):
    files = [dag_file(tmp_path, "P", {"d": LOCAL})]
    assert lifecycle.check_executor(FakeClient(config="LocalExecutor"), files, None) == (
        "LocalExecutor"
    )
    client = FakeClient(plugin="LocalExecutor")
    with pytest.raises(RestError, match=r"runs KubernetesExecutor \(from \[airflow\] executor"):
        lifecycle.check_executor(client, files, "KubernetesExecutor")
    assert client.calls == []


def test_an_unknown_executor_is_a_note_not_a_refusal(tmp_path):
    files = [dag_file(tmp_path, "P", {"d": LOCAL})]
    lines = []
    assert lifecycle.check_executor(FakeClient(), files, None, lines.append) == ""
    assert len(lines) == 1 and lines[0].startswith("note: cannot tell which executor")
    assert "[airflow] executor" in lines[0]
