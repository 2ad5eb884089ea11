"""The last listing of each source tree, recognised again from one stat() per entry.

A tree is unchanged when its ignore-rule files, every folder that was walked and every file of
its snapshot have the (inode, size, mtime_ns, ctime_ns) they had: adding, removing or renaming
an entry changes its folder's mtime, and writing a file changes its own. So an unchanged tree
costs one stat per entry, compared in bulk, with no directory read, no ignore-rule matching
and no per-file lookup. Any difference falls back to a full walk (with per-file digests still
cached). A listing is only remembered when every timestamp in it is settled (see
`file_digests.settled`).
"""

from __future__ import annotations

import marshal
import os
from array import array
from itertools import chain
from pathlib import Path

import blake3

from .file_digests import save_marshal, settled, signature
from .ignore_rules import RULE_FILES

# The snapshot files of a tree: (relative POSIX path, digest, executable), sorted by path.
Files = tuple[tuple[str, str, bool], ...]
# Each walked folder with the names of its snapshot files, in the order of the stamp.
Folders = tuple[tuple[str, tuple[str, ...]], ...]

_ABSENT = (0, 0, 0, 0)


def packed(signatures: list[int]) -> bytes:
    """Signatures as bytes: stored without an int object each, compared in one call."""
    try:
        return b"q" + array("q", signatures).tobytes()
    except OverflowError:  # a 64-bit inode above 2**63
        return b"m" + marshal.dumps(tuple(signatures))


def stamp(root: str, folders: Folders) -> bytes | None:
    """The packed signatures of the rule files, then of each folder and its files; None when
    an entry is gone."""
    try:
        out = rule_signatures(root)
    except OSError:
        return None
    add = out.extend
    for folder, names in folders:
        try:  # map() over C functions: no Python-level step per file
            add(signature(os.stat(folder)))
            add(
                chain.from_iterable(
                    map(signature, map(os.stat, map(f"{folder}{os.sep}".__add__, names)))
                )
            )
        except OSError:
            return None
    return packed(out)


def rule_signatures(root: str) -> list[int]:
    """The signatures of the files the ignore rules come from (zeros for a missing one)."""
    out: list[int] = []
    for name in RULE_FILES:
        try:
            out.extend(signature(os.stat(os.path.join(root, name))))
        except FileNotFoundError:
            out.extend(_ABSENT)
    return out


class TreeMemo:
    """root → (folders, stamp, files, manifest digest), read from `file` when first needed.

    The file is checksummed as a whole: a damaged one is ignored, so entries need no
    per-field checks on the fast path.
    """

    MAGIC = "amlcompile-tree-listings"
    VERSION = 1

    def __init__(self, file: Path | None = None) -> None:
        self.file = file
        self.entries: dict[str, tuple[Folders, bytes, Files, str]] = {}
        self.dirty = False
        self._loaded = file is None

    def _load(self) -> None:
        self._loaded = True
        try:
            magic, version, checksum, payload = marshal.loads(self.file.read_bytes())
            if (magic, version) != (self.MAGIC, self.VERSION):
                return
            if blake3.blake3(payload).hexdigest() != checksum:
                return
            entries = marshal.loads(payload)
        except (OSError, ValueError, EOFError, TypeError):
            return
        if isinstance(entries, dict):
            self.entries = {**entries, **self.entries}

    def save(self) -> None:
        if self.dirty and self.file is not None:
            for gone in [root for root in self.entries if not os.path.isdir(root)]:
                del self.entries[gone]  # folders deleted since: their listings only cost space
            payload = marshal.dumps(self.entries)
            checksum = blake3.blake3(payload).hexdigest()
            save_marshal(self.file, (self.MAGIC, self.VERSION, checksum, payload))
            self.dirty = False

    def lookup(self, root: str) -> tuple[Files, str] | None:
        """The remembered files and manifest digest of `root`, if nothing in it changed."""
        if not self._loaded:
            self._load()
        entry = self.entries.get(root)
        if entry is None:
            return None
        folders, remembered, files, manifest = entry
        if stamp(root, folders) != remembered:
            del self.entries[root]
            self.dirty = True
            return None
        return files, manifest

    def remember(
        self,
        root: str,
        folders: Folders,
        signatures: list[int],
        files: Files,
        manifest: str,
        looked_at_ns: int,
    ) -> None:
        """Keep a listing whose signatures were taken after `looked_at_ns`, if all are
        settled."""
        times = signatures[2::4] + signatures[3::4]
        if times and settled(max(times), looked_at_ns):
            self.entries[root] = (folders, packed(signatures), files, manifest)
            self.dirty = True
