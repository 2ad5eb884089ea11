"""Code snapshots: the files of a step's source_directory, content-addressed at build time.

`.amlignore` (or else `.gitignore`) in the source directory excludes files, with gitignore
syntax, as in Azure ML. The snapshot id is a hash of the manifest, so the same code always
lands in the same place and two builds cannot clash.

Two caches make a rebuild cheap: the tree memo recognises an unchanged folder from one stat
per entry (`tree_memo`), and per-file digests keyed by stat signature mean a changed folder
only reads its changed files (`file_digests`).
"""

from __future__ import annotations

import gc
import os
import stat
import time
from contextlib import contextmanager
from functools import lru_cache, partial
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from .file_digests import DigestCache, data_digest, signature
from .ignore_rules import rules_for
from .ir.models import Snapshot, SnapshotFile
from .tree_memo import Files, Folders, TreeMemo, rule_signatures


def list_files(source_dir: Path) -> list[str]:
    """Relative POSIX paths of the files that belong to the snapshot, sorted."""
    return [rel for rel, _, _ in _walk(source_dir).files]


class _Walk(NamedTuple):
    files: list[tuple[str, str, os.stat_result]]  # (relative POSIX path, absolute, stat), sorted
    folders: Folders  # each walked folder and the names of its snapshot files
    signatures: list[int]  # in TreeMemo stamp order: rule files, then folder by folder


def _walk(source_dir: Path) -> _Walk:
    """One stat and one directory read per folder (os.scandir gives the entry types), one
    stat per file; the digest cache, the executable bit and the tree memo all use them."""
    root = str(source_dir)
    signatures = rule_signatures(root)
    ignored = rules_for(source_dir).ignored
    files: list[tuple[str, str, os.stat_result]] = []
    folders: list[tuple[str, tuple[str, ...]]] = []
    stack = [(root, "")]
    while stack:
        folder, rel_dir = stack.pop()
        # The folder's stamp is taken before it is read: a change while reading moves it.
        signatures.extend(signature(os.stat(folder)))
        names: list[str] = []
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = rel_dir + entry.name
                if entry.is_dir():
                    if not ignored(rel, True):
                        stack.append((entry.path, rel + "/"))
                elif entry.is_file() and not ignored(rel, False):
                    st = entry.stat()
                    files.append((rel, entry.path, st))
                    names.append(entry.name)
                    signatures.extend(signature(st))
        folders.append((folder, tuple(names)))
    files.sort(key=itemgetter(0))
    return _Walk(files, tuple(folders), signatures)


# Per-process caches; `use_cache_dir` points them at a project's `.amlcompile/cache/`.
CACHE = DigestCache()
TREES = TreeMemo()
CACHE_FILE_NAME = "file-digests.v2"
TREES_FILE_NAME = "tree-listings.v2"  # v2: git's ignore semantics (pathspec)


def use_cache_dir(cache_dir: Path | None) -> None:
    """Fresh caches backed by files in `cache_dir` (None: in memory only); read lazily."""
    global CACHE, TREES
    CACHE = DigestCache(cache_dir / CACHE_FILE_NAME if cache_dir else None)
    TREES = TreeMemo(cache_dir / TREES_FILE_NAME if cache_dir else None)


def save_caches() -> None:
    CACHE.save()
    TREES.save()


def _text_digest(text: str) -> str:
    # surrogatepass: a file name with bytes that are not UTF-8 arrives with lone surrogates;
    # real UTF-8 never holds an encoded surrogate, so the encoding stays unambiguous.
    return data_digest(text.encode("utf-8", "surrogatepass"))


def _manifest_digest(files: Files) -> str:
    # NUL-separated fields (a path cannot hold NUL; digests are fixed-length hex).
    return _text_digest("".join(f"{path}\0{digest}{int(x)}\0" for path, digest, x in files))


@contextmanager
def _gc_paused():
    """Pause the cycle collector: a tree's listing makes tens of thousands of tuples, and the
    collections they trigger walked the whole heap again and again (a quarter of the first
    pass over 10,000 files). Nothing here makes reference cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def tree_files(source_dir: Path) -> tuple[Files, str]:
    """The snapshot files of a folder and their manifest digest: from the tree memo when
    nothing in the folder changed, else from a walk with per-file cached digests."""
    with _gc_paused():
        return _tree_files(os.path.abspath(source_dir))


def _tree_files(root: str) -> tuple[Files, str]:
    known = TREES.lookup(root)
    if known is not None:
        return known
    looked_at = time.time_ns()
    walk = _walk(Path(root))
    digests = CACHE.digests([(full, st) for _, full, st in walk.files], looked_at)
    files = tuple(
        (rel, digest, bool(st.st_mode & stat.S_IXUSR))
        for (rel, _, st), digest in zip(walk.files, digests, strict=True)
    )
    manifest = _manifest_digest(files)
    TREES.remember(root, walk.folders, walk.signatures, files, manifest, looked_at)
    return files, manifest


def file_digest(path: Path | str) -> tuple[str, bool]:
    """(content digest, executable bit); each file is read at most once per change."""
    path = os.fspath(path)
    looked_at = time.time_ns()
    st = os.stat(path)
    return CACHE.digests([(path, st)], looked_at)[0], bool(st.st_mode & stat.S_IXUSR)


def path_digest(path: Path) -> str:
    """Content digest of a file, or of a folder's files (paths, contents, executable bits)
    with its ignore rules applied."""
    if path.is_file():
        return file_digest(path)[0]
    return tree_files(path)[1]


def _has_git_above(folder: str) -> bool:
    """Whether `folder` or a parent holds `.git` (or GIT_DIR points git elsewhere)."""
    if "GIT_DIR" in os.environ:
        return True
    path = os.path.abspath(folder)
    while not os.path.lexists(os.path.join(path, ".git")):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return True


@lru_cache(maxsize=1024)
def git_state(folder: str) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git work tree holding `folder`, or (None, None)."""
    import subprocess

    if not _has_git_above(folder):
        return None, None  # no process to start for a tree outside any repository
    try:
        commit = subprocess.run(
            ["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "-C", folder, "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def take(source_dir: Path | None, generated: tuple[tuple[str, str], ...] = ()) -> Snapshot:
    files: Files = ()
    manifest = _manifest_digest(())
    if source_dir is not None:
        files, manifest = tree_files(source_dir)
    with _gc_paused():
        snapshot_files = tuple(map(partial(tuple.__new__, SnapshotFile), files))
    # Files and generated scripts hashed apart so neither can pose as the other.
    scripts = "".join(f"{name}\0{_text_digest(text)}\0" for name, text in generated)
    digest = _text_digest(manifest + _text_digest(scripts))
    commit, dirty = git_state(str(source_dir)) if source_dir is not None else (None, None)
    # model_construct: every value here comes from the filesystem, already well-typed;
    # tuple.__new__ makes the named tuples without a Python-level call per file.
    return Snapshot.model_construct(
        id=digest[:20],
        source_directory=str(source_dir or ""),
        files=snapshot_files,
        generated=tuple(generated),
        git_commit=commit,
        git_dirty=dirty,
    )
