"""Uploads a build records (`Datastore.upload_files` / `upload` in a pipeline's script) and
`amlcompile deploy` / `amlcompile run` perform, through this one module.

The build writes `dags_out/_amlcompile/uploads.json`: for each pipeline, the datastore (kind,
resolved root folder or container, Airflow connection id), and each file by absolute source
path, size and content digest, never the data itself (the DAGs folder gets no user data).
Performing compares each source with its recorded digest (a source changed since the build
is refused: build again) and with the copy already on the datastore: identical content is
left alone (its data version stays, so steps reading it stay reusable), so a second deploy
uploads nothing. Local datastores are plain folders; remote ones (Azure Blob, ADLS Gen2,
Azure Files) go through the runtime's storage code (Airflow's ObjectStoragePath and the
datastore's Airflow connection), imported only then.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from .exceptions import AmlCompileError
from .file_digests import hash_file
from .render.bundle import SUPPORT_DIR

MANIFEST_NAME = "uploads.json"
MANIFEST_REL = f"{SUPPORT_DIR}/{MANIFEST_NAME}"
SCHEMA = 1
CHUNK = 4 * 1024 * 1024


class UploadError(AmlCompileError):
    """An upload could not be made; nothing after it (no DAG file) was deployed."""


def store_of(config, name: str) -> dict:
    """A datastore as the DAG file describes it: kind, root folder or container, connection."""
    ds = config.datastores[name]
    return {"kind": ds.kind, "path": config.datastore_root(name), "conn_id": ds.conn_id}


def entry_for(datastore: str, store: dict, pairs, overwrite: bool, digests=None) -> dict:
    """One upload call: its datastore and each file by source, destination, size, digest."""
    digests = {} if digests is None else digests
    files = []
    for src, dest in pairs:
        if src not in digests:
            digests[src] = (os.path.getsize(src), hash_file(src))
        size, digest = digests[src]
        files.append({"source": src, "dest": dest, "size": size, "blake3": digest})
    return {"datastore": datastore, "store": store, "overwrite": bool(overwrite), "files": files}


def manifest_for(compiled: list) -> bytes:
    """uploads.json of a build: {dag_id: [{datastore, store, overwrite, files}]}."""
    pipelines: dict[str, list] = {}
    digests: dict[str, tuple[int, str]] = {}
    for c in compiled:
        entries = [
            entry_for(u.datastore, store_of(c.config, u.datastore), u.files, u.overwrite, digests)
            for u in c.uploads
        ]
        if entries:
            pipelines[c.pipeline.name] = entries
    body = {"schema": SCHEMA, "pipelines": dict(sorted(pipelines.items()))}
    return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()


def read_manifest(dags_out: Path) -> dict:
    path = dags_out / MANIFEST_REL
    if not path.is_file():
        return {}
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise UploadError(f"{path}: not valid JSON; run amlcompile build again") from None
    return body.get("pipelines") or {}


@dataclass
class StoreReport:
    datastore: str
    uploaded: int = 0
    bytes: int = 0
    unchanged: int = 0
    kept: int = 0  # there already, different, and overwrite=False
    files: list[str] = field(default_factory=list)  # dest paths uploaded

    def line(self) -> str:
        size = f" ({_size(self.bytes)})" if self.uploaded else ""
        text = (
            f"uploaded {self.uploaded} file{'s' if self.uploaded != 1 else ''}{size}"
            f" to {self.datastore}, {self.unchanged} unchanged"
        )
        if self.kept:
            text += f", {self.kept} kept (already there and overwrite=False)"
        return text


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _root(name: str, store: dict, purpose: str = "upload"):
    if store.get("kind") == "local":
        return Path(store["path"])
    try:
        from .runtime.storage import datastore_root
    except ImportError:
        raise UploadError(
            f"datastore {name!r} is {store.get('kind')}: its {purpose} needs Airflow's object"
            " storage (pip install 'amlcompile[airflow]'), with its Airflow connection"
            f" {store.get('conn_id')!r} defined where this command runs"
        ) from None
    try:
        return datastore_root({name: store}, name, purpose)
    except Exception as exc:  # StepError: one line naming the datastore
        raise UploadError(f"{purpose} of datastore {name!r}: {exc}") from None


def download(name: str, store: dict, prefix: str, target: Path, overwrite: bool) -> int:
    """`Datastore.download`: the files under `prefix` into `target`, keeping their paths
    relative to the datastore; an existing local file is kept unless `overwrite`. Nothing is
    followed out of the datastore, nor written outside `target`."""
    root = _root(name, store, "download")
    start = root / prefix.strip("/") if prefix.strip("/") else root
    if isinstance(start, Path):
        _checked(root, start, name, prefix)
    if not start.exists():
        return 0
    sources = [start] if start.is_file() else sorted(p for p in start.rglob("*") if p.is_file())
    copied = 0
    target = target.resolve()
    for src in sources:
        rel = str(src.relative_to(root)) if isinstance(src, Path) else src.path[len(root.path) :]
        dest = (target / rel.lstrip("/")).resolve()
        if target not in dest.parents:
            raise UploadError(f"download from datastore {name!r}: {rel!r} leads out of {target}")
        if isinstance(src, Path):
            _checked(root, src, name, rel)
        if dest.exists() and not overwrite:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        with src.open("rb") as fh, open(dest, "wb") as out:
            shutil.copyfileobj(fh, out, CHUNK)
        copied += 1
    return copied


def _digest_of(target) -> str | None:
    """The content digest of what is on the datastore at `target`, or None when absent."""
    if isinstance(target, Path):
        return hash_file(str(target)) if target.is_file() else None
    try:
        if not target.is_file():
            return None
        hasher = blake3.blake3()
        with target.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                hasher.update(chunk)
        return hasher.hexdigest()
    except FileNotFoundError:
        return None


def _size_of(target) -> int | None:
    try:
        return target.stat().st_size if target.is_file() else None
    except OSError:  # FileNotFoundError included: gone between the two calls
        return None


def _checked(root, target, name: str, dest: str):
    """A local destination must not lead out of its datastore through a link (a folder of
    the datastore made a link elsewhere by someone who can write it)."""
    if isinstance(target, Path):
        from .runtime.digests import LinkOutside, within

        try:
            within(root, target)
        except LinkOutside as exc:
            raise UploadError(
                f"upload to datastore {name!r} ({dest}): {exc}; refusing to follow it"
            ) from None
    return target


def _write(src: Path, target) -> None:
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.uploading")
        # The content only, not the source's timestamps (copy2 would carry an mtime put back
        # with `touch -r` onto the datastore): the copy is a new file, stamped now.
        shutil.copyfile(src, tmp)
        os.replace(tmp, target)  # a reader sees the old file or the new one
        return
    with src.open("rb") as reader, target.open("wb") as writer:
        shutil.copyfileobj(reader, writer, CHUNK)


def perform(pipelines: dict, dag_ids: list[str] | None = None, progress=print) -> list:
    """Make each recorded file of the pipelines (all when dag_ids is None) present on its
    datastore; one progress line per datastore. Sources are checked first, all of them, so a
    changed one stops everything before any byte is copied."""
    wanted: dict[tuple[str, str], dict] = {}  # (datastore, dest) → file entry + store
    for dag_id, entries in sorted(pipelines.items()):
        if dag_ids is not None and dag_id not in dag_ids:
            continue
        for entry in entries:
            for f in entry["files"]:
                wanted[(entry["datastore"], f["dest"])] = {
                    **f,
                    "store": entry["store"],
                    "overwrite": entry["overwrite"],
                }
    for f in wanted.values():
        src = Path(f["source"])
        if not src.is_file():
            raise UploadError(f"upload source {src} is gone since the build; build again")
        if src.stat().st_size != f["size"] or hash_file(str(src)) != f["blake3"]:
            raise UploadError(
                f"upload source {src} changed since the build; run amlcompile build again"
            )
    reports: dict[str, StoreReport] = {}
    roots: dict[str, object] = {}
    for (name, dest), f in sorted(wanted.items()):
        report = reports.setdefault(name, StoreReport(name))
        if name not in roots:
            roots[name] = _root(name, f["store"])
        target = _checked(roots[name], roots[name] / dest, name, dest)
        try:
            size = _size_of(target)
            if size is not None:
                if size == f["size"] and _digest_of(target) == f["blake3"]:
                    report.unchanged += 1
                    continue
                if not f["overwrite"]:
                    report.kept += 1
                    continue
            _checked(roots[name], target, name, dest)  # its parents may have changed since
            _write(Path(f["source"]), target)
            _checked(roots[name], target, name, dest)
        except UploadError:
            raise
        except Exception as exc:  # refused credentials, missing container, disk full, ...
            first = (str(exc).strip().splitlines() or [""])[0]
            raise UploadError(
                f"upload of {f['source']} to datastore {name!r} ({dest}) failed:"
                f" {type(exc).__name__}: {first}"
            ) from None
        report.uploaded += 1
        report.bytes += f["size"]
        report.files.append(dest)
    out = [reports[name] for name in sorted(reports)]
    for r in out:
        progress(r.line())
    return out
