"""Remote datastores against Azurite: copies, version tokens, reuse records and claims."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.store_contract import (
    check_exactly_one_claimer_wins,
    check_heartbeat_takeover_and_release,
    read_tree,
    write_tree,
)

BIG = 5 * 1024 * 1024 + 123  # several upload blocks

pytestmark = pytest.mark.airflow  # needs Airflow's object storage and the Azure provider


@pytest.fixture
def blob(azurite):
    """A fresh container as a datastore, and its root."""
    from amlcompile.runtime.storage import datastore_root

    container = azurite.create_container()
    datastores = {"blobstore": {"kind": "azure_blob", "path": container, "conn_id": "azurite"}}
    return datastores, datastore_root(datastores, "blobstore", "test")


def test_directory_round_trip_local_blob_blob_local(blob, tmp_path):
    from amlcompile.runtime.storage import copy_tree, reference_type

    _, root = blob
    files = write_tree(tmp_path / "src", BIG)
    assert copy_tree(tmp_path / "src", root / "in") == "directory"
    assert copy_tree(root / "in", root / "copy") == "directory"  # remote → remote
    assert copy_tree(root / "copy", tmp_path / "back") == "directory"
    assert read_tree(tmp_path / "back") == files
    assert reference_type(root / "in" / "nested") == "directory"
    assert reference_type(root / "in" / "a.txt") == "file"
    assert reference_type(root / "nothing") is None


def test_file_round_trip_is_byte_for_byte(blob, tmp_path):
    from amlcompile.runtime.storage import copy_tree

    _, root = blob
    data = os.urandom(4 * 1024 * 1024 + 1)  # one byte over a block
    (tmp_path / "f.bin").write_bytes(data)
    assert copy_tree(tmp_path / "f.bin", root / "dir" / "f.bin") == "file"
    assert (root / "dir" / "f.bin").read_bytes() == data
    assert copy_tree(root / "dir" / "f.bin", tmp_path / "out" / "g.bin") == "file"
    assert (tmp_path / "out" / "g.bin").read_bytes() == data
    with pytest.raises(FileNotFoundError):
        copy_tree(root / "missing", tmp_path / "x")


def test_version_token_follows_blob_changes(blob, tmp_path):
    from amlcompile.runtime.storage import version_token

    _, root = blob
    (root / "data" / "one.txt").write_bytes(b"1")
    (root / "data" / "sub" / "two.txt").write_bytes(b"2")
    (root / "other.txt").write_bytes(b"o")
    file_token, dir_token = version_token(root / "data" / "one.txt"), version_token(root / "data")
    assert file_token.startswith("blob:") and dir_token.startswith("prefix:")
    # Reading, listing or changing data elsewhere changes nothing.
    (root / "data" / "one.txt").read_bytes()
    (root / "other.txt").write_bytes(b"changed")
    assert version_token(root / "data" / "one.txt") == file_token
    assert version_token(root / "data") == dir_token
    # Rewriting a blob (even with the same bytes) or adding one does.
    (root / "data" / "sub" / "two.txt").write_bytes(b"2")
    assert version_token(root / "data") != dir_token
    assert version_token(root / "data" / "one.txt") == file_token
    dir_token = version_token(root / "data")
    (root / "data" / "three.txt").write_bytes(b"3")
    assert version_token(root / "data") != dir_token
    (root / "data" / "one.txt").write_bytes(b"1!")
    assert version_token(root / "data" / "one.txt") != file_token
    assert version_token(root / "nothing") == "missing"
    # Local data keeps its size/mtime token.
    (tmp_path / "l.txt").write_text("x")
    assert version_token(tmp_path / "l.txt").startswith("file:")


def test_remote_record_written_whole_and_ignored_when_unusable(blob, tmp_path):
    from amlcompile.runtime.storage import RemoteStore

    _, root = blob
    store = RemoteStore(root)
    out = root / "azureml" / "fp" / "f1" / "port"
    (out / "part.txt").write_bytes(b"result")
    record = {"fingerprint": "f1", "outputs": {"port": str(out)}, "produced_by": {"run_id": "r"}}
    assert store.read_record("f1") is None
    store.write_record("f1", record)
    assert store.read_record("f1") == record
    # Another process sees the same record through a fresh filesystem.
    from airflow.sdk import ObjectStoragePath

    assert str(out).startswith("abfs://azurite@")
    assert RemoteStore(ObjectStoragePath(str(root))).read_record("f1") == record
    # Corrupt, truncated, someone else's, or outputs gone: ignored, the step recomputes.
    for fp, body in (("f2", b"{not json"), ("f3", b'{"fingerprint": "f3", "outp')):
        (root / "azureml" / "_reuse" / f"{fp}.json").write_bytes(body)
        assert store.read_record(fp) is None
    store.write_record("f4", {**record, "fingerprint": "f1"})
    assert store.read_record("f4") is None
    (out / "part.txt").unlink()
    assert store.read_record("f1") is None


def test_exactly_one_of_many_claimers_wins(blob):
    _, root = blob
    check_exactly_one_claimer_wins(root)


def test_claim_heartbeat_takeover_and_release(blob):
    _, root = blob
    check_heartbeat_takeover_and_release(root)


def test_datastore_root_errors_name_step_and_datastore():
    from amlcompile.runtime.binding import StepError
    from amlcompile.runtime.storage import datastore_root

    datastores = {
        "share": {"kind": "azure_file", "path": "myshare", "conn_id": "files"},
        "noconn": {"kind": "adls_gen2", "path": "fs", "conn_id": None},
        "odd": {"kind": "s3", "path": "b", "conn_id": "x"},
        "local": {"kind": "local", "path": "/tmp/ds", "conn_id": None},
    }
    cases = {
        "share": "datastore 'share' (azure_file share 'myshare'): Airflow connection 'files'",
        "noconn": "datastore 'noconn' (adls_gen2) has no Airflow connection id",
        "odd": "datastore 'odd' has unknown kind 's3'",
        "gone": "datastore 'gone' is not defined in this DAG",
    }
    for name, message in cases.items():
        with pytest.raises(StepError, match="step 'prep'") as err:
            datastore_root(datastores, name, "prep")
        assert message in str(err.value)
    assert datastore_root(datastores, "local", "prep") == Path("/tmp/ds")
    root = datastore_root({"g": {"kind": "adls_gen2", "path": "fs/", "conn_id": "c"}}, "g", "s")
    assert str(root / "x") == "abfs://c@fs/x"


def test_empty_output_folder_survives_blob_storage(blob, tmp_path):
    """A step that writes nothing to an output: on a blob prefix that would be nothing at
    all, so the output could never be found, read or reused. One empty marker blob keeps
    it; it never reaches a reader."""
    from amlcompile.runtime.storage import (
        EMPTY_MARKER,
        LocalStore,
        copy_tree,
        reference_type,
        version_token,
    )

    _, root = blob
    (tmp_path / "empty").mkdir()
    assert copy_tree(tmp_path / "empty", root / "out") == "directory"
    assert reference_type(root / "out") == "directory"
    assert LocalStore(tmp_path / "records").output_exists(str(root / "out"))
    assert version_token(root / "out") == version_token(root / "out")
    assert copy_tree(root / "out", root / "copy") == "directory"  # remote → remote
    assert copy_tree(root / "copy", tmp_path / "back") == "directory"
    assert (tmp_path / "back").is_dir() and not list((tmp_path / "back").iterdir())
    assert [p.name for p in (root / "copy").iterdir()] == [EMPTY_MARKER]


def test_remote_listing_versions_and_download_of_named_files(blob, tmp_path):
    """ParallelRunStep's split and batch: blobs listed with ETag versions (a rewrite changes
    only its own), a single blob by its base name, only the named files downloaded."""
    from amlcompile.runtime.storage import download_files, remote_listing, version_token

    _, root = blob
    for name in ("a.txt", "b.txt", "sub/c.txt"):
        (root / "in" / name).write_text(name)
    first = remote_listing(root / "in")
    assert [rel for rel, _, _ in first] == ["a.txt", "b.txt", "sub/c.txt"]
    assert all(v.startswith("blob:") for _, v, _ in first) and first[0][2] == 5
    assert remote_listing(root / "in" / "b.txt") == [first[1]]
    assert first[1][1] == version_token(root / "in" / "b.txt")
    (root / "in" / "b.txt").write_text("changed")
    second = remote_listing(root / "in")
    assert [v for _, v, _ in second] != [v for _, v, _ in first]
    assert (second[0], second[2]) == (first[0], first[2])  # the others keep their versions
    got = download_files(root / "in", ["b.txt", "sub/c.txt"], tmp_path / "d")
    assert sorted(p.relative_to(got).as_posix() for p in got.rglob("*") if p.is_file()) == [
        "b.txt",
        "sub/c.txt",
    ]
    assert (got / "b.txt").read_text() == "changed"
    download_files(root / "in" / "a.txt", ["a.txt"], tmp_path / "one")
    assert (tmp_path / "one" / "a.txt").read_text() == "a.txt"
    with pytest.raises(FileNotFoundError):
        remote_listing(root / "missing")
    with pytest.raises(ValueError):
        download_files(root / "in", ["../a.txt"], tmp_path / "bad")


def test_parallel_index_entries_on_blob(blob):
    from amlcompile.runtime.parallel import index_files, write_index_entry

    _, root = blob
    folder = root / "azureml" / "_reuse" / "batches" / "ctx"
    assert index_files(folder) == []
    write_index_entry(folder, "k1", {"key": "k1"})
    write_index_entry(folder, "k2", {"key": "k2"})
    (folder / "deeper" / "k3.json").write_text("{}")  # not an entry of this folder
    found = index_files(folder)
    assert [p.name for p, _ in found] == ["k1.json", "k2.json"]
    assert found[0][0].read_text() == '{"key": "k1"}' and found[0][1] == 13
