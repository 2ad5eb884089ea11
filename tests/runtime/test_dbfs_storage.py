"""DBFS datastores (`Datastore.register_dbfs`) against the Databricks stand-in's DBFS API 2.0
(tests/support/databricks_standin.py), through the Databricks provider's hook: copies,
directories, version tokens, reuse records and claims, the URIs a Databricks job gets, and
bad input."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from tests.support.databricks_standin import DatabricksStandin
from tests.support.fixtures import environ_with
from tests.support.store_contract import (
    check_exactly_one_claimer_wins,
    check_heartbeat_takeover_and_release,
    read_tree,
    write_tree,
)

pytestmark = pytest.mark.airflow  # needs Airflow's object storage and the Databricks provider


@pytest.fixture(scope="module")
def dbfs_standin():
    """A stand-in with its own connection id: the filesystem attached to Airflow's object
    storage keeps its hook (and the connection's port) for the process, as on a worker."""
    standin = DatabricksStandin(conn_id=f"dbfs_{uuid.uuid4().hex[:8]}").start()
    env = {f"AIRFLOW_CONN_{standin.conn_id.upper()}": json.dumps(standin.connection())}
    try:
        with environ_with(env):
            yield standin
    finally:
        standin.stop()


@pytest.fixture
def dbfs(dbfs_standin):
    from amlcompile.runtime.storage import datastore_root

    folder = f"/amlcompile-test/{uuid.uuid4().hex[:8]}"
    datastores = {"dbfs_ds": {"kind": "dbfs", "path": folder, "conn_id": dbfs_standin.conn_id}}
    return datastores, datastore_root(datastores, "dbfs_ds", "test")


def test_directory_round_trip_local_dbfs_dbfs_local_keeps_bytes_and_folders(
    dbfs, tmp_path, dbfs_standin
):
    from amlcompile.runtime.storage import copy_tree, reference_type

    _, root = dbfs
    files = write_tree(tmp_path / "src", 2 * 1024 * 1024 + 7)  # three add-block calls
    (tmp_path / "src" / "empty_dir").mkdir()
    assert copy_tree(tmp_path / "src", root / "in") == "directory"
    assert copy_tree(root / "in", root / "copy") == "directory"  # DBFS → DBFS
    assert copy_tree(root / "copy", tmp_path / "back") == "directory"
    assert read_tree(tmp_path / "back") == files
    assert (tmp_path / "back" / "empty_dir").is_dir()  # directories are real on DBFS
    assert reference_type(root / "in" / "a.txt") == "file"
    assert reference_type(root / "nothing") is None
    # The bytes are where a Databricks job reads them, under the datastore's folder.
    assert dbfs_standin.dbfs[f"dbfs:{root.path}/in/a.txt"] == files["a.txt"]
    blocks = [
        r for r in dbfs_standin.requests if r["path"].endswith("dbfs/add-block")
    ]  # every block within the API's 1 MB limit (the stand-in refuses larger ones)
    assert blocks


def test_reads_ranges_and_large_files_in_1mb_calls(dbfs, tmp_path, dbfs_standin):
    from amlcompile.runtime.storage import copy_tree, remove_tree

    _, root = dbfs
    data = os.urandom(3 * 1024 * 1024 + 1)
    (tmp_path / "f.bin").write_bytes(data)
    copy_tree(tmp_path / "f.bin", root / "d" / "f.bin")
    with (root / "d" / "f.bin").open("rb") as fh:
        fh.seek(1024 * 1024 - 2)
        assert fh.read(5) == data[1024 * 1024 - 2 : 1024 * 1024 + 3]
    copy_tree(root / "d" / "f.bin", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == data
    remove_tree(root / "d")
    assert not (root / "d").exists()


def test_version_token_follows_changes(dbfs):
    from amlcompile.runtime.storage import version_token

    _, root = dbfs
    (root / "data" / "one.txt").write_bytes(b"1")
    (root / "data" / "sub" / "two.txt").write_bytes(b"2")
    (root / "other.txt").write_bytes(b"o")
    file_token, dir_token = version_token(root / "data" / "one.txt"), version_token(root / "data")
    (root / "other.txt").write_bytes(b"changed")
    assert version_token(root / "data" / "one.txt") == file_token
    assert version_token(root / "data") == dir_token
    (root / "data" / "sub" / "two.txt").write_bytes(b"2")  # same bytes, a new modification time
    assert version_token(root / "data") != dir_token
    (root / "data" / "one.txt").write_bytes(b"1!")
    assert version_token(root / "data" / "one.txt") != file_token
    assert version_token(root / "nothing") == "missing"


def test_reuse_record_round_trip_from_the_location_string(dbfs):
    from amlcompile.runtime.storage import RemoteStore, location, record_roots

    datastores, root = dbfs
    store = RemoteStore(root)
    out = root / "azureml" / "fp" / "f1" / "port"
    (out / "part.txt").write_bytes(b"result")
    record = {"fingerprint": "f1", "outputs": {"port": str(out)}, "produced_by": {"run_id": "r"}}
    roots = record_roots(datastores)
    assert store.read_record("f1", roots=roots) is None
    store.write_record("f1", record)
    assert str(out).startswith(f"amldbfs://{datastores['dbfs_ds']['conn_id']}@/amlcompile-test/")
    assert RemoteStore(location(str(root))).read_record("f1", roots=roots) == record
    (root / "azureml" / "_reuse" / "f2.json").write_bytes(b"{not json")
    assert store.read_record("f2") is None


def test_exactly_one_of_many_claimers_wins_on_dbfs(dbfs):
    _, root = dbfs
    check_exactly_one_claimer_wins(root)


def test_claim_heartbeat_stale_takeover_and_release_on_dbfs(dbfs):
    _, root = dbfs
    check_heartbeat_takeover_and_release(root)


def test_a_databricks_job_gets_dbfs_uris(dbfs):
    from amlcompile.runtime.uris import storage_uri

    datastores, root = dbfs
    assert storage_uri(datastores, "dbfs_ds", "FileStore/x.csv", "s") == (
        f"dbfs:{root.path}/FileStore/x.csv"
    )
    at_root = {"d": {"kind": "dbfs", "path": "/", "conn_id": "c"}}
    assert storage_uri(at_root, "d", "FileStore", "s") == "dbfs:/FileStore"


def test_bad_dbfs_datastores_fail_with_one_line(dbfs_standin):
    from amlcompile.runtime.binding import StepError
    from amlcompile.runtime.dbfs_fs import DbfsFileSystem
    from amlcompile.runtime.storage import datastore_path, datastore_root

    with pytest.raises(StepError) as err:
        datastore_root({"d": {"kind": "dbfs", "path": "/"}}, "d", "prep")
    assert str(err.value) == (
        "step 'prep': datastore 'd' (dbfs) has no Airflow connection id (a Databricks connection)"
    )
    stores = {"d": {"kind": "dbfs", "path": "/x", "conn_id": dbfs_standin.conn_id}}
    with pytest.raises(StepError):
        datastore_path(stores, "d", "../etc", "prep")
    with pytest.raises(ValueError, match="climbs"):
        DbfsFileSystem._strip_protocol("amldbfs://c@/x/../../etc")
