"""Code snapshots: the files of a step's source_directory, content-addressed at build time.

`.amlignore` (or else `.gitignore`) in the source directory excludes files, with gitignore
syntax, as in Azure ML. The snapshot id is a hash of the manifest, so the same code always
lands in the same place and two builds cannot clash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from functools import lru_cache
from pathlib import Path

from .ir.models import Snapshot, SnapshotFile

# Never part of a snapshot: tool state, VCS data, caches, our own output.
ALWAYS_IGNORED = [
    ".git/",
    "__pycache__/",
    "*.pyc",
    ".amlcompile/",
    "dags_out/",
    ".venv/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".ipynb_checkpoints/",
]


def _glob_to_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : j].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


class IgnoreRules:
    """gitignore semantics: last matching pattern wins, `!` re-includes, `dir/` only dirs."""

    def __init__(self, lines: list[str]):
        self.rules: list[tuple[re.Pattern, bool, bool]] = []
        for raw in lines:
            line = raw.rstrip("\n").rstrip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:]
            if line.startswith("\\"):
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            line = line.lstrip("/")
            regex = _glob_to_regex(line)
            full = f"^{regex}$" if anchored else f"^(?:.*/)?{regex}$"
            self.rules.append((re.compile(full), negate, dir_only))
        # Without `!` rules any match ignores: one combined regex per kind decides at once.
        self._combined = None
        if not any(negate for _, negate, _ in self.rules):
            files = [r.pattern for r, _, dir_only in self.rules if not dir_only]
            every = [r.pattern for r, _, _ in self.rules]
            self._combined = (
                re.compile("|".join(f"(?:{p})" for p in files)) if files else None,
                re.compile("|".join(f"(?:{p})" for p in every)) if every else None,
            )

    def ignored(self, relpath: str, is_dir: bool) -> bool:
        if self._combined is not None:
            regex = self._combined[1 if is_dir else 0]
            return bool(regex and regex.match(relpath))
        result = False
        for regex, negate, dir_only in self.rules:
            if dir_only and not is_dir:
                continue
            if regex.match(relpath):
                result = not negate
        return result


def rules_for(source_dir: Path) -> IgnoreRules:
    lines = list(ALWAYS_IGNORED)
    for name in (".amlignore", ".gitignore"):
        f = source_dir / name
        if f.is_file():
            lines += f.read_text(encoding="utf-8", errors="replace").splitlines()
            break
    return IgnoreRules(lines)


def list_files(source_dir: Path) -> list[str]:
    """Relative POSIX paths of the files that belong to the snapshot, sorted."""
    return [rel for rel, _ in _walk(source_dir)]


def _walk(source_dir: Path) -> list[tuple[str, str]]:
    """(relative POSIX path, absolute path) of each snapshot file, sorted; os.scandir keeps
    this to one directory read per folder and no stat per file (d_type)."""
    rules = rules_for(source_dir)
    out: list[tuple[str, str]] = []
    stack = [(str(source_dir), "")]
    while stack:
        folder, rel_dir = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = rel_dir + entry.name
                if entry.is_dir(follow_symlinks=True):
                    if not rules.ignored(rel, True):
                        stack.append((entry.path, rel + "/"))
                elif entry.is_file(follow_symlinks=True) and not rules.ignored(rel, False):
                    out.append((rel, entry.path))
    out.sort()
    return out


class DigestCache:
    """Per-file content digests keyed by (path, inode, size, mtime_ns, ctime_ns).

    Persisted between builds in `.amlcompile/cache/`, so an unchanged tree is
    re-fingerprinted from stat() alone; any change to a file changes its key.
    """

    def __init__(self) -> None:
        self.entries: dict[str, str] = {}
        self.dirty = False

    @staticmethod
    def key(path: str, st: os.stat_result) -> str:
        return f"{path}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"

    def load(self, file: Path) -> None:
        try:
            data = json.loads(file.read_text())
            if isinstance(data, dict) and data.get("version") == 1:
                self.entries.update(data.get("entries", {}))
        except (OSError, ValueError):
            pass  # a missing or damaged cache only costs time

    def save(self, file: Path) -> None:
        if not self.dirty:
            return
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": 1, "entries": self.entries}))
            os.replace(tmp, file)
            self.dirty = False
        except OSError:
            pass


CACHE = DigestCache()


def _hash_file(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def file_digest(path: Path | str) -> tuple[str, bool]:
    """(sha256 of the content, executable bit); each file is read at most once per change."""
    path = os.fspath(path)
    st = os.stat(path)
    executable = bool(st.st_mode & stat.S_IXUSR)
    key = DigestCache.key(path, st)
    found = CACHE.entries.get(key)
    if found is None:
        found = _hash_file(path)
        CACHE.entries[key] = found
        CACHE.dirty = True
    return found, executable


def path_digest(path: Path) -> str:
    """Content digest of a file, or of every file (path, content) under a folder."""
    if path.is_file():
        return file_digest(path)[0]
    h = hashlib.sha256()
    for rel in list_files(path):
        h.update(rel.encode() + b"\0" + file_digest(path / rel)[0].encode() + b"\0")
    return h.hexdigest()


@lru_cache(maxsize=1024)
def git_state(folder: str) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git work tree holding `folder`, or (None, None)."""
    import subprocess

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
    files: list[SnapshotFile] = []
    if source_dir is not None:
        for rel, full in _walk(source_dir):
            digest, executable = file_digest(full)
            files.append(SnapshotFile(rel, digest, executable))
    manifest = {
        "files": [[f.path, f.sha256, f.executable] for f in files],
        "generated": [
            [name, hashlib.sha256(text.encode()).hexdigest()] for name, text in generated
        ],
    }
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    commit, dirty = git_state(str(source_dir)) if source_dir is not None else (None, None)
    # model_construct: every value here comes from the filesystem, already well-typed.
    return Snapshot.model_construct(
        id=digest[:20],
        source_directory=str(source_dir or ""),
        files=tuple(files),
        generated=tuple(generated),
        git_commit=commit,
        git_dirty=dirty,
    )
