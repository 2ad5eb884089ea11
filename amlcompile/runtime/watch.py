"""The datastore-change trigger: find files added or changed under a datastore path.

A watch DAG (generated beside the pipeline's DAG) polls every `polling_interval` minutes:
`detect_changes` lists the path and returns one set of TriggerDagRunOperator arguments per
changed file, `start_pipeline` (mapped) starts the runs, and `record_listing` makes the new
listing the one the next poll compares with. The first poll records what is there and starts
nothing, as Azure ML's schedules only reacted to changes after they were created; deleted
files start nothing.

The listings live on the datastore (local folder or blob container), beside the reuse
records, so they survive Airflow restarts and need no metadata-database access:
`<watch_id>.json` is the last listing whose runs were started, `<watch_id>.pending.json`
the listing of a poll whose runs are being started. Delivery is at least once: the listing
is committed only after every run was started, so a poll that dies in between is redone by
the next one. Redone starts do not duplicate runs: each run id is derived from the file's
path and signature, and a run id that already exists is skipped.

A file's signature: [size, mtime_ns] on a local datastore; on blob storage its ETag (else
last-modified and size), from one recursive listing call.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import BaseOperator

from .binding import StepError
from .reuse import REUSE_DIR, canonical, digest
from .storage import _blob_version, _key, datastore_root, is_remote

if TYPE_CHECKING:
    from .storage import AnyPath

WATCH_DIR = str(Path(REUSE_DIR).parent / "_watch")
MAX_RUNS_PER_POLL = 50
RUN_ID_PREFIX = "datastore_change__"
# Our own bookkeeping is never a change (else watching `azureml/` would trigger itself).
INTERNAL = (WATCH_DIR + "/", REUSE_DIR + "/")
# Watching a whole container: the pipelines' own outputs (azureml/fp/..., azureml/<dag>/...)
# are not new data either, or every run would start the next.
OUTPUTS = str(Path(REUSE_DIR).parent) + "/"


def listing(root: AnyPath, path: str) -> dict[str, object]:
    """Every file under root/path → its signature, keyed by its path on the datastore.
    Nothing there (yet) is an empty listing, not an error."""
    found = _remote_listing(root, path) if is_remote(root) else _local_listing(root, path)
    skip = INTERNAL if path.strip("/") else (*INTERNAL, OUTPUTS)
    return {p: sig for p, sig in found.items() if not p.startswith(skip)}


def _local_listing(root: Path, path: str) -> dict[str, object]:
    base = root / path
    found: dict[str, object] = {}
    if base.is_file():
        st = base.stat()
        return {path: [st.st_size, st.st_mtime_ns]}
    for folder, dirs, files in os.walk(base):
        dirs.sort()
        for name in sorted(files):
            full = Path(folder) / name
            try:
                st = full.stat()
            except FileNotFoundError:  # deleted while we listed: deletions start nothing
                continue
            found[full.relative_to(root).as_posix()] = [st.st_size, st.st_mtime_ns]
    return found


def _remote_listing(root, path: str) -> dict[str, object]:
    """One recursive listing of the blobs under a prefix (or the one blob at it)."""
    fs = root.fs
    fs.invalidate_cache()  # a cached listing would hide the changes we poll for
    container = _key(root)
    prefix = path.strip("/")
    base = f"{container}/{prefix}" if prefix else container  # "": the whole container
    found = fs.find(base, detail=True, withdirs=False)
    if not isinstance(found, dict):  # adlfs answers a path that is one blob with its name only
        found = {key: fs.info(key) for key in found}
    result: dict[str, object] = {}
    for key, info in found.items():
        key = key.rstrip("/")
        if info.get("type") == "directory" or not (key == base or key.startswith(base + "/")):
            continue  # ADLS Gen2 folders, or a sibling that merely shares the prefix
        result[key[len(container) + 1 :]] = _blob_version(info)
    if not result and not fs.exists(container):
        raise FileNotFoundError(f"container {container!r} does not exist")
    return result


def changes(before: dict | None, now: dict) -> list[str]:
    """Files added or changed since `before`, sorted; none on the first poll."""
    if before is None:
        return []
    return sorted(p for p, sig in now.items() if before.get(p) != sig)


def settle(before: dict, now: dict, started: list[str]) -> dict:
    """The listing to commit once `started` files got their runs: changes beyond the per-poll
    cap keep their old signature (or stay unseen), so the next poll starts them."""
    started = set(started)
    settled = {}
    for p, sig in now.items():
        if p in started or before.get(p) == sig:
            settled[p] = sig
        elif p in before:
            settled[p] = before[p]
    return settled


def run_id(watch_id: str, entries: list[tuple[str, object]]) -> str:
    """The same change always gets the same run id, so a redone start is skipped."""
    return RUN_ID_PREFIX + digest([watch_id, [[p, sig] for p, sig in entries]])[:24]


class _Listings:
    """The committed and pending listings of one watch on its datastore."""

    def __init__(self, root: AnyPath, watch_id: str):
        self.root = root
        folder = root / WATCH_DIR
        self.state = folder / f"{watch_id}.json"
        self.pending = folder / f"{watch_id}.pending.json"

    def read(self, which: AnyPath) -> dict | None:
        if is_remote(which):
            which.fs.invalidate_cache()
        try:
            data = which.read_bytes()
        except FileNotFoundError:
            return None
        try:
            value = json.loads(data)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise StepError(
                f"the watch listing {which} is damaged; delete it to start afresh"
                " (the next poll then only records what is there)"
            )
        return value

    def write(self, which: AnyPath, listing: dict) -> None:
        """One Put Blob on blob storage, a rename locally: readers see all of it or nothing."""
        data = canonical(listing)
        if is_remote(which):
            which.fs.pipe_file(_key(which), data, overwrite=True)
            return
        which.parent.mkdir(parents=True, exist_ok=True)
        tmp = which.with_name(which.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, which)

    def drop_pending(self) -> None:
        try:
            if is_remote(self.pending):
                self.pending.fs.rm_file(_key(self.pending))
            else:
                self.pending.unlink()
        except FileNotFoundError:
            pass


class _WatchOperator(BaseOperator):
    """What the watch's tasks share: the watched datastore and path, and one error line
    naming them for whatever the storage layer raises."""

    def __init__(
        self,
        *,
        kind: str,
        root: str,
        path: str,
        watch_id: str,
        conn_id: str | None = None,
        datastore: str = "watched",
        **kw,
    ):
        super().__init__(**kw)
        self.kind = kind
        self.root = root
        self.conn_id = conn_id
        self.datastore = datastore
        self.path = path
        self.watch_id = watch_id

    @property
    def where(self) -> str:
        via = f", connection {self.conn_id!r}" if self.conn_id else ""
        return f"datastore {self.datastore!r} ({self.kind}{via}) path {self.path!r}"

    def execute(self, context):
        stores = {self.datastore: {"kind": self.kind, "path": self.root, "conn_id": self.conn_id}}
        try:  # any kind the storage layer gives a root for can be watched
            root = datastore_root(stores, self.datastore, self.task_id)
        except StepError as exc:
            raise StepError(f"watching {self.where}: {exc}") from None
        try:
            return self.work(_Listings(root, self.watch_id))
        except StepError:
            raise
        except Exception as exc:  # a missing container, an undefined connection, refused keys
            raise StepError(f"watching {self.where}: {type(exc).__name__}: {exc}") from exc

    def work(self, store: _Listings):
        raise NotImplementedError


class DatastoreChangeOperator(_WatchOperator):
    """Returns one set of TriggerDagRunOperator arguments (`conf`, `trigger_run_id`) per
    changed file, at most MAX_RUNS_PER_POLL, oldest name first."""

    def __init__(self, *, parameter: str | None, **kw):
        super().__init__(**kw)
        self.parameter = parameter

    def work(self, store: _Listings) -> list[dict]:
        before = store.read(store.state)
        now = listing(store.root, self.path)
        if before is None:
            self.log.info("first poll of %s: %d files recorded", self.where, len(now))
            store.write(store.state, now)
            store.drop_pending()
            return []
        changed = changes(before, now)
        started = changed[:MAX_RUNS_PER_POLL]
        for p in started:
            self.log.info("changed: %s", p)
        if len(changed) > len(started):
            self.log.info("%d more changes start on the next polls", len(changed) - len(started))
        if not now:
            self.log.info("nothing under %s (yet)", self.where)
        settled = settle(before, now, started)
        if not started:  # nothing to start, so nothing to lose: commit now
            if settled != before:
                store.write(store.state, settled)
            store.drop_pending()  # a failed poll's listing must not be recorded after this one
            return []
        store.write(store.pending, settled)  # committed by record_listing after the starts
        if self.parameter is None:  # one run for the whole poll: it has no path to receive
            batches = [({}, started)]
        else:
            batches = [({self.parameter: p}, [p]) for p in started]
        return [
            {"conf": conf, "trigger_run_id": run_id(self.watch_id, [(p, now[p]) for p in paths])}
            for conf, paths in batches
        ]


class RecordListingOperator(_WatchOperator):
    """After every run of a poll was started (or already existed): the poll's listing becomes
    the one the next poll compares with."""

    def work(self, store: _Listings) -> None:
        pending = store.read(store.pending)
        if pending is None:
            return
        store.write(store.state, pending)
        store.drop_pending()
        self.log.info("recorded the listing of %s (%d files)", self.where, len(pending))


class StartPipelineOperator(TriggerDagRunOperator):
    """TriggerDagRunOperator whose conf and run id are data, not templates: a file named
    `{{ conn.x.password }}.csv` reaches the run's parameter as written, never rendered."""

    template_fields = tuple(
        f for f in TriggerDagRunOperator.template_fields if f not in ("conf", "trigger_run_id")
    )
