"""A local datastore's folder is resolved on the worker at run time (the Airflow Variable
`amlcompile_datastore__<name>`, the build-time folder as the default), and reuse records
are read back on the reader's own roots."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("airflow", reason="the runtime needs Airflow")

from amlcompile.compiler import check, render_files  # noqa: E402
from amlcompile.runtime import storage  # noqa: E402
from amlcompile.runtime.binding import StepError  # noqa: E402

ENV = "AIRFLOW_VAR_AMLCOMPILE_DATASTORE__STORE"


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    storage._resolved.clear()
    monkeypatch.delenv(ENV, raising=False)
    yield
    storage._resolved.clear()


def stores(path):
    return {"store": {"kind": "local", "path": str(path), "conn_id": None, "shared": True}}


def test_without_a_variable_the_build_folder_is_the_root(tmp_path):
    assert storage.datastore_root(stores(tmp_path / "b"), "store", "s") == tmp_path / "b"


@pytest.mark.parametrize("form", ["plain", "json", "json-string"])
def test_the_variable_gives_the_folder_on_this_worker(tmp_path, monkeypatch, form):
    where = str(tmp_path / "mounted")
    value = {
        "plain": where,
        "json": json.dumps({"path": where}),
        "json-string": json.dumps(where),
    }[form]
    monkeypatch.setenv(ENV, value)
    root = storage.datastore_root(stores(tmp_path / "build"), "store", "s")
    assert root == tmp_path / "mounted"
    assert storage.datastore_path(stores(tmp_path), "store", "a/b", "s") == root / "a/b"


@pytest.mark.parametrize(
    "value, says",
    [
        ("relative/dir", "must be an absolute folder"),
        ("{not json", "not valid JSON"),
        ('{"folder": "/x"}', 'must be a folder or {"path"'),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(tmp_path, monkeypatch, value, says):
    monkeypatch.setenv(ENV, value)
    with pytest.raises(StepError, match="amlcompile_datastore__store") as err:
        storage.datastore_root(stores(tmp_path), "store", "train")
    assert says in str(err.value) and "'train'" in str(err.value)


def test_a_record_is_read_on_the_readers_roots(tmp_path, monkeypatch):
    """Worker 1 mounts the shared folder at /w1, worker 2 at /w2: a record written on worker 1
    names its outputs as (datastore, path), and worker 2 finds them under its own mount."""
    w1, w2 = tmp_path / "w1", tmp_path / "w2"
    out = w1 / "azureml/fp/f1/model"
    out.mkdir(parents=True)
    (out / "m.bin").write_text("weights")
    monkeypatch.setenv(ENV, str(w1))
    store = storage.open_store(stores(tmp_path / "build"), "store", "train")
    record = {
        "fingerprint": "f1",
        "outputs": {"model": str(out)},
        "refs": {"model": ["store", "azureml/fp/f1/model"]},
    }
    store.write_record("f1", record)
    shutil.copytree(w1, w2)  # the same filesystem, seen at another path
    shutil.rmtree(w1)  # and worker 1's path does not exist on worker 2
    storage._resolved.clear()
    monkeypatch.setenv(ENV, str(w2))
    ds = stores(tmp_path / "build")
    store2 = storage.open_store(ds, "store", "train")
    got = store2.read_record("f1", None, storage.record_roots(ds))
    assert got is not None and got["outputs"] == {"model": str(w2 / "azureml/fp/f1/model")}


def test_a_record_whose_refs_leave_the_datastore_keeps_its_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path / "w"))
    out = tmp_path / "w/azureml/fp/f2/o"
    out.mkdir(parents=True)
    ds = stores(tmp_path / "build")
    store = storage.open_store(ds, "store", "s")
    store.write_record(
        "f2",
        {"fingerprint": "f2", "outputs": {"o": str(out)}, "refs": {"o": ["store", "../../etc"]}},
    )
    got = store.read_record("f2", None, storage.record_roots(ds))
    assert got["outputs"] == {"o": str(out)}


def test_shared_datastores_and_compute_queues_reach_the_dag(project):
    project.write(
        "amlcompile.toml",
        """
[datastores.workspaceblobstore]
kind = "local"
shared = true
path = "/mnt/shared/blobstore"

[compute.w2]
kind = "local"
queue = "worker2"
""",
    )
    project.write(
        "pipe.py",
        """
from amlcompile import *
ws = Workspace.from_config()
a = PythonScriptStep("a.py", name="a", source_directory="src", compute_target="w2")
pipeline = Pipeline(ws, steps=[a])
""",
    )
    project.write("src/a.py", "print(1)\n")
    files, _ = render_files(check([project.root / "pipe.py"]))
    source = next(data for name, (data, _) in files.items() if "/" not in name).decode()
    assert "'shared': True" in source and "'queue': 'worker2'" in source  # COMPUTE_ARGS
    assert "'/mnt/shared/blobstore'" in source  # the embedded default only
