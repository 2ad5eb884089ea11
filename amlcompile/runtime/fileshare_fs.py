"""Azure Files shares as an fsspec filesystem, so Airflow's `ObjectStoragePath` reaches them as
it reaches blob containers: `azfile://<conn_id>@<share>/<path>`.

The Azure provider ships no object-storage filesystem for file shares; this one is built on
`azure-storage-file-share` (a dependency of the provider) and authenticated by the provider's
`AzureFileShareHook` from the datastore's Airflow connection (connection string, account key,
SAS token or managed identity, whatever the hook accepts).

Unlike blobs, directories on a share are real: a file needs its parent directory, an empty
directory exists. Every file is written under a temporary name and renamed onto its path
(Rename File), so a reader sees the old file or the whole new one, never a part.
"""

from __future__ import annotations

import io
import re
import tempfile
import uuid

import fsspec
from fsspec import AbstractFileSystem
from fsspec.spec import AbstractBufferedFile
from upath.implementations.cloud import CloudPath
from upath.registry import register_implementation

PROTOCOL = "azfile"
RANGE_BYTES = 4 * 1024 * 1024  # the File service's largest Put Range
SPOOL_BYTES = 8 * 1024 * 1024  # a file being written stays in memory up to this size
# `.<name>.<32 hex>.tmp`: a file being written (or left by a writer that died); never listed,
# so a concurrent copy or listing never picks up half a file.
TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")


class FileSharePath(CloudPath):
    """The share is the first segment of the path, as a container is for abfs."""

    __slots__ = ()


def _errors():
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

    return ResourceNotFoundError, ResourceExistsError


def _code(exc) -> str:
    return str(getattr(exc, "error_code", "") or "")


class AzureFileShareFileSystem(AbstractFileSystem):
    """Paths are `<share>/<directory>/<file>`; `..` is refused (it would leave the share)."""

    protocol = (PROTOCOL,)
    root_marker = ""
    cachable = False  # one instance per connection, attached to Airflow's object storage

    def __init__(self, conn_id: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self._service = None

    # ---- clients ----
    @property
    def service(self):
        if self._service is None:
            from airflow.providers.microsoft.azure.hooks.fileshare import AzureFileShareHook

            if not self.conn_id:
                raise ValueError("an Azure Files path needs an Airflow connection id")
            hook = AzureFileShareHook(azure_fileshare_conn_id=self.conn_id)
            self._service = hook.share_service_client
        return self._service

    @classmethod
    def _strip_protocol(cls, path) -> str:
        text = str(path)
        if text.startswith(f"{PROTOCOL}://"):
            text = text[len(PROTOCOL) + 3 :]
            host, sep, rest = text.partition("/")
            if "@" in host:  # azfile://conn@share/...: the connection is not part of the path
                text = host.rpartition("@")[2] + sep + rest
        return text.strip("/")

    def split(self, path) -> tuple[str, str]:
        """(share, path inside it)."""
        parts = [p for p in self._strip_protocol(path).split("/") if p not in ("", ".")]
        if not parts:
            raise ValueError(f"{PROTOCOL} path {path!r} names no share")
        if ".." in parts:
            raise ValueError(f"{PROTOCOL} path {path!r} climbs out of its share with '..'")
        return parts[0], "/".join(parts[1:])

    def _share(self, share: str):
        return self.service.get_share_client(share)

    def _file(self, share: str, rel: str):
        return self._share(share).get_file_client(rel)

    def _dir(self, share: str, rel: str):
        return self._share(share).get_directory_client(rel)

    def _missing(self, exc, path) -> FileNotFoundError:
        if _code(exc) == "ShareNotFound":
            return FileNotFoundError(f"share {self.split(path)[0]!r} does not exist")
        return FileNotFoundError(path)

    # ---- reading the tree ----
    def info(self, path, **kwargs) -> dict:
        share, rel = self.split(path)
        not_found, _ = _errors()
        name = f"{share}/{rel}" if rel else share
        if rel:
            try:
                props = self._file(share, rel).get_file_properties()
                return _entry(name, "file", props.size, props.etag, props.last_modified)
            except not_found as exc:
                if _code(exc) == "ShareNotFound":
                    raise self._missing(exc, path) from None
        try:  # the share's root directory too: a share-level SAS may not read share properties
            props = self._dir(share, rel).get_directory_properties()
        except not_found as exc:
            raise self._missing(exc, path) from None
        return _entry(name, "directory", 0, props.etag, props.last_modified)

    def ls(self, path, detail=True, **kwargs):
        share, rel = self.split(path)
        not_found, _ = _errors()
        base = f"{share}/{rel}" if rel else share
        try:
            items = list(
                self._dir(share, rel).list_directories_and_files(
                    include=["timestamps", "etag"], include_extended_info=True
                )
            )
        except not_found as exc:
            if _code(exc) == "ShareNotFound":
                raise self._missing(exc, path) from None
            found = self.info(path)  # a file lists as itself
            return [found] if detail else [found["name"]]
        entries = [
            _entry(
                f"{base}/{item.name}",
                "directory" if item.is_directory else "file",
                0 if item.is_directory else item.size,
                item.etag,
                item.last_modified,
            )
            for item in items
            if not TEMPORARY.match(item.name)
        ]
        entries.sort(key=lambda e: e["name"])
        return entries if detail else [e["name"] for e in entries]

    def cat_file(self, path, start=None, end=None, **kwargs) -> bytes:
        share, rel = self.split(path)
        not_found, _ = _errors()
        offset, length = _range(start, end, lambda: self.size(path))
        if length == 0:
            return b""
        client = self._file(share, rel)
        try:
            if offset == 0 and length is None:  # the SDK reads an empty file only this way
                return client.download_file().readall()
            return client.download_file(offset=offset, length=length).readall()
        except not_found as exc:
            raise self._missing(exc, path) from None

    # ---- writing ----
    def makedirs(self, path, exist_ok=False):
        share, rel = self.split(path)
        not_found, exists = _errors()
        parts = rel.split("/") if rel else []
        for depth in range(1, len(parts) + 1):
            try:
                self._dir(share, "/".join(parts[:depth])).create_directory()
            except exists:
                if depth == len(parts) and not exist_ok:
                    raise FileExistsError(path) from None
            except not_found as exc:
                raise self._missing(exc, path) from None

    def mkdir(self, path, create_parents=True, **kwargs):
        if create_parents:
            return self.makedirs(path, exist_ok=True)
        share, rel = self.split(path)
        not_found, exists = _errors()
        try:
            self._dir(share, rel).create_directory()
        except exists:
            raise FileExistsError(path) from None
        except not_found as exc:
            raise self._missing(exc, path) from None

    def put_stream(self, path, stream, size: int, overwrite: bool = True) -> None:
        """Uploads `size` bytes under a temporary name beside `path`, then renames it onto
        `path`. Rename is one namespace operation on the File service: readers see the old
        file or the whole new one. Without `overwrite` the rename fails (409) when `path`
        exists, which is what makes creating a file exclusive: Create File itself takes no
        If-None-Match and would silently replace it. Raises FileExistsError then."""
        share, rel = self.split(path)
        if not rel:
            raise IsADirectoryError(path)
        not_found, exists = _errors()
        parent, _, name = rel.rpartition("/")
        tmp_name = f".{name}.{uuid.uuid4().hex}.tmp"
        tmp_rel = f"{parent}/{tmp_name}" if parent else tmp_name
        tmp = self._file(share, tmp_rel)
        try:
            tmp.upload_file(stream, length=size)
        except not_found as exc:
            if _code(exc) != "ParentNotFound":
                raise self._missing(exc, path) from None
            self.makedirs(f"{share}/{parent}", exist_ok=True)
            stream.seek(0)
            tmp.upload_file(stream, length=size)
        try:
            tmp.rename_file(rel, overwrite=overwrite)
        except exists:
            self._delete_quietly(tmp)
            raise FileExistsError(path) from None
        except BaseException:
            self._delete_quietly(tmp)
            raise

    @staticmethod
    def _delete_quietly(client) -> None:
        try:
            client.delete_file()
        except Exception:  # a leftover temporary file harms no reader
            pass

    def pipe_file(self, path, value, mode="overwrite", overwrite=True, **kwargs):
        if mode == "create":
            overwrite = False
        self.put_stream(path, io.BytesIO(value), len(value), overwrite=overwrite)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, **kwargs):
        if "r" in mode:
            return _ReadFile(self, path, mode, block_size=block_size or RANGE_BYTES)
        if mode in ("wb", "xb"):
            return _WriteFile(self, path, overwrite=mode == "wb")
        raise NotImplementedError(f"{PROTOCOL}: mode {mode!r} is not supported")

    # ---- deleting ----
    def rm_file(self, path):
        share, rel = self.split(path)
        not_found, _ = _errors()
        try:
            self._file(share, rel).delete_file()
        except not_found as exc:
            raise self._missing(exc, path) from None

    def rmdir(self, path):
        share, rel = self.split(path)
        not_found, exists = _errors()
        try:
            self._dir(share, rel).delete_directory()
        except not_found as exc:
            raise self._missing(exc, path) from None
        except exists as exc:  # DirectoryNotEmpty is a 409
            raise OSError(f"{path}: directory is not empty") from exc

    def rm(self, path, recursive=False, maxdepth=None):
        for one in [path] if isinstance(path, str) else path:
            if self.isdir(one):
                if not recursive:
                    raise IsADirectoryError(one)
                for entry in self.ls(one):
                    self.rm(entry["name"], recursive=True)
                if self.split(one)[1]:  # a share itself is not deleted
                    self.rmdir(one)
            else:
                self.rm_file(one)

    def invalidate_cache(self, path=None):
        """Nothing is cached: every call asks the service."""

    def created(self, path):
        return self.info(path)["last_modified"]

    def modified(self, path):
        return self.info(path)["last_modified"]


def _entry(name, kind, size, etag, last_modified) -> dict:
    return {
        "name": name,
        "type": kind,
        "size": size or 0,
        "etag": str(etag).strip('"') if etag else None,
        "last_modified": last_modified,
    }


def _range(start, end, size) -> tuple[int, int | None]:
    if start is None and end is None:
        return 0, None
    total = None
    if (start is not None and start < 0) or (end is not None and end < 0):
        total = size()
    begin = 0 if start is None else (start + total if start < 0 else start)
    if end is None:
        return begin, None
    stop = end + total if end < 0 else end
    return begin, max(0, stop - begin)


class _ReadFile(AbstractBufferedFile):
    def _fetch_range(self, start, end):
        return self.fs.cat_file(self.path, start, end)


class _WriteFile:
    """Spools what is written (memory, then a temporary file) and uploads it on close."""

    def __init__(self, fs: AzureFileShareFileSystem, path: str, overwrite: bool):
        self.fs, self.path, self.overwrite = fs, path, overwrite
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        self.closed = False

    def write(self, data) -> int:
        return self._spool.write(data)

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._spool.tell()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            size = self._spool.tell()
            self._spool.seek(0)
            self.fs.put_stream(self.path, self._spool, size, overwrite=self.overwrite)
        finally:
            self._spool.close()

    def discard(self) -> None:
        self.closed = True
        self._spool.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:  # a failed writer leaves the old file as it was
            self.discard()


fsspec.register_implementation(PROTOCOL, AzureFileShareFileSystem, clobber=True)
register_implementation(PROTOCOL, FileSharePath, clobber=True)


def attach_share_fs(conn_id: str) -> None:
    """Makes `azfile://<conn_id>@...` paths work in this process: Airflow's object storage
    knows only the filesystems providers declare, so ours is attached per connection."""
    from airflow.sdk.io import attach
    from upath.registry import get_upath_class

    if get_upath_class(PROTOCOL) is None:  # asked (and cached) before we registered
        get_upath_class.cache_clear()
    store = attach(PROTOCOL, conn_id)
    if not isinstance(store.__dict__.get("fs"), AzureFileShareFileSystem):
        store.fs = AzureFileShareFileSystem(conn_id=conn_id)
