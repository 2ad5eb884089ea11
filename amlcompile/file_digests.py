"""Content digests of files (BLAKE3), hashed on threads, cached by stat signature.

The cache maps a path to ((inode, size, mtime_ns, ctime_ns), digest) and is persisted between
builds, so an unchanged file is never read twice. A signature is only trusted when it is older
than the moment its file was looked at by `RACY_NS` ("racy git"): file timestamps come from a
coarse clock, so a file written twice within one tick can keep its signature; such a file is
hashed again next time instead of being cached.
"""

from __future__ import annotations

import marshal
import os
from concurrent.futures import ThreadPoolExecutor
from operator import attrgetter
from pathlib import Path

import blake3

Signature = tuple[int, int, int, int]

# Longer than any filesystem clock tick; network filesystems stamp with the server's clock.
RACY_NS = 2_000_000_000

# Files up to this size are read in one call; larger ones stream through a reused buffer.
WHOLE_READ_BYTES = 8 << 20
HASH_THREADS = min(8, os.cpu_count() or 1)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)  # O_BINARY: Windows only


# (inode, size, mtime_ns, ctime_ns) of a stat result; an attrgetter runs in C, which counts
# when 10,000 files are checked.
signature = attrgetter("st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")


def settled(newest_ns: int, looked_at_ns: int) -> bool:
    """Whether a signature whose newest timestamp is `newest_ns` can be trusted later: any
    change after `looked_at_ns` (taken before the stat) gets a later timestamp."""
    return newest_ns < looked_at_ns - RACY_NS


def hash_file(path: str) -> str:
    """BLAKE3 of a file's content: three times SHA-256's speed on one core here, and the
    hasher releases the GIL, so threads hash several files at once.

    A file up to WHOLE_READ_BYTES is read with one read of its stat size plus one: a third of
    the system calls and objects of a buffered `open()`, which matters for small source
    files. When that read does not return exactly the stat size (the file grew, or the
    filesystem gives short reads) reading goes on to end of file. Larger files stream
    through one reused buffer."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        size = os.fstat(fd).st_size
        if size <= WHOLE_READ_BYTES:
            data = os.read(fd, size + 1)
            if len(data) == size:  # the file as stat'ed, whole: one read, no EOF probe
                return blake3.blake3(data).hexdigest()
            hasher = blake3.blake3(data)  # it grew, or the filesystem gave a short read
            while chunk := os.read(fd, 1 << 16):
                hasher.update(chunk)
            return hasher.hexdigest()
        hasher = blake3.blake3()
        buffer = bytearray(WHOLE_READ_BYTES)
        view = memoryview(buffer)
        with open(fd, "rb", buffering=0, closefd=False) as fh:
            while n := fh.readinto(buffer):
                hasher.update(view[:n])
        return hasher.hexdigest()
    finally:
        os.close(fd)


def hash_files(paths: list[str]) -> list[str]:
    """Digests of many files, each thread taking an interleaved share (no per-file task)."""
    workers = min(HASH_THREADS, len(paths))
    if workers <= 1:
        return [hash_file(p) for p in paths]
    with ThreadPoolExecutor(workers) as pool:
        shares = list(pool.map(lambda k: [hash_file(p) for p in paths[k::workers]], range(workers)))
    out = [""] * len(paths)
    for k, share in enumerate(shares):
        out[k::workers] = share
    return out


def data_digest(data: bytes) -> str:
    """The digest of bytes, as files are digested (the compiler checks snapshot copies)."""
    return blake3.blake3(data).hexdigest()


class DigestCache:
    """path → (signature, digest), read from `file` only when a digest is first needed.

    Stored with marshal (plain str/int tuples only, checked on use): loading 10,000 entries
    takes a few milliseconds, which JSON does not. A missing or damaged file only costs time.
    """

    MAGIC = "amlcompile-file-digests"
    VERSION = 2  # 2: BLAKE3 digests

    def __init__(self, file: Path | None = None) -> None:
        self.file = file
        self.entries: dict[str, tuple[Signature, str]] = {}
        self.dirty = False
        self._loaded = file is None

    def _load(self) -> None:
        self._loaded = True
        try:
            magic, version, entries = marshal.loads(self.file.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            return
        if (magic, version) == (self.MAGIC, self.VERSION) and isinstance(entries, dict):
            self.entries = {**entries, **self.entries}

    def save(self) -> None:
        if self.dirty and self.file is not None:
            save_marshal(self.file, (self.MAGIC, self.VERSION, self.entries))
            self.dirty = False

    def digests(self, files: list[tuple[str, os.stat_result]], looked_at_ns: int) -> list[str]:
        """The digest of each (absolute path, stat taken after `looked_at_ns`); only files
        whose signature changed are read, in parallel."""
        if not self._loaded:
            self._load()
        found: list[str] = []
        missing: list[tuple[int, str, os.stat_result]] = []
        for path, st in files:
            hit = self.entries.get(path)
            try:  # a damaged cache file can hold any marshal value: then it is a miss
                usable = hit is not None and hit[0] == signature(st) and type(hit[1]) is str
            except (TypeError, IndexError, KeyError):
                usable = False
            if usable:
                found.append(hit[1])
            else:
                missing.append((len(found), path, st))
                found.append("")
        if missing:
            hashed = hash_files([path for _, path, _ in missing])
            for (i, path, st), digest in zip(missing, hashed, strict=True):
                found[i] = digest
                if settled(max(st.st_mtime_ns, st.st_ctime_ns), looked_at_ns):
                    self.entries[path] = (signature(st), digest)
                    self.dirty = True
        return found


def save_marshal(file: Path, value) -> None:
    """Write a cache file whole or not at all; a cache that cannot be written only costs time."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(value))
        os.replace(tmp, file)
    except OSError:
        pass
