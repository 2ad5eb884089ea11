"""The tree memo: an unchanged source tree is recognised from stat() alone, and every kind of
change to it (content, names, folders, ignore rules, modes) falls back to a walk that sees it."""

from __future__ import annotations

import os
import shutil
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlcompile import file_digests, snapshot

# Past a coarse filesystem clock tick (4 ms at HZ=250), so a change after a snapshot always
# gets a later timestamp even where files are stamped with the tick clock.
TICK = 0.011


@pytest.fixture
def memo(monkeypatch, tmp_path):
    """Fresh caches; files count as settled at once; walks and reads are counted."""
    monkeypatch.setattr(file_digests, "RACY_NS", 0)
    cache_dir = tmp_path / "cache"
    snapshot.use_cache_dir(cache_dir)
    counts = {"walks": 0, "reads": 0}
    real_walk, real_hash = snapshot._walk, file_digests.hash_file

    def walk(folder):
        counts["walks"] += 1
        return real_walk(folder)

    def read(path):
        counts["reads"] += 1
        return real_hash(path)

    monkeypatch.setattr(snapshot, "_walk", walk)
    monkeypatch.setattr(file_digests, "hash_file", read)
    yield cache_dir, counts
    snapshot.use_cache_dir(None)


def _tree(root):
    for rel, text in {
        "train.py": "print('train')\n",
        "pkg/util.py": "X = 1\n",
        "pkg/deep/more.py": "Y = 2\n",
        "__pycache__/util.cpython-311.pyc": "junk",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / ".amlignore").write_text("*.log\n")
    return root


def _next_build(cache_dir):
    """Save what this build learnt and start the next one from the files."""
    snapshot.save_caches()
    snapshot.use_cache_dir(cache_dir)
    time.sleep(TICK)


def _fresh_id(root) -> str:
    """The snapshot id computed with no cache at all."""
    saved = snapshot.CACHE, snapshot.TREES
    snapshot.use_cache_dir(None)
    try:
        return snapshot.take(root).id
    finally:
        snapshot.CACHE, snapshot.TREES = saved


def test_unchanged_tree_needs_no_walk_and_no_read(tmp_path, memo):
    cache_dir, counts = memo
    root = _tree(tmp_path / "src")
    first = snapshot.take(root)
    assert counts == {"walks": 1, "reads": 4}  # train, util, more, .amlignore
    _next_build(cache_dir)
    again = snapshot.take(root)
    assert counts == {"walks": 1, "reads": 4}
    assert again == first
    assert snapshot.path_digest(root) == snapshot.tree_files(root)[1]


def test_churn_in_an_ignored_folder_keeps_the_memo(tmp_path, memo):
    cache_dir, counts = memo
    root = _tree(tmp_path / "src")
    first = snapshot.take(root)
    _next_build(cache_dir)
    (root / "__pycache__" / "util.cpython-311.pyc").write_text("other junk")
    (root / "__pycache__" / "more.cpython-311.pyc").write_text("new junk")
    assert snapshot.take(root) == first
    assert counts["walks"] == 1


CHANGES = {
    "content, same size": lambda r: (r / "pkg" / "util.py").write_text("X = 2\n"),
    "content, mtime put back": lambda r: _write_keeping_mtime(r / "pkg" / "util.py", "X = 3\n"),
    "new file in a subfolder": lambda r: (r / "pkg" / "deep" / "new.py").write_text(""),
    "file removed": lambda r: (r / "pkg" / "deep" / "more.py").unlink(),
    "file renamed": lambda r: (r / "train.py").rename(r / "fit.py"),
    "folder renamed": lambda r: (r / "pkg").rename(r / "lib"),
    "new folder with a file": lambda r: _make(r / "conf" / "a.yaml", "a: 1\n"),
    "executable bit": lambda r: (r / "train.py").chmod(0o755),
    "ignore rules edited": lambda r: (r / ".amlignore").write_text("*.log\npkg/deep/\n"),
    ".amlignore removed (.gitignore takes over)": lambda r: _swap_rules(r),
    "file replaced by a folder": lambda r: _replace_by_folder(r / "pkg" / "util.py"),
}


def _write_keeping_mtime(path, text):
    st = path.stat()
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _make(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _swap_rules(root):
    (root / ".gitignore").write_text("pkg/\n")
    (root / ".amlignore").unlink()


def _replace_by_folder(path):
    path.unlink()
    _make(path / "inner.py", "Z = 0\n")


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_change_is_seen(tmp_path, memo, change):
    cache_dir, counts = memo
    root = _tree(tmp_path / "src")
    first = snapshot.take(root)
    _next_build(cache_dir)
    CHANGES[change](root)
    changed = snapshot.take(root)
    assert counts["walks"] == 2
    assert changed.id != first.id
    assert changed.id == _fresh_id(root)
    walks = counts["walks"]
    _next_build(cache_dir)  # and the new state is remembered in turn
    assert snapshot.take(root) == changed
    assert counts["walks"] == walks


def test_unsettled_files_are_not_remembered(tmp_path, monkeypatch):
    """Files written within RACY_NS of the snapshot could change again within the same clock
    tick without changing their signature: neither their digests nor the tree are kept."""
    cache_dir = tmp_path / "cache"
    snapshot.use_cache_dir(cache_dir)
    reads = []
    real = file_digests.hash_file
    monkeypatch.setattr(file_digests, "hash_file", lambda p: reads.append(p) or real(p))
    try:
        root = _tree(tmp_path / "src")
        snapshot.take(root)
        snapshot.save_caches()
        snapshot.use_cache_dir(cache_dir)
        snapshot.take(root)
        assert len(reads) == 8  # every file read both times
        assert not (cache_dir / snapshot.TREES_FILE_NAME).exists()
    finally:
        snapshot.use_cache_dir(None)


@pytest.mark.parametrize("damage", [b"", b"\x00" * 40, "flip"])
def test_damaged_memo_is_ignored(tmp_path, memo, damage):
    cache_dir, counts = memo
    root = _tree(tmp_path / "src")
    first = snapshot.take(root)
    snapshot.save_caches()
    memo_file = cache_dir / snapshot.TREES_FILE_NAME
    if damage == "flip":  # one byte of the payload: the checksum no longer matches
        data = bytearray(memo_file.read_bytes())
        data[-10] ^= 0xFF
        damage = bytes(data)
    memo_file.write_bytes(damage)
    snapshot.use_cache_dir(cache_dir)
    assert snapshot.take(root) == first
    assert counts["walks"] == 2


def test_deleted_tree_is_an_error_not_a_memo_hit(tmp_path, memo):
    cache_dir, _ = memo
    root = _tree(tmp_path / "src")
    snapshot.take(root)
    _next_build(cache_dir)
    shutil.rmtree(root)
    with pytest.raises(FileNotFoundError):
        snapshot.take(root)


OPS = st.lists(
    st.tuples(
        st.sampled_from(["write", "append", "remove", "mkdir", "touch-back", "chmod", "rules"]),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_memo_always_agrees_with_a_fresh_snapshot(tmp_path_factory, monkeypatch, ops):
    """Any sequence of edits, with a build after each: the memoised id is the fresh one."""
    monkeypatch.setattr(file_digests, "RACY_NS", 0)
    root = _tree(tmp_path_factory.mktemp("src"))
    cache_dir = tmp_path_factory.mktemp("cache")
    snapshot.use_cache_dir(cache_dir)
    try:
        snapshot.take(root)
        for op, k in ops:
            _next_build(cache_dir)
            files = sorted(p for p in root.rglob("*") if p.is_file())
            target = files[k % len(files)] if files else root / "f.py"
            if op == "write":
                target.write_text(f"v = {k}\n")
            elif op == "append":
                with target.open("a") as fh:
                    fh.write("#\n")
            elif op == "remove" and files:
                target.unlink()
            elif op == "mkdir":
                _make(root / f"d{k}" / f"m{len(files)}.py", "")
            elif op == "touch-back" and files:
                _write_keeping_mtime(target, target.read_text()[::-1])
            elif op == "chmod" and files:
                target.chmod(0o755 if k % 2 else 0o644)
            elif op == "rules":
                (root / ".amlignore").write_text(f"d{k}/\n")
            assert snapshot.take(root).id == _fresh_id(root), (op, k)
    finally:
        snapshot.use_cache_dir(None)


def test_listings_of_deleted_folders_are_dropped_on_save(tmp_path, memo):
    cache_dir, _ = memo
    kept, gone = _tree(tmp_path / "kept"), _tree(tmp_path / "gone")
    snapshot.take(kept)
    snapshot.take(gone)
    shutil.rmtree(gone)
    snapshot.save_caches()
    snapshot.use_cache_dir(cache_dir)
    snapshot.TREES.lookup(str(kept))  # loads the file
    assert set(snapshot.TREES.entries) == {str(kept)}
