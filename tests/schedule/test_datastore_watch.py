"""The datastore-change trigger's runtime (runtime/watch.py) on a local folder, Azure Blob /
ADLS Gen2 containers (Azurite) and an Azure Files share (the File REST stand-in): what a poll
starts, where the listing is kept, and that a poll dying before its runs started loses
nothing."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.airflow  # the operators, and Airflow's object storage for blobs

WATCH_ID = "Pipe__datastore_watch"


class Store:
    """One watched datastore: how the test writes files, and the watch's two operators."""

    def __init__(self, kind, root, conn_id=None, client=None, local=None):
        """Files are written through a blob container client, or else as paths under
        `local` (a folder, or a share's ObjectStoragePath)."""
        from amlcompile.runtime.watch import DatastoreChangeOperator, RecordListingOperator

        common = dict(
            datastore="watched", kind=kind, root=root, conn_id=conn_id, path="incoming",
            watch_id=WATCH_ID,
        )  # fmt: skip
        self.detect = DatastoreChangeOperator(
            task_id="detect_changes", parameter="input_data", **common
        )
        self.record = RecordListingOperator(task_id="record_listing", **common)
        self.client, self.local = client, local

    def put(self, name: str, data: bytes) -> None:
        if self.client is not None:
            self.client.upload_blob(name, data, overwrite=True)
        else:
            (self.local / name).parent.mkdir(parents=True, exist_ok=True)
            (self.local / name).write_bytes(data)

    def delete(self, name: str) -> None:
        if self.client is not None:
            self.client.delete_blob(name)
        else:
            (self.local / name).unlink()

    def read(self, name: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            if self.client is not None:
                return self.client.download_blob(name).readall()
            return (self.local / name).read_bytes()
        except (FileNotFoundError, ResourceNotFoundError):
            return None

    def poll(self) -> list[str]:
        """One whole poll whose runs all start: the changed paths, in the order started."""
        starts = self.detect.execute({})
        self.record.execute({})
        return [s["conf"]["input_data"] for s in starts]


@pytest.fixture(params=["local", "azure_blob", "adls_gen2", "azure_file"])
def store(request, tmp_path):
    if request.param == "local":
        return Store("local", str(tmp_path / "ds"), local=tmp_path / "ds")
    if request.param == "azure_file":
        import uuid

        from amlcompile.runtime.storage import datastore_root

        fs = request.getfixturevalue("fileshare_standin")
        name = fs.create_share(f"s{uuid.uuid4().hex[:12]}")
        ds = {"files": {"kind": "azure_file", "path": name, "conn_id": fs.conn_id}}
        return Store("azure_file", name, conn_id=fs.conn_id, local=datastore_root(ds, "files", "t"))
    azurite = request.getfixturevalue("azurite")
    container = azurite.create_container()
    client = azurite.service_client().get_container_client(container)
    return Store(request.param, container, conn_id=azurite.conn_id, client=client)


def test_a_poll_starts_one_run_per_added_or_changed_file(store):
    assert store.poll() == []  # the path does not exist yet: nothing to start, no error
    store.put("incoming/a.csv", b"1\n")
    store.put("incoming2/not-watched.csv", b"x")  # shares the prefix, not the folder
    store.put("incoming.csv", b"x")
    assert store.poll() == ["incoming/a.csv"]
    assert store.poll() == []  # unchanged
    store.put("incoming/a.csv", b"2\n")  # same size, new content (a new ETag / mtime)
    store.put("incoming/sub/b.csv", b"b")
    assert store.poll() == ["incoming/a.csv", "incoming/sub/b.csv"]
    store.delete("incoming/a.csv")
    assert store.poll() == []  # a deletion starts nothing
    store.put("incoming/a.csv", b"back")
    store.put("incoming/odd name [1] & ü.csv", b"odd")
    assert store.poll() == ["incoming/a.csv", "incoming/odd name [1] & ü.csv"]  # back: changed
    listing = json.loads(store.read(f"azureml/_watch/{WATCH_ID}.json"))
    assert sorted(listing) == [
        "incoming/a.csv",
        "incoming/odd name [1] & ü.csv",
        "incoming/sub/b.csv",
    ]
    assert store.read(f"azureml/_watch/{WATCH_ID}.pending.json") is None


def test_the_first_poll_only_records(store):
    store.put("incoming/old.csv", b"old")
    assert store.poll() == []
    store.put("incoming/new.csv", b"new")
    assert store.poll() == ["incoming/new.csv"]


def test_a_poll_that_died_before_its_runs_started_is_redone_with_the_same_run_ids(store):
    store.poll()
    store.put("incoming/a.csv", b"a")
    first = store.detect.execute({})  # ... and the worker dies before record_listing
    again = store.detect.execute({})
    assert again == first and len(first) == 1  # redone: same conf, same run id
    assert first[0]["conf"] == {"input_data": "incoming/a.csv"}
    assert first[0]["trigger_run_id"].startswith("datastore_change__")
    store.record.execute({})
    assert store.poll() == []
    store.put("incoming/a.csv", b"a2")
    (changed,) = store.detect.execute({})
    assert changed["trigger_run_id"] != first[0]["trigger_run_id"]  # a new version, a new run


def test_a_failed_polls_listing_is_never_recorded_after_a_later_poll(store):
    store.poll()
    store.put("incoming/a.csv", b"a")
    assert len(store.detect.execute({})) == 1  # its start fails: record_listing never runs
    pending = f"azureml/_watch/{WATCH_ID}.pending.json"
    assert json.loads(store.read(pending)).keys() == {"incoming/a.csv"}
    store.delete("incoming/a.csv")
    assert store.detect.execute({}) == []  # nothing to start: committed at once, and...
    assert store.read(pending) is None  # ...the failed poll's listing can't be recorded later
    store.record.execute({})
    assert json.loads(store.read(f"azureml/_watch/{WATCH_ID}.json")) == {}


def test_changes_beyond_the_per_poll_cap_start_on_the_next_polls(store, monkeypatch):
    from amlcompile.runtime import watch

    monkeypatch.setattr(watch, "MAX_RUNS_PER_POLL", 2)
    store.poll()
    for name in "abc":
        store.put(f"incoming/{name}.csv", name.encode())
    assert store.poll() == ["incoming/a.csv", "incoming/b.csv"]
    assert store.poll() == ["incoming/c.csv"]
    assert store.poll() == []


def test_a_single_watched_file(store):
    store.detect.path = store.record.path = "incoming/one.csv"
    assert store.poll() == []
    store.put("incoming/one.csv", b"1")
    store.put("incoming/one.csv.bak", b"x")
    assert store.poll() == ["incoming/one.csv"]
    assert store.poll() == []


def test_a_damaged_listing_is_an_error_naming_it(store):
    from amlcompile.runtime.binding import StepError

    store.poll()
    store.put(f"azureml/_watch/{WATCH_ID}.json", b"{not json")
    with pytest.raises(StepError, match=rf"{WATCH_ID}\.json is damaged; delete it"):
        store.detect.execute({})


def test_a_missing_container_or_connection_names_the_datastore_and_path(azurite):
    from amlcompile.runtime.binding import StepError

    missing = Store("azure_blob", "no-such-container", conn_id=azurite.conn_id)
    with pytest.raises(StepError) as err:
        missing.detect.execute({})
    assert "watching datastore 'watched' (azure_blob, connection 'azurite') path 'incoming'" in str(
        err.value
    )
    assert "container 'no-such-container' does not exist" in str(err.value)

    unknown = Store("azure_blob", azurite.create_container(), conn_id="no_such_conn")
    with pytest.raises(StepError) as err:
        unknown.detect.execute({})
    where = "watching datastore 'watched' (azure_blob, connection 'no_such_conn') path 'incoming'"
    assert where in str(err.value)
    assert "isn't defined" in str(err.value)


def test_a_datastore_the_storage_layer_refuses_is_named_with_the_path(tmp_path):
    from amlcompile.runtime.binding import StepError

    nameless = Store("azure_blob", "", conn_id="blob")
    with pytest.raises(StepError) as err:
        nameless.detect.execute({})
    where = "watching datastore 'watched' (azure_blob, connection 'blob') path 'incoming': "
    assert str(err.value).startswith(where) and "names no container" in str(err.value)


def test_watching_the_bookkeeping_folder_never_triggers_itself(store):
    store.detect.path = store.record.path = "azureml"
    store.put("azureml/results/r.csv", b"r")
    assert store.poll() == []
    store.put("azureml/_reuse/records/x.json", b"{}")
    store.put("azureml/results/r.csv", b"r2")
    assert store.poll() == ["azureml/results/r.csv"]
    assert store.poll() == []  # the listing just written is not a change


def test_without_a_parameter_one_run_starts_for_all_changes_of_a_poll(store):
    store.detect.parameter = None
    assert store.detect.execute({}) == []
    store.record.execute({})
    store.put("incoming/a.csv", b"a")
    store.put("incoming/b.csv", b"b")
    (start,) = store.detect.execute({})
    assert start["conf"] == {} and start["trigger_run_id"].startswith("datastore_change__")
