"""Code snapshots: the files of a step's source_directory, content-addressed at build time.

`.amlignore` (or else `.gitignore`) in the source directory excludes files, with gitignore
syntax, as in Azure ML. The snapshot id is a hash of the manifest, so the same code always
lands in the same place and two builds cannot clash.
"""

from __future__ import annotations

import marshal
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from operator import itemgetter
from pathlib import Path

import blake3

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
    return [rel for rel, _, _ in _walk(source_dir)]


def _walk(source_dir: Path) -> list[tuple[str, str, os.stat_result]]:
    """(relative POSIX path, absolute path, stat) of each snapshot file, sorted by path.

    One directory read per folder (os.scandir gives the entry types) and one stat per file,
    which both the digest cache and the executable bit use.
    """
    ignored = rules_for(source_dir).ignored
    out: list[tuple[str, str, os.stat_result]] = []
    add = out.append
    stack = [(str(source_dir), "")]
    while stack:
        folder, rel_dir = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = rel_dir + entry.name
                if entry.is_dir():
                    if not ignored(rel, True):
                        stack.append((entry.path, rel + "/"))
                elif entry.is_file() and not ignored(rel, False):
                    add((rel, entry.path, entry.stat()))
    out.sort(key=itemgetter(0))
    return out


class DigestCache:
    """Content digests of files: path → ((inode, size, mtime_ns, ctime_ns), digest).

    Persisted between builds in `.amlcompile/cache/`, so an unchanged tree is
    re-fingerprinted from stat() alone; any change to a file changes its signature and the
    file is hashed again. Stored with marshal (plain str/int tuples only, checked on load):
    loading 10,000 entries takes a few milliseconds, which JSON does not.
    """

    MAGIC = "amlcompile-file-digests"
    VERSION = 2  # 2: BLAKE3 digests

    def __init__(self) -> None:
        self.entries: dict[str, tuple[tuple[int, int, int, int], str]] = {}
        self.dirty = False

    def load(self, file: Path) -> None:
        try:
            magic, version, entries = marshal.loads(file.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            return  # a missing or damaged cache only costs time
        if (magic, version) == (self.MAGIC, self.VERSION) and isinstance(entries, dict):
            self.entries.update(entries)

    def save(self, file: Path) -> None:
        if not self.dirty:
            return
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
            tmp.write_bytes(marshal.dumps((self.MAGIC, self.VERSION, self.entries)))
            os.replace(tmp, file)
            self.dirty = False
        except OSError:
            pass

    def digests(self, files: list[tuple[str, os.stat_result]]) -> list[str]:
        """The digest of each (absolute path, stat); only files whose signature changed are
        read, in parallel."""
        found: list[str] = []
        missing: list[tuple[int, str, tuple[int, int, int, int]]] = []
        for path, st in files:
            sig = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            hit = self.entries.get(path)
            try:  # a damaged cache file can hold any marshal value: then it is a miss
                usable = hit is not None and hit[0] == sig and type(hit[1]) is str
            except (TypeError, IndexError, KeyError):
                usable = False
            if usable:
                found.append(hit[1])
            else:
                missing.append((len(found), path, sig))
                found.append("")
        if missing:
            hashed = _hash_files([path for _, path, _ in missing])
            for (i, path, sig), digest in zip(missing, hashed, strict=True):
                found[i] = digest
                self.entries[path] = (sig, digest)
            self.dirty = True
        return found


CACHE = DigestCache()
CACHE_FILE_NAME = "file-digests.v2"

# Files up to this size are read in one call; larger ones stream through a reused buffer.
WHOLE_READ_BYTES = 8 << 20
HASH_THREADS = min(8, os.cpu_count() or 1)


def _hash_file(path: str) -> str:
    """BLAKE3 of a file's content: three times SHA-256's speed on one core here, and the
    hasher releases the GIL, so threads hash several files at once."""
    hasher = blake3.blake3()
    with open(path, "rb", buffering=0) as fh:
        if os.fstat(fh.fileno()).st_size <= WHOLE_READ_BYTES:
            hasher.update(fh.readall())
        else:
            buffer = bytearray(WHOLE_READ_BYTES)
            view = memoryview(buffer)
            while n := fh.readinto(buffer):
                hasher.update(view[:n])
    return hasher.hexdigest()


def _hash_files(paths: list[str]) -> list[str]:
    """Digests of many files, each thread taking an interleaved share (no per-file task)."""
    workers = min(HASH_THREADS, len(paths))
    if workers <= 1:
        return [_hash_file(p) for p in paths]
    with ThreadPoolExecutor(workers) as pool:
        shares = list(
            pool.map(lambda k: [_hash_file(p) for p in paths[k::workers]], range(workers))
        )
    out = [""] * len(paths)
    for k, share in enumerate(shares):
        out[k::workers] = share
    return out


def data_digest(data: bytes) -> str:
    """The digest of bytes, as files are digested (the compiler checks snapshot copies)."""
    return blake3.blake3(data).hexdigest()


def _text_digest(text: str) -> str:
    # surrogatepass: a file name with bytes that are not UTF-8 arrives with lone surrogates;
    # real UTF-8 never holds an encoded surrogate, so the encoding stays unambiguous.
    return data_digest(text.encode("utf-8", "surrogatepass"))


def file_digest(path: Path | str) -> tuple[str, bool]:
    """(content digest, executable bit); each file is read at most once per change."""
    path = os.fspath(path)
    st = os.stat(path)
    return CACHE.digests([(path, st)])[0], bool(st.st_mode & stat.S_IXUSR)


def path_digest(path: Path) -> str:
    """Content digest of a file, or of every file (path, content) under a folder."""
    if path.is_file():
        return file_digest(path)[0]
    listing = _walk(path)
    digests = CACHE.digests([(full, st) for _, full, st in listing])
    h = blake3.blake3()
    for (rel, _, _), digest in zip(listing, digests, strict=True):
        h.update(rel.encode("utf-8", "surrogatepass") + b"\0" + digest.encode() + b"\0")
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
        listing = _walk(source_dir)
        digests = CACHE.digests([(full, st) for _, full, st in listing])
        files = [
            SnapshotFile(rel, digest, bool(st.st_mode & stat.S_IXUSR))
            for (rel, _, st), digest in zip(listing, digests, strict=True)
        ]
    # The manifest: NUL-separated fields (a path cannot hold NUL; digests are fixed-length
    # hex), files and generated scripts hashed apart so neither can pose as the other.
    listed = "".join(f"{f.path}\0{f.digest}{int(f.executable)}\0" for f in files)
    scripts = "".join(f"{name}\0{_text_digest(text)}\0" for name, text in generated)
    digest = _text_digest(_text_digest(listed) + _text_digest(scripts))
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
