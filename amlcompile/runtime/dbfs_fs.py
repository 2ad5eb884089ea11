"""The Databricks File System (DBFS) as an fsspec filesystem, so Airflow's `ObjectStoragePath`
reaches a DBFS datastore as it reaches blob containers: `amldbfs://<conn_id>@/<path>`.

fsspec's own `dbfs` filesystem takes a host and a token and speaks https only; this one goes
through the Databricks provider's `DatabricksHook` (the datastore's Airflow connection: host,
token or service principal, retries), over the DBFS API 2.0 (get-status, list, read,
create / add-block / close, mkdirs, delete). DBFS has real directories and no ETag: a file's
version is its modification time and size.

Writes: a file is written under a temporary name in blocks of at most 1 MB and moved onto
its path (see put_stream); outputs are complete before the record that names them is written.
"""

from __future__ import annotations

import base64
import io
import re
import uuid
from datetime import UTC, datetime

import fsspec
from fsspec import AbstractFileSystem
from fsspec.spec import AbstractBufferedFile
from upath import UPath
from upath.registry import register_implementation

PROTOCOL = "amldbfs"
BLOCK_BYTES = 1024 * 1024  # the most add-block and read take per call
# `.<name>.<32 hex>.tmp`: a file being written (or left by a writer that died); never listed.
TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")


class DbfsPath(UPath):
    """`amldbfs://<conn_id>@/<absolute DBFS path>`: the connection is not part of the path."""

    __slots__ = ()


class DbfsError(OSError):
    def __init__(self, error_code: str, message: str):
        super().__init__(f"{error_code}: {message}" if error_code else message)
        self.error_code = error_code


class DbfsFileSystem(AbstractFileSystem):
    protocol = (PROTOCOL,)
    root_marker = "/"
    cachable = False  # one instance per connection, attached to Airflow's object storage

    def __init__(self, conn_id: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self._hook = None

    @property
    def hook(self):
        if self._hook is None:
            from airflow.providers.databricks.hooks.databricks import DatabricksHook

            if not self.conn_id:
                raise ValueError("a DBFS path needs an Airflow connection id")
            self._hook = DatabricksHook(databricks_conn_id=self.conn_id)
        return self._hook

    def _call(self, method: str, endpoint: str, body: dict) -> dict:
        import requests

        try:
            return self.hook._do_api_call(
                (method, f"2.0/dbfs/{endpoint}"), body, wrap_http_errors=False
            )
        except requests.HTTPError as exc:
            try:
                answer = exc.response.json()
            except ValueError:
                raise DbfsError("", f"DBFS {endpoint}: HTTP {exc.response.status_code}") from None
            code, message = answer.get("error_code", ""), answer.get("message", "")
            if code == "RESOURCE_DOES_NOT_EXIST":
                raise FileNotFoundError(message or body.get("path")) from None
            if code == "RESOURCE_ALREADY_EXISTS":
                raise FileExistsError(message or body.get("path")) from None
            raise DbfsError(code, message) from None

    @classmethod
    def _strip_protocol(cls, path) -> str:
        text = str(path)
        if text.startswith(f"{PROTOCOL}://"):
            text = text[len(PROTOCOL) + 3 :].partition("/")[2]  # drop `<conn_id>@`
        elif text.startswith("dbfs:"):
            text = text[len("dbfs:") :]
        parts = [p for p in text.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise ValueError(f"DBFS path {path!r} climbs with '..'")
        return "/" + "/".join(parts)

    # ---- reading the tree ----
    def info(self, path, **kwargs) -> dict:
        return _entry(self._call("GET", "get-status", {"path": self._strip_protocol(path)}))

    def ls(self, path, detail=True, **kwargs):
        found = self._call("GET", "list", {"path": self._strip_protocol(path)})
        entries = sorted(
            (_entry(item) for item in found.get("files") or [] if not _temporary(item)), key=_name
        )
        return entries if detail else [e["name"] for e in entries]

    def cat_file(self, path, start=None, end=None, **kwargs) -> bytes:
        key = self._strip_protocol(path)
        size = self.info(key)["size"]
        begin = 0 if start is None else (start + size if start < 0 else start)
        stop = size if end is None else (end + size if end < 0 else min(end, size))
        out = bytearray()
        while begin < stop:
            length = min(BLOCK_BYTES, stop - begin)
            answer = self._call("GET", "read", {"path": key, "offset": begin, "length": length})
            chunk = base64.b64decode(answer.get("data") or "")
            if not chunk:
                break
            out += chunk
            begin += len(chunk)
        return bytes(out)

    # ---- writing ----
    def makedirs(self, path, exist_ok=False):
        key = self._strip_protocol(path)
        if not exist_ok and self.exists(key):
            raise FileExistsError(key)
        self._call("POST", "mkdirs", {"path": key})

    def mkdir(self, path, create_parents=True, **kwargs):
        self.makedirs(path, exist_ok=True)

    def put_stream(self, path, stream, overwrite: bool = True) -> None:
        """Uploads the stream under a temporary name beside `path` (in 1 MB blocks), then
        moves it onto `path`: readers see the old file or the whole new one, never a file
        being filled. DBFS's move refuses an existing target, which makes creating without
        `overwrite` exclusive (FileExistsError); with `overwrite` the old file is deleted
        first (a reader in between finds no file, never a partial one)."""
        key = self._strip_protocol(path)
        parent, _, name = key.rpartition("/")
        tmp = f"{parent}/.{name}.{uuid.uuid4().hex}.tmp"
        handle = self._call("POST", "create", {"path": tmp, "overwrite": False})["handle"]
        try:
            while block := stream.read(BLOCK_BYTES):
                data = base64.b64encode(block).decode()
                self._call("POST", "add-block", {"handle": handle, "data": data})
        finally:
            self._call("POST", "close", {"handle": handle})
        for _attempt in range(3):
            try:
                self._call("POST", "move", {"source_path": tmp, "destination_path": key})
                return
            except FileExistsError:
                if not overwrite:
                    self._delete_quietly(tmp)
                    raise FileExistsError(key) from None
                self._call("POST", "delete", {"path": key, "recursive": False})
            except BaseException:
                self._delete_quietly(tmp)
                raise
        self._delete_quietly(tmp)
        raise OSError(f"{key}: replaced by another writer three times in a row")

    def _delete_quietly(self, key: str) -> None:
        try:
            self._call("POST", "delete", {"path": key, "recursive": False})
        except Exception:  # a leftover temporary file is never listed and harms no reader
            pass

    def pipe_file(self, path, value, mode="overwrite", overwrite=True, **kwargs):
        if mode == "create":
            overwrite = False
        self.put_stream(path, io.BytesIO(value), overwrite=overwrite)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, **kwargs):
        if "r" in mode:
            return _ReadFile(self, path, mode, block_size=block_size or BLOCK_BYTES)
        if mode in ("wb", "xb"):
            return _WriteFile(self, path, overwrite=mode == "wb")
        raise NotImplementedError(f"{PROTOCOL}: mode {mode!r} is not supported")

    # ---- deleting ----
    def rm_file(self, path):
        key = self._strip_protocol(path)
        if not self.exists(key):
            raise FileNotFoundError(key)
        self._call("POST", "delete", {"path": key, "recursive": False})

    def rm(self, path, recursive=False, maxdepth=None):
        for one in [path] if isinstance(path, str) else path:
            key = self._strip_protocol(one)
            if self.isdir(key) and not recursive:
                raise IsADirectoryError(key)
            while True:  # a large tree may be deleted in parts (PARTIAL_DELETE)
                try:
                    self._call("POST", "delete", {"path": key, "recursive": recursive})
                    break
                except DbfsError as exc:
                    if exc.error_code != "PARTIAL_DELETE":
                        raise

    def invalidate_cache(self, path=None):
        """Nothing is cached: every call asks the service."""

    def created(self, path):
        return self.info(path)["last_modified"]

    def modified(self, path):
        return self.info(path)["last_modified"]


def _entry(status: dict) -> dict:
    millis = status.get("modification_time")
    return {
        "name": "/" + str(status.get("path", "")).removeprefix("dbfs:").strip("/"),
        "type": "directory" if status.get("is_dir") else "file",
        "size": int(status.get("file_size") or 0),
        "last_modified": (
            datetime.fromtimestamp(millis / 1000, tz=UTC) if millis is not None else None
        ),
    }


def _temporary(status: dict) -> bool:
    return bool(TEMPORARY.match(str(status.get("path", "")).rpartition("/")[2]))


def _name(entry: dict) -> str:
    return entry["name"]


class _ReadFile(AbstractBufferedFile):
    def _fetch_range(self, start, end):
        return self.fs.cat_file(self.path, start, end)


class _WriteFile(io.RawIOBase):
    """Spools what is written in memory and uploads it on close; a writer that fails
    leaves the old file as it was."""

    def __init__(self, fs: DbfsFileSystem, path: str, overwrite: bool):
        super().__init__()
        self.fs, self.path, self.overwrite = fs, path, overwrite
        self._spool = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self._spool.write(data)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._spool.seek(0)
            self.fs.put_stream(self.path, self._spool, overwrite=self.overwrite)
        finally:
            super().close()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:  # discard: the old file stays
            io.RawIOBase.close(self)
            return
        self.close()


fsspec.register_implementation(PROTOCOL, DbfsFileSystem, clobber=True)
register_implementation(PROTOCOL, DbfsPath, clobber=True)


def attach_dbfs(conn_id: str) -> None:
    """Makes `amldbfs://<conn_id>@/...` paths work in this process (see fileshare_fs)."""
    from airflow.sdk.io import attach
    from upath.registry import get_upath_class

    if get_upath_class(PROTOCOL) is None:
        get_upath_class.cache_clear()
    store = attach(PROTOCOL, conn_id)
    if not isinstance(store.__dict__.get("fs"), DbfsFileSystem):
        store.fs = DbfsFileSystem(conn_id=conn_id)


def dbfs_root(conn_id: str, folder: str):
    """A DBFS datastore's root folder as an ObjectStoragePath."""
    from airflow.sdk import ObjectStoragePath

    attach_dbfs(conn_id)
    key = DbfsFileSystem._strip_protocol(folder or "/")
    return ObjectStoragePath(f"{PROTOCOL}://{conn_id}@{key}", conn_id=conn_id)
