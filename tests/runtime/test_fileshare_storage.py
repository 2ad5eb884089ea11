"""Azure Files datastores against the File REST stand-in (tests/support/fileshare_standin.py),
through the provider's AzureFileShareHook and the azure-storage-file-share SDK: copies,
directories, version tokens, reuse records and claims, and bad input."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.support.store_contract import (
    check_exactly_one_claimer_wins,
    check_heartbeat_takeover_and_release,
    read_tree,
    write_tree,
)

pytestmark = pytest.mark.airflow  # needs Airflow's object storage and the Azure provider


@pytest.fixture
def share(fileshare_standin):
    """A fresh share as a datastore, and its root."""
    from amlcompile.runtime.storage import datastore_root

    name = fileshare_standin.create_share(f"s{uuid.uuid4().hex[:12]}")
    datastores = {
        "files": {"kind": "azure_file", "path": name, "conn_id": fileshare_standin.conn_id}
    }
    return datastores, datastore_root(datastores, "files", "test")


def tree_with_empty_dir(root: Path) -> dict[str, bytes]:
    files = write_tree(root, 4 * 1024 * 1024 + 7)  # two Put Range calls
    (root / "empty_dir").mkdir()
    return files


def test_directory_round_trip_local_share_share_local_keeps_bytes_and_folders(
    share, tmp_path, fileshare_standin
):
    from amlcompile.runtime.storage import copy_tree, reference_type

    _, root = share
    files = tree_with_empty_dir(tmp_path / "src")
    assert copy_tree(tmp_path / "src", root / "in") == "directory"
    assert copy_tree(root / "in", root / "copy") == "directory"  # share → share
    assert copy_tree(root / "copy", tmp_path / "back") == "directory"
    assert read_tree(tmp_path / "back") == files
    # Directories are real on a share: an empty one travels too (a blob prefix would not).
    assert reference_type(root / "copy" / "empty_dir") == "directory"
    assert (tmp_path / "back" / "empty_dir").is_dir()
    assert reference_type(root / "in" / "a.txt") == "file"
    assert reference_type(root / "nothing") is None
    assert reference_type(root / "no" / "such" / "file.txt") is None  # ParentNotFound
    # Every file was written under a temporary name and renamed: none is left over.
    share_files = fileshare_standin.shares[root.path.strip("/")]
    assert not [n for n in share_files if n.endswith(".tmp")], sorted(share_files)


def test_a_file_being_written_is_never_listed(share, fileshare_standin):
    from amlcompile.runtime.storage import _files

    _, root = share
    (root / "d" / "done.txt").write_bytes(b"done")
    with (root / "d" / "half.txt").open("wb") as fh:
        fh.write(b"x" * 10)
        fh.flush()
        # A temporary file as a writer that died mid-upload leaves it.
        tmp = ".half.txt." + "0" * 32 + ".tmp"
        root.fs.pipe_file(f"{root.path}d/{tmp}", b"partial")
        assert [rel for rel, _ in _files(root / "d")] == ["done.txt"]
    assert [rel for rel, _ in _files(root / "d")] == ["done.txt", "half.txt"]
    assert (root / "d" / "half.txt").read_bytes() == b"x" * 10


def test_file_round_trip_reads_ranges_byte_for_byte(share, tmp_path, fileshare_standin):
    from amlcompile.runtime.storage import copy_tree, remove_tree

    _, root = share
    data = os.urandom(4 * 1024 * 1024 + 1)  # one byte over a range
    (tmp_path / "f.bin").write_bytes(data)
    assert copy_tree(tmp_path / "f.bin", root / "dir" / "f.bin") == "file"
    with (root / "dir" / "f.bin").open("rb") as fh:
        fh.seek(4 * 1024 * 1024 - 2)
        assert fh.read(3) == data[-3:]
    assert copy_tree(root / "dir" / "f.bin", tmp_path / "out" / "g.bin") == "file"
    assert (tmp_path / "out" / "g.bin").read_bytes() == data
    with pytest.raises(FileNotFoundError):
        copy_tree(root / "missing", tmp_path / "x")
    remove_tree(root / "dir")
    assert not (root / "dir").exists()
    assert (root / "").is_dir()  # removing everything leaves the share


def test_version_token_follows_file_changes(share):
    from amlcompile.runtime.storage import version_token

    _, root = share
    (root / "data" / "one.txt").write_bytes(b"1")
    (root / "data" / "sub" / "two.txt").write_bytes(b"2")
    (root / "other.txt").write_bytes(b"o")
    file_token, dir_token = version_token(root / "data" / "one.txt"), version_token(root / "data")
    (root / "data" / "one.txt").read_bytes()
    (root / "other.txt").write_bytes(b"changed")
    assert version_token(root / "data" / "one.txt") == file_token
    assert version_token(root / "data") == dir_token
    (root / "data" / "sub" / "two.txt").write_bytes(b"2")  # same bytes, a new ETag
    assert version_token(root / "data") != dir_token
    dir_token = version_token(root / "data")
    (root / "data" / "three.txt").write_bytes(b"3")
    assert version_token(root / "data") != dir_token
    (root / "data" / "one.txt").write_bytes(b"1!")
    assert version_token(root / "data" / "one.txt") != file_token
    assert version_token(root / "nothing") == "missing"


def test_record_on_a_share_written_whole_and_ignored_when_unusable(share):
    from amlcompile.runtime.storage import RemoteStore, location, record_roots

    datastores, root = share
    store = RemoteStore(root)
    out = root / "azureml" / "fp" / "f1" / "port"
    (out / "part.txt").write_bytes(b"result")
    record = {"fingerprint": "f1", "outputs": {"port": str(out)}, "produced_by": {"run_id": "r"}}
    roots = record_roots(datastores)
    assert store.read_record("f1", roots=roots) is None
    store.write_record("f1", record)
    assert str(out).startswith("azfile://fileshare@")
    # Another reader finds it from the string alone (as a record's outputs travel in XCom).
    assert RemoteStore(location(str(root))).read_record("f1", roots=roots) == record
    for fp, body in (("f2", b"{not json"), ("f3", b'{"fingerprint": "f3", "outp')):
        (root / "azureml" / "_reuse" / f"{fp}.json").write_bytes(body)
        assert store.read_record(fp) is None
    store.write_record("f4", {**record, "fingerprint": "f1"})
    assert store.read_record("f4") is None
    elsewhere = {**record, "fingerprint": "f5", "outputs": {"port": "azfile://fileshare@x/y"}}
    store.write_record("f5", elsewhere)
    assert store.read_record("f5", roots=roots) is None  # outside this DAG's datastores
    (out / "part.txt").unlink()
    (out).rmdir()
    assert store.read_record("f1") is None  # its outputs are gone


def test_exactly_one_of_many_claimers_wins_on_a_share(share):
    _, root = share
    check_exactly_one_claimer_wins(root)


def test_claim_heartbeat_stale_takeover_and_release_on_a_share(share):
    _, root = share
    check_heartbeat_takeover_and_release(root)


def test_the_standin_answers_as_the_file_service(share, fileshare_standin):
    """What the filesystem relies on, asked through the SDK itself."""
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
    from azure.storage.fileshare import ShareServiceClient

    _, root = share
    client = ShareServiceClient.from_connection_string(fileshare_standin.connection_string)
    share_client = client.get_share_client(root.path.strip("/"))
    share_client.get_directory_client("d").create_directory()
    with pytest.raises(ResourceExistsError):
        share_client.get_directory_client("d").create_directory()
    with pytest.raises(ResourceNotFoundError) as err:
        share_client.get_directory_client("x/y").create_directory()
    assert err.value.error_code == "ParentNotFound"
    f = share_client.get_file_client("d/f.bin")
    f.upload_file(b"0123456789")
    assert f.download_file(offset=3, length=4).readall() == b"3456"
    assert f.get_file_properties().size == 10
    g = share_client.get_file_client("d/g.bin")
    g.upload_file(b"g")
    with pytest.raises(ResourceExistsError):
        g.rename_file("d/f.bin")  # no replace: the target stays
    assert f.download_file().readall() == b"0123456789"
    g.rename_file("d/f.bin", overwrite=True)
    assert f.download_file().readall() == b"g"
    with pytest.raises(ResourceExistsError) as err:
        share_client.get_directory_client("d").delete_directory()
    assert err.value.error_code == "DirectoryNotEmpty"
    with pytest.raises(ResourceNotFoundError) as err:
        share_client.get_file_client("no/such/f.bin").get_file_properties()
    assert err.value.error_code == "ParentNotFound"
    with pytest.raises(ResourceNotFoundError) as err:
        client.get_share_client("nosuchshare").get_share_properties()
    assert err.value.error_code == "ShareNotFound"


def test_bad_share_datastores_fail_with_one_line_naming_step_and_datastore(
    share, fileshare_standin, monkeypatch
):
    import json

    wrong = fileshare_standin.connection_string.replace("devstoreaccount1", "otheraccount")
    monkeypatch.setenv(
        "AIRFLOW_CONN_WRONG_ACCOUNT",
        json.dumps({"conn_type": "azure_fileshare", "extra": {"connection_string": wrong}}),
    )
    from amlcompile.runtime.binding import StepError
    from amlcompile.runtime.storage import datastore_path, datastore_root
    from amlcompile.runtime.transfer import DataTransferOperator

    datastores, _ = share
    stores = {
        **datastores,
        "noconn": {"kind": "azure_file", "path": "s", "conn_id": "no_such_connection"},
        "noshare": {"kind": "azure_file", "path": "nosuchshare", "conn_id": "fileshare"},
        "unnamed": {"kind": "azure_file", "path": "", "conn_id": "fileshare"},
        "refused": {"kind": "azure_file", "path": "s", "conn_id": "wrong_account"},
    }
    cases = {
        "noconn": "step 'prep': datastore 'noconn' (azure_file share 's'): Airflow connection"
        " 'no_such_connection' is not defined",
        "noshare": "step 'prep': datastore 'noshare' (azure_file share 'nosuchshare'): the share"
        " does not exist on the account of Airflow connection 'fileshare'",
        "unnamed": "step 'prep': datastore 'unnamed' (azure_file) names no share",
        "refused": "step 'prep': datastore 'refused' (azure_file share 's'): cannot reach it"
        " through Airflow connection 'wrong_account': ClientAuthenticationError: no SharedKey"
        " signature",
    }
    for name, message in cases.items():
        with pytest.raises(StepError) as err:
            datastore_root(stores, name, "prep")
        assert str(err.value) == message
    with pytest.raises(StepError) as err:
        datastore_path(stores, "files", "data/../../other/x", "prep")
    assert str(err.value) == (
        "step 'prep': path 'data/../../other/x' on datastore 'files' must be a relative path"
        " inside the datastore"
    )
    # A path that reaches the runtime some other way is refused by the filesystem itself.
    op = DataTransferOperator(
        task_id="copy",
        source={"datastore": "files", "path": "x"},
        destination={"datastore": "files", "path": "y"},
        datastores=stores,
    )
    from amlcompile.runtime.transfer import copy_checked

    root = datastore_root(stores, "files", "copy")
    with pytest.raises(StepError) as err:
        copy_checked(root / "../other", root / "y", None, None, "copy", op.log)
    assert str(err.value).startswith("step 'copy': azfile path ")
    assert "climbs out of its share" in str(err.value)


def test_transfer_operator_local_share_local_with_reference_types(share, tmp_path):
    from amlcompile.runtime.transfer import DataTransferOperator

    datastores, root = share
    stores = {**datastores, "disk": {"kind": "local", "path": str(tmp_path), "conn_id": None}}
    files = tree_with_empty_dir(tmp_path / "src")

    def copy(source, destination, **kwargs):
        op = DataTransferOperator(
            task_id="copy", source=source, destination=destination, datastores=stores, **kwargs
        )
        return op.execute(context={})["outputs"]["destination"]

    up = copy(
        {"datastore": "disk", "path": "src"},
        {"datastore": "files", "path": "up"},
        source_reference_type="directory",
    )
    assert up == str(root / "up")
    down = copy({"datastore": "files", "path": "up"}, {"datastore": "disk", "path": "down"})
    assert read_tree(Path(down)) == files and (Path(down) / "empty_dir").is_dir()
    one = copy(
        {"datastore": "files", "path": "up/nested/big.bin"},
        {"datastore": "disk", "path": "one"},
        source_reference_type="file",
        destination_reference_type="directory",
    )
    assert Path(one).read_bytes() == files["nested/big.bin"] and Path(one).name == "big.bin"
