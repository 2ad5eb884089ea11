"""Content digests on the worker: data versions of local inputs and manifests of outputs.

The compiler's own cache (amlcompile/file_digests.py, BLAKE3) is not importable here: the
runtime travels alone in dags_out/ and Airflow workers have only the standard library and
Airflow. This is the same design on hashlib's SHA-256 (1.5 GB/s with the CPU's SHA
instructions): a file is read only when its stat signature (inode, size, mtime_ns, ctime_ns)
is new, and a signature is cached only once it is older than RACY_NS at the moment it was
looked at (a file rewritten twice within one clock tick keeps its signature). ctime is in
the key because nobody can set it back: a file rewritten with the same size and its mtime
put back (`touch -r`, `cp -p`, archive tools) gets a new ctime, so it is read again.

The cache is a file of this worker (never on a datastore, whose writers must not be able to
plant digests): $AMLCOMPILE_DIGEST_CACHE, else $XDG_CACHE_HOME/amlcompile or
~/.cache/amlcompile. A damaged, missing or unwritable cache only costs time.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from operator import attrgetter
from pathlib import Path

RACY_NS = 2_000_000_000
CHUNK = 1 << 20
HASH_THREADS = min(4, os.cpu_count() or 1)
CACHE_ENV = "AMLCOMPILE_DIGEST_CACHE"
CACHE_NAME = "worker-digests.v1"
_CACHE_MAX = 200_000  # entries; beyond, the oldest half is dropped

signature = attrgetter("st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")


def settled(st: os.stat_result, looked_at_ns: int) -> bool:
    return max(st.st_mtime_ns, st.st_ctime_ns) < looked_at_ns - RACY_NS


def hash_fd(fd: int) -> str:
    h = hashlib.sha256()
    while chunk := os.read(fd, CHUNK):
        h.update(chunk)
    return h.hexdigest()


def hash_file(path: str) -> str:
    """SHA-256 of a file's content; the last component is opened without following a link
    (callers resolve and check links themselves)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    try:
        return hash_fd(fd)
    finally:
        os.close(fd)


def cache_file() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "amlcompile" / CACHE_NAME


class DigestCache:
    """path → ((inode, size, mtime_ns, ctime_ns), digest), persisted with marshal."""

    MAGIC = "amlcompile-worker-digests"
    VERSION = 1

    def __init__(self, file: Path | None):
        self.file = file
        self.entries: dict = {}
        self.dirty = False
        self._lock = threading.Lock()
        if file is not None:
            try:
                magic, version, entries = marshal.loads(file.read_bytes())
                if (magic, version) == (self.MAGIC, self.VERSION) and isinstance(entries, dict):
                    self.entries = entries
            except (OSError, ValueError, EOFError, TypeError):
                pass

    def digests(self, files: list[tuple[str, os.stat_result]], looked_at_ns: int) -> list[str]:
        out = [""] * len(files)
        todo = []
        for i, (path, st) in enumerate(files):
            hit = self.entries.get(path)
            try:
                ok = hit is not None and tuple(hit[0]) == signature(st) and type(hit[1]) is str
            except (TypeError, IndexError):
                ok = False
            if ok:
                out[i] = hit[1]
            else:
                todo.append(i)
        if todo:
            workers = min(HASH_THREADS, len(todo))
            paths = [files[i][0] for i in todo]
            if workers <= 1:
                hashed = [hash_file(p) for p in paths]
            else:
                with ThreadPoolExecutor(workers) as pool:
                    hashed = list(pool.map(hash_file, paths))
            for i, value in zip(todo, hashed, strict=True):
                out[i] = value
                path, st = files[i]
                # The file may have changed while it was read: only a signature that still
                # holds afterwards, and is old enough, is cached.
                try:
                    again = os.stat(path, follow_symlinks=False)
                except OSError:
                    continue
                if signature(again) == signature(st) and settled(st, looked_at_ns):
                    with self._lock:
                        self.entries[path] = (signature(st), value)
                        self.dirty = True
        return out

    def save(self) -> None:
        if not self.dirty or self.file is None:
            return
        entries = self.entries
        if len(entries) > _CACHE_MAX:
            entries = dict(list(entries.items())[len(entries) // 2 :])
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
            tmp.write_bytes(marshal.dumps((self.MAGIC, self.VERSION, entries)))
            os.replace(tmp, self.file)
            self.dirty = False
        except OSError:
            pass


_shared: DigestCache | None = None


def shared_cache() -> DigestCache:
    """One cache per process, loaded at first use (AMLCOMPILE_DIGEST_CACHE=off: none)."""
    global _shared
    if _shared is None:
        where = os.environ.get(CACHE_ENV)
        _shared = DigestCache(None if where == "off" else cache_file())
    return _shared


def now_ns() -> int:
    return time.time_ns()


def is_link_or_special(st: os.stat_result) -> bool:
    return not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode))


# ---- local trees: no link is followed out of the datastore ----
class LinkOutside(ValueError):
    """A link under a datastore leads out of it; its text names the link."""


def within(root: str | os.PathLike, path: str | os.PathLike) -> str:
    """`path` with every link resolved; it must be `root` or lie under it (both resolved).
    Raises LinkOutside otherwise. Resolve-and-check: see docs/security.md for the race a
    concurrent writer of the datastore still has."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise LinkOutside(f"{path} leads out of the datastore {root} (to {real})")
    return real


def walk(root: str, folder: str) -> tuple[list[tuple[str, str, os.stat_result]], list[str]]:
    """(files as (relative name, real path, stat), empty folders' relative names) under
    `folder`, sorted. Links are followed only while they stay inside `root`; a link out of it
    raises LinkOutside; a link cycle is listed once."""
    files: list[tuple[str, str, os.stat_result]] = []
    empty: list[str] = []
    seen: set[tuple[int, int]] = set()

    def visit(real_dir: str, rel: str) -> None:
        st = os.stat(real_dir)
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(real_dir) as it:
            entries = sorted(it, key=lambda e: e.name)
        if not entries and rel:
            empty.append(rel)
        for entry in entries:
            name = f"{rel}/{entry.name}" if rel else entry.name
            path = entry.path
            if entry.is_symlink():
                path = within(root, path)
            est = os.stat(path, follow_symlinks=False)
            if stat.S_ISDIR(est.st_mode):
                visit(path, name)
            elif stat.S_ISREG(est.st_mode):
                files.append((name, path, est))
            # sockets, FIFOs, devices: not data, never opened

    visit(within(root, folder), "")
    files.sort(key=lambda f: f[0])
    return files, sorted(empty)


def _digest(value) -> str:
    import json

    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def local_signature(root: str, path: str) -> str:
    """Cheap: one stat per file, no read. Changes whenever any file is added, removed,
    renamed or rewritten (a rewrite moves ctime, which nobody can set back)."""
    real = within(root, path)
    st = os.stat(real)
    if stat.S_ISREG(st.st_mode):
        return "stat:" + _digest([["", *signature(st)]])
    if not stat.S_ISDIR(st.st_mode):
        raise FileNotFoundError(path)
    files, empty = walk(root, real)
    return "stat:" + _digest([[rel, *signature(st)] for rel, _, st in files] + empty)


def local_digest(root: str, path: str, cache: DigestCache | None = None) -> str:
    """The content manifest digest: each file's relative name, size and SHA-256, and the
    empty folders. Only files whose signature is new are read (see DigestCache)."""
    cache = shared_cache() if cache is None else cache
    looked_at = now_ns()
    real = within(root, path)
    st = os.stat(real)
    if stat.S_ISREG(st.st_mode):
        (value,) = cache.digests([(real, st)], looked_at)
        cache.save()
        return "file:" + value
    if not stat.S_ISDIR(st.st_mode):
        raise FileNotFoundError(path)
    files, empty = walk(root, real)
    values = cache.digests([(p, s) for _, p, s in files], looked_at)
    cache.save()
    entries = [[rel, s.st_size, v] for (rel, _, s), v in zip(files, values, strict=True)]
    return "dir:" + _digest([entries, empty])
