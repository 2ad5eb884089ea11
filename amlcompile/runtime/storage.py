"""Datastores at run time: local folders as `Path`, Azure Blob and ADLS Gen2 containers as
Airflow `ObjectStoragePath`s (the `abfs` filesystem of apache-airflow-providers-microsoft-azure,
authenticated by the datastore's Airflow connection), Azure Files shares as `ObjectStoragePath`s
too (`azfile`, our own filesystem in fileshare_fs.py, authenticated by the provider's
AzureFileShareHook).

Copies stream in chunks between any two roots; reuse records and claims work on every kind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .binding import StepError, inside_datastore
from .binding import bind_input as bind_local_input
from .digests import LinkOutside, local_digest, local_signature, within
from .reuse import REUSE_DIR, Store, canonical, data_version, digest

# Blob and ADLS Gen2 both go through adlfs (the provider registers abfs/abfss for it): Gen2's
# hierarchical namespace is reachable through the blob endpoint.
REMOTE_SCHEMES = {"azure_blob": "abfs", "adls_gen2": "abfs"}
CHUNK_BYTES = 4 * 1024 * 1024

# The Azure SDK logs every HTTP request at INFO: keep task logs readable.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    AnyPath = Path | ObjectStoragePath

# Airflow and our Azure Files and DBFS filesystems are imported when a remote datastore is
# used, not before: `amlcompile run` plans a run on local datastores without importing Airflow
# (a fully reused run then starts no Airflow at all; see amlcompile/local_run.py).
SHARE_PROTOCOL = "azfile"  # fileshare_fs.PROTOCOL
DBFS_PROTOCOL = "amldbfs"  # dbfs_fs.PROTOCOL


def _object_storage_path(*args, **kwargs):
    from airflow.sdk import ObjectStoragePath

    from . import dbfs_fs, fileshare_fs  # noqa: F401  (register azfile:// and amldbfs://)

    return ObjectStoragePath(*args, **kwargs)


def attach_share_fs(conn: str) -> None:
    from .fileshare_fs import attach_share_fs as attach

    attach(conn)


def attach_dbfs(conn: str) -> None:
    from .dbfs_fs import attach_dbfs as attach

    attach(conn)


def dbfs_root(conn: str, folder: str):
    from .dbfs_fs import dbfs_root as root

    return root(conn, folder)


# A local datastore's folder on this worker: the Airflow Variable `amlcompile_datastore__<name>`
# (a path, or JSON {"path": ...}); without it, the folder the build saw. Read at run time, by
# the task (AIRFLOW_VAR_AMLCOMPILE_DATASTORE__<NAME> in a worker's environment is that
# Variable for this worker alone), never when the DAG file is parsed.
DATASTORE_VARIABLE = "amlcompile_datastore__"
_RESOLVE_SECONDS = 60.0  # one lookup per datastore per task, however many paths it builds
_resolved: dict[str, tuple[float, str | None]] = {}
# Whether a Variable missing from the environment is asked of Airflow. False only where no
# Airflow runs: `amlcompile run` planning on this machine before it starts one.
variables_from_airflow = True


def datastore_variable(name: str) -> str:
    return DATASTORE_VARIABLE + name


def _variable(key: str) -> str | None:
    """The Variable's value: the worker's environment first (as Airflow's own lookup does,
    and the only source outside a task), then Airflow (secrets backends, then the metadata
    database through the execution API)."""
    value = os.environ.get("AIRFLOW_VAR_" + key.upper())
    if value is not None or not variables_from_airflow:
        return value
    try:
        from airflow.sdk import Variable

        return Variable.get(key, default=None)
    except Exception as exc:  # no task context (a unit, a plain script): the default stands
        logging.getLogger(__name__).debug("Variable %s not readable here: %s", key, exc)
        return None


def local_folder(ds: dict, name: str, step: str) -> Path:
    """Where a local datastore is on this worker (see DATASTORE_VARIABLE)."""
    key = datastore_variable(name)
    now = time.monotonic()
    cached = _resolved.get(key)
    if cached is None or now - cached[0] > _RESOLVE_SECONDS:
        cached = (now, _variable(key))
        _resolved[key] = cached
    value = cached[1]
    if value is None or not str(value).strip():
        return Path(ds["path"])
    text = str(value).strip()
    if text.startswith(("{", '"')):
        try:
            data = json.loads(text)
        except ValueError:
            raise StepError(
                f"step {step!r}: Airflow Variable {key!r} is not valid JSON; give a folder"
                ' or {"path": "/folder"}'
            ) from None
        text = data.get("path") if isinstance(data, dict) else data
        if not isinstance(text, str) or not text.strip():
            raise StepError(
                f'step {step!r}: Airflow Variable {key!r} must be a folder or {{"path": "/folder"}}'
            )
    folder = Path(os.path.expanduser(text.strip()))
    if not folder.is_absolute():
        raise StepError(
            f"step {step!r}: Airflow Variable {key!r} gives {text!r} for datastore {name!r};"
            " it must be an absolute folder on the worker"
        )
    return folder


def datastore_root(datastores: dict, name: str, step: str) -> AnyPath:
    """The root of a datastore: a Path for local ones, an ObjectStoragePath for remote ones."""
    ds = datastores.get(name)
    if ds is None:
        raise StepError(f"step {step!r}: datastore {name!r} is not defined in this DAG")
    kind = ds.get("kind")
    if kind == "local":
        return local_folder(ds, name, step)
    if kind in REMOTE_SCHEMES:
        container = str(ds.get("path") or "").strip("/")
        if not container:
            raise StepError(f"step {step!r}: datastore {name!r} ({kind}) names no container")
        if not ds.get("conn_id"):
            raise StepError(
                f"step {step!r}: datastore {name!r} ({kind}) has no Airflow connection id"
            )
        return _object_storage_path(f"{REMOTE_SCHEMES[kind]}://{container}/", conn_id=ds["conn_id"])
    if kind == "azure_file":
        return _share_root(ds, name, step, check=True)
    if kind == "dbfs":
        if not ds.get("conn_id"):
            raise StepError(
                f"step {step!r}: datastore {name!r} (dbfs) has no Airflow connection id"
                " (a Databricks connection)"
            )
        return dbfs_root(ds["conn_id"], ds.get("path") or "/")
    raise StepError(f"step {step!r}: datastore {name!r} has unknown kind {kind!r}")


_CHECKED_SHARES: set[tuple[str, str]] = set()


def _share_root(ds: dict, name: str, step: str, check: bool) -> ObjectStoragePath:
    """An Azure Files datastore's root, `azfile://<conn>@<share>/`. Checked once per process
    (connection defined, share there) so that a bad one fails with one line naming the step
    and the datastore, not with a stack trace at the first file."""
    share = str(ds.get("path") or "").strip("/")
    conn = ds.get("conn_id")
    if not share:
        raise StepError(f"step {step!r}: datastore {name!r} (azure_file) names no share")
    if not conn:
        raise StepError(
            f"step {step!r}: datastore {name!r} (azure_file) has no Airflow connection id"
        )
    attach_share_fs(conn)
    root = _object_storage_path(f"{SHARE_PROTOCOL}://{share}/", conn_id=conn)
    if check and (conn, share) not in _CHECKED_SHARES:
        where = f"step {step!r}: datastore {name!r} (azure_file share {share!r})"
        try:
            root.fs.info(share)
        except FileNotFoundError:
            raise StepError(
                f"{where}: the share does not exist on the account of Airflow connection {conn!r}"
            ) from None
        except ValueError as exc:
            raise StepError(f"{where}: {exc}") from None
        except Exception as exc:  # no such connection, refused credentials, unreachable
            if type(exc).__name__ == "AirflowNotFoundException":
                raise StepError(f"{where}: Airflow connection {conn!r} is not defined") from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise StepError(
                f"{where}: cannot reach it through Airflow connection {conn!r}:"
                f" {type(exc).__name__}: {first}"
            ) from None
        _CHECKED_SHARES.add((conn, share))
    return root


def datastore_path(datastores: dict, name: str, path: str, step: str) -> AnyPath:
    """`path` on a datastore, which must stay inside it (no absolute path, no `..`)."""
    clean = inside_datastore(str(path))
    if clean is None:
        raise StepError(
            f"step {step!r}: path {path!r} on datastore {name!r} must be a relative path"
            " inside the datastore"
        )
    root = datastore_root(datastores, name, step)
    return root / clean if clean else root


def is_remote(path) -> bool:
    # An ObjectStoragePath exists only once its module is imported.
    module = sys.modules.get("airflow.sdk.io.path")
    return module is not None and isinstance(path, module.ObjectStoragePath)


def location(text: str) -> AnyPath:
    """A location handed on as a string (XCom, records) back to a path: URIs carry the
    connection id (`abfs://conn@container/key`), anything else is a local path."""
    if "://" not in str(text):
        return Path(text)
    scheme, _, rest = str(text).partition("://")
    if scheme == SHARE_PROTOCOL:  # our filesystem: attached before a path can use it
        conn, at, _ = rest.partition("/")[0].rpartition("@")
        if at and conn:
            attach_share_fs(conn)
    if scheme == DBFS_PROTOCOL:
        conn, at, _ = rest.partition("/")[0].rpartition("@")
        if at and conn:
            attach_dbfs(conn)
    return _object_storage_path(text)


def has_directories(path: AnyPath) -> bool:
    """Whether directories are real there (local folders, file shares), not blob prefixes."""
    return not is_remote(path) or path.protocol in (SHARE_PROTOCOL, DBFS_PROTOCOL)


def _key(path: ObjectStoragePath) -> str:
    return path.path.rstrip("/")


# On blob storage a folder exists only through the blobs in it: an empty output folder is
# kept as this one empty blob, so it can be found, versioned and reused; it is never copied
# out of the prefix (a reader sees an empty folder).
EMPTY_MARKER = ".amlcompile-empty-folder"


def _files(root: AnyPath) -> list[tuple[str, AnyPath]]:
    """(relative posix name, path) of every file under a directory, sorted by name."""
    found: list[tuple[str, AnyPath]] = []
    if is_remote(root):
        prefix = _key(root)
        for key in root.fs.find(prefix, detail=False, withdirs=False):
            rel = key[len(prefix) :].lstrip("/")
            if rel and rel != EMPTY_MARKER:
                if inside_datastore(rel) != rel or "" in rel.split("/"):
                    # A blob named `a/../../x` would be copied out of the target folder.
                    raise ValueError(f"{root}: refusing to copy the object named {key!r}")
                found.append((rel, root / rel))
    else:
        for base, dirs, names in os.walk(root):
            dirs.sort()
            for name in names:
                full = Path(base) / name
                found.append((full.relative_to(root).as_posix(), full))
    return sorted(found, key=lambda item: item[0])


def _empty_dirs(root: AnyPath) -> list[str]:
    """Relative names of the empty directories under a directory (none on blob storage,
    where a folder is only a prefix of the blobs in it)."""
    if not has_directories(root):
        return []
    if is_remote(root):
        prefix = _key(root)
        found = root.fs.find(prefix, withdirs=True, detail=True)
        kinds = {k[len(prefix) :].strip("/"): info["type"] for k, info in found.items()}
        parents = {name.rpartition("/")[0] for name in kinds}
        return sorted(
            name
            for name, kind in kinds.items()
            if name and kind == "directory" and name not in parents
        )
    return sorted(
        Path(base).relative_to(root).as_posix()
        for base, dirs, names in os.walk(root)
        if not dirs and not names and Path(base) != Path(root)
    )


def _copy_file(src: AnyPath, dst: AnyPath) -> None:
    if not is_remote(dst):
        dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open("rb") as reader, dst.open("wb") as writer:
        shutil.copyfileobj(reader, writer, CHUNK_BYTES)


def reference_type(path: AnyPath) -> str | None:
    """'file', 'directory' or None when nothing is there (an empty blob prefix is nothing)."""
    if is_remote(path):
        path.fs.invalidate_cache()
    if path.is_file():
        return "file"
    if path.is_dir():
        return "directory"
    return None


def copy_tree(src: AnyPath, dst: AnyPath) -> str:
    """Copy a file to `dst`, or a directory's files under `dst`, streaming byte for byte
    between any two of local and remote roots. Returns 'file' or 'directory'."""
    kind = reference_type(src)
    if kind == "file":
        _copy_file(src, dst)
    elif kind == "directory":
        if not is_remote(dst) or has_directories(dst):  # an empty folder stays a folder
            dst.mkdir(parents=True, exist_ok=True)
        files = _files(src)
        for rel, path in files:
            _copy_file(path, dst / rel)
        if has_directories(dst):
            for rel in _empty_dirs(src):
                (dst / rel).mkdir(parents=True, exist_ok=True)
        elif not files:  # a blob prefix with no blob is nothing: mark the empty folder
            (dst / EMPTY_MARKER).write_bytes(b"")
    else:
        raise FileNotFoundError(f"{src} does not exist")
    return kind


def remove_tree(path: AnyPath) -> None:
    """Delete a file or directory (a blob or every blob under a prefix) if it exists."""
    if is_remote(path):
        path.fs.invalidate_cache()
        if path.fs.exists(_key(path)):
            path.fs.rm(_key(path), recursive=True)
    elif path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _blob_version(info: dict) -> str:
    etag = info.get("etag")
    if etag:
        return str(etag).strip('"')
    modified = info.get("last_modified")
    stamp = modified.isoformat() if hasattr(modified, "isoformat") else str(modified)
    return f"{stamp}:{info.get('size')}"


def version_token(path: AnyPath, root: AnyPath | None = None) -> str:
    """A token that changes when the data changes: local as reuse.data_version (by content;
    links followed only inside `root`, the datastore); remote from the ETag (else
    last-modified and size) of the blob or of every blob under the prefix."""
    if not is_remote(path):
        return data_version(Path(path), "/" if root is None else root)
    kind = reference_type(path)
    if kind == "file":
        return "blob:" + _blob_version(path.fs.info(_key(path)))
    if kind == "directory":
        prefix = _key(path)
        listing = path.fs.find(prefix, detail=True, withdirs=False)
        entries = [
            [key[len(prefix) :].lstrip("/"), info.get("size"), _blob_version(info)]
            for key, info in sorted(listing.items())
        ]
        return "prefix:" + digest(entries)
    return "missing"


def remote_listing(path: ObjectStoragePath) -> list[tuple[str, str, int]]:
    """(relative posix name, data version, size) of the blob at `path` or of every blob
    under the prefix, sorted by name; versions as version_token's (`blob:` + ETag), so an
    unchanged blob keeps its version and a rewritten one gets a new one. A blob is named by
    its base name; a missing path is FileNotFoundError."""
    kind = reference_type(path)
    if kind == "file":
        info = path.fs.info(_key(path))
        return [(path.name, "blob:" + _blob_version(info), int(info.get("size") or 0))]
    if kind != "directory":
        raise FileNotFoundError(f"{path} does not exist")
    prefix = _key(path)
    out = []
    for key, info in sorted(path.fs.find(prefix, detail=True, withdirs=False).items()):
        rel = key[len(prefix) :].lstrip("/")
        if not rel or rel == EMPTY_MARKER:
            continue
        if inside_datastore(rel) != rel or "" in rel.split("/"):
            raise ValueError(f"{path}: refusing the object named {key!r}")
        out.append((rel, "blob:" + _blob_version(info), int(info.get("size") or 0)))
    return out


def download_files(root: ObjectStoragePath, names: list[str], target: Path) -> Path:
    """Copy the named files (relative to `root`, or `root` itself when it is one blob named
    by its base name) into the local folder `target`, keeping their relative names."""
    single = reference_type(root) == "file"
    for name in names:
        if inside_datastore(name) != name:
            raise ValueError(f"{root}: refusing the file name {name!r}")
        _copy_file(root if single else root / name, target / name)
    return target


def bind_input(port: dict, source: AnyPath, workdir: Path) -> str:
    """A local path for an input. Remote data is downloaded into the work dir for both
    mount and download modes: a worker has no blobfuse to mount a container with."""
    if not is_remote(source):
        return bind_local_input(port, source, workdir)
    target = workdir / (port.get("path_on_compute") or f"inputs/{port['name']}")
    kind = reference_type(source)
    if kind is None:
        raise StepError(f"input {port['name']!r}: {source} does not exist")
    if kind == "file":
        target = target / source.name
    copy_tree(source, target)
    return str(target)


# ---- reuse records and claims ----
class LocalStore(Store):
    """Records on a local folder; the outputs they name may be local or remote."""

    def output_exists(self, text: str) -> bool:
        return reference_type(location(text)) is not None

    def manifest(self, datastore: str, where: str, known: dict | None = None) -> dict | None:
        """As Store.manifest; an output on object storage by its ETag listing (open_store
        replaces this with output_manifest, which knows every datastore's root)."""
        if is_remote(location(where)):
            token = version_token(location(where))
            return None if token == "missing" else {"signature": token, "digest": token}
        return super().manifest(datastore, where, known)


class RemoteStore(LocalStore):
    """Records and claims as blobs under `<container>/azureml/_reuse/` (or files under
    `<share>/azureml/_reuse/`).

    A record is one Put Blob (atomic: readers see all of it or nothing), written only after
    the outputs were uploaded. A claim is created with If-None-Match: * (adlfs's
    `pipe_file(overwrite=False)`), so of two claimers exactly one succeeds; its heartbeat
    rewrites the blob, which moves its Last-Modified. On a file share the same calls land in
    fileshare_fs: every file is written under a temporary name and renamed into place, with
    replace for records and heartbeats, without replace (409 when it exists) for a claim.
    """

    def __init__(self, root: ObjectStoragePath):
        self.root = root
        self.dir = root / REUSE_DIR
        self.fs = root.fs
        self._bodies: dict[str, bytes] = {}

    def _k(self, path: ObjectStoragePath) -> str:
        return _key(path)

    def read_record(self, fp: str, log=None, roots=None, expect=None) -> dict | None:
        self.fs.invalidate_cache()
        return super().read_record(fp, log, roots, expect)

    def checked_dir(self):
        return self.dir  # object storage has no links; keys are built from hex and port names

    def _make_dir(self) -> None:
        pass

    def write_record(self, fp: str, record: dict) -> None:
        data = json.dumps(record, sort_keys=True, indent=1).encode()
        self.fs.pipe_file(self._k(self.record_path(fp)), data, overwrite=True)

    def _create_claim(self, fp: str, body: bytes) -> bool:
        try:
            self.fs.pipe_file(self._k(self.claim_path(fp)), body, overwrite=False)
        except FileExistsError:
            return False
        return True

    def _rival_owner(self, fp: str, body: bytes) -> dict | None:
        # Two takers of a stale claim may each delete and recreate it: the last write wins,
        # and the loser sees someone else's body here and backs off.
        current = self.claim_owner(fp)
        if current is not None and canonical(current) != body:
            return current
        self._bodies[fp] = body
        return None

    def _adopt_claim(self, fp: str, current: dict) -> None:
        self._bodies[fp] = canonical(current)

    def _claim_age(self, fp: str) -> float | None:
        self.fs.invalidate_cache()
        try:
            modified = self.fs.info(self._k(self.claim_path(fp)))["last_modified"]
        except FileNotFoundError:
            return None
        return time.time() - modified.timestamp()

    def _drop_claim(self, fp: str, seen: dict | None = None) -> None:
        try:
            self.fs.rm_file(self._k(self.claim_path(fp)))
        except FileNotFoundError:
            pass

    def claim_owner(self, fp: str) -> dict | None:
        self.fs.invalidate_cache()
        try:
            return json.loads(self.fs.cat_file(self._k(self.claim_path(fp))) or b"{}")
        except (OSError, ValueError):
            return None

    def heartbeat(self, fp: str) -> None:
        body = self._bodies.get(fp)
        if body is None or self.claim_owner(fp) != json.loads(body):
            return  # not ours (any more): never refresh another run's claim
        self.fs.pipe_file(self._k(self.claim_path(fp)), body, overwrite=True)

    def release(self, fp: str) -> None:
        body = self._bodies.pop(fp, None)
        if body is None or self.claim_owner(fp) != json.loads(body):
            return  # taken over after we stalled: the claim is someone else's now
        try:
            self.fs.rm_file(self._k(self.claim_path(fp)))
        except FileNotFoundError:
            pass


def record_roots(datastores: dict) -> list[str]:
    """Where a reuse record of this DAG may point: the roots of its datastores."""
    roots = []
    for name, ds in datastores.items():
        if ds.get("kind") == "azure_file":  # a string only: no need to reach the share
            roots.append(str(_share_root(ds, name, "reuse", check=False)))
        else:
            roots.append(str(datastore_root(datastores, name, "reuse")))
    return roots


def output_manifest(
    datastores: dict, datastore: str, where: str, step: str, known: dict | None = None
) -> dict | None:
    """{"signature", "digest"} of an output as it is now, None when nothing is there.

    Local: the signature is one stat per file (inode, size, mtime_ns, ctime_ns); when it
    equals `known`'s, `known`'s content digest stands, else the files are read (SHA-256,
    through the worker's digest cache). Object storage: the ETag listing is both (the
    service gives every write a new ETag, so any rewrite counts as a change). Raises
    LinkOutside when a local output leads out of its datastore."""
    target = location(where)
    if is_remote(target):
        token = version_token(target)
        return None if token == "missing" else {"signature": token, "digest": token}
    root = str(datastore_root(datastores, datastore, step))
    try:
        sig = local_signature(root, where)
    except FileNotFoundError:
        return None
    if isinstance(known, dict) and known.get("signature") == sig and known.get("digest"):
        return {"signature": sig, "digest": known["digest"]}
    return {"signature": sig, "digest": local_digest(root, where)}


def local_target(datastores: dict, datastore: str, where: str, step: str, what: str) -> Path:
    """A local path a run is about to write or delete, checked: it must not lead out of its
    datastore through a link (StepError naming the step, the datastore and the link)."""
    root = datastore_root(datastores, datastore, step)
    try:
        within(root, where)
    except LinkOutside as exc:
        raise StepError(
            f"step {step!r}: {what} on datastore {datastore!r}: {exc}; refusing to follow"
            " it (remove the link)"
        ) from None
    return Path(where)


def open_store(datastores: dict, name: str, step: str) -> Store:
    """The records and claims of a datastore. A record names its outputs as (datastore, path)
    too; read back, they are located on this worker's roots (a shared folder may be mounted
    elsewhere on each worker)."""
    root = datastore_root(datastores, name, step)
    store = RemoteStore(root) if is_remote(root) else LocalStore(root)
    store.locate = lambda ds, path: str(datastore_path(datastores, ds, path, step))
    store.manifest = lambda ds, where, known=None: output_manifest(
        datastores, ds, where, step, known
    )
    return store
