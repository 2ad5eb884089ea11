"""Code snapshots: content digests, the persistent per-file cache and parallel hashing."""

from __future__ import annotations

import marshal
import os
import time

import blake3
import pytest

from amlcompile import file_digests, snapshot


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """Fresh caches in a folder, and a counter of the files actually read.

    RACY_NS 0: files written by the test count as settled at once (each test that changes a
    file after a snapshot changes its size or waits out a clock tick first)."""
    monkeypatch.setattr(file_digests, "RACY_NS", 0)
    cache_dir = tmp_path / "cache"
    snapshot.use_cache_dir(cache_dir)
    reads: list[str] = []
    real = file_digests.hash_file

    def counting(path):
        reads.append(path)
        return real(path)

    monkeypatch.setattr(file_digests, "hash_file", counting)
    yield snapshot.CACHE, reads, cache_dir / snapshot.CACHE_FILE_NAME
    snapshot.use_cache_dir(None)


def _tree(root, n=30):
    for i in range(n):
        f = root / f"pkg{i % 3}" / f"mod{i}.py"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"VALUE = {i}\n")
    return root


def _reload(cache_file) -> None:
    """What the next build starts from: the saved per-file cache, without the tree memo (so
    every take walks and looks up file by file; tests/dsl/test_tree_memo.py covers the memo)."""
    snapshot.use_cache_dir(cache_file.parent)
    snapshot.TREES = snapshot.TreeMemo()


def test_digest_is_blake3_of_the_content(tmp_path, cache):
    f = tmp_path / "a.py"
    f.write_bytes(b"print('hi')\n")
    assert snapshot.file_digest(f)[0] == blake3.blake3(b"print('hi')\n").hexdigest()


def test_unchanged_tree_is_fingerprinted_from_stat_alone(tmp_path, cache):
    _, reads, cache_file = cache
    tree = _tree(tmp_path / "src")
    first = snapshot.take(tree)
    assert len(reads) == 30
    snapshot.save_caches()

    _reload(cache_file)
    reads.clear()
    assert snapshot.take(tree).id == first.id
    assert reads == []


def test_content_change_with_restored_mtime_is_seen(tmp_path, cache):
    """Same size, mtime put back (as `touch -r` or an archive tool does): ctime still moves."""
    _, reads, cache_file = cache
    tree = _tree(tmp_path / "src")
    first = snapshot.take(tree)
    snapshot.save_caches()

    target = tree / "pkg0" / "mod0.py"
    st = target.stat()
    time.sleep(0.02)  # past a coarse filesystem clock tick, so ctime moves
    target.write_text("VALUE = 9\n")  # same length as "VALUE = 0\n"
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert target.stat().st_size == st.st_size and target.stat().st_mtime_ns == st.st_mtime_ns

    _reload(cache_file)
    reads.clear()
    second = snapshot.take(tree)
    assert reads == [str(target)]
    assert second.id != first.id


def test_replaced_file_and_new_file_are_hashed(tmp_path, cache):
    _, reads, cache_file = cache
    tree = _tree(tmp_path / "src")
    first = snapshot.take(tree)
    snapshot.save_caches()

    replaced = tree / "pkg1" / "mod1.py"
    tmp = replaced.with_suffix(".tmp")
    tmp.write_text(replaced.read_text())  # same bytes, new inode: an editor's atomic save
    os.replace(tmp, replaced)
    (tree / "new.py").write_text("x = 1\n")

    _reload(cache_file)
    reads.clear()
    second = snapshot.take(tree)
    assert sorted(reads) == sorted([str(replaced), str(tree / "new.py")])
    assert second.id != first.id  # the new file; the replaced one has the same digest
    assert {f.path: f.digest for f in second.files}["pkg1/mod1.py"] == {
        f.path: f.digest for f in first.files
    }["pkg1/mod1.py"]


@pytest.mark.parametrize(
    "damage",
    [b"", b"not marshal", b"\xff" * 64, ("amlcompile-file-digests", 1, {}), "entries"],
)
def test_damaged_or_foreign_cache_only_costs_time(tmp_path, cache, damage):
    _, reads, cache_file = cache
    tree = _tree(tmp_path / "src")
    first = snapshot.take(tree)
    cache_file.parent.mkdir(parents=True)
    if damage == "entries":  # the right header over entries of every wrong shape
        wrong = [5, (), ("sig",), (None, "d"), ((1, 2, 3, 4), 7), {"k": 1}]
        paths = [str(tree / f"pkg{i % 3}" / f"mod{i}.py") for i in range(30)]
        damage = ("amlcompile-file-digests", 2, dict(zip(paths, wrong * 5, strict=True)))
    if isinstance(damage, tuple):
        damage = marshal.dumps(damage)
    cache_file.write_bytes(damage)

    _reload(cache_file)
    reads.clear()
    assert snapshot.take(tree).id == first.id
    assert len(reads) == 30


def test_digests_do_not_depend_on_thread_count(tmp_path, cache, monkeypatch):
    _, reads, _ = cache
    tree = _tree(tmp_path / "src", n=57)
    monkeypatch.setattr(file_digests, "HASH_THREADS", 1)
    one = snapshot.take(tree)
    for threads in (2, 5):
        snapshot.use_cache_dir(None)
        monkeypatch.setattr(file_digests, "HASH_THREADS", threads)
        many = snapshot.take(tree)
        assert many.files == one.files and many.id == one.id


def test_large_files_stream_through_a_buffer(tmp_path, cache, monkeypatch):
    data = os.urandom(300_001)
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    monkeypatch.setattr(file_digests, "WHOLE_READ_BYTES", 4096)
    assert snapshot.file_digest(f)[0] == blake3.blake3(data).hexdigest()


def test_executable_bit_and_generated_scripts_change_the_id(tmp_path, cache):
    tree = _tree(tmp_path / "src", n=3)
    plain = snapshot.take(tree).id
    (tree / "pkg0" / "mod0.py").chmod(0o755)
    executable = snapshot.take(tree).id
    with_script = snapshot.take(tree, (("gen.py", "print(1)\n"),)).id
    assert len({plain, executable, with_script}) == 3
    # A generated script cannot pose as a file of the same name and content.
    only_script = snapshot.take(None, (("pkg0/mod0.py", "VALUE = 0\n"),)).id
    (tree / "pkg0" / "mod0.py").chmod(0o644)
    assert only_script not in {plain, executable}


def test_short_reads_still_hash_the_whole_file(tmp_path, monkeypatch):
    """A filesystem may return fewer bytes than asked (network mounts, FUSE): read to EOF."""
    data = os.urandom(100_000)
    f = tmp_path / "short.bin"
    f.write_bytes(data)
    real_read = os.read
    monkeypatch.setattr(file_digests.os, "read", lambda fd, n: real_read(fd, min(n, 777)))
    assert file_digests.hash_file(str(f)) == blake3.blake3(data).hexdigest()


def test_file_that_grew_since_its_stat_is_hashed_whole(tmp_path, monkeypatch):
    data = os.urandom(5_000)
    f = tmp_path / "grows.bin"
    f.write_bytes(data[:1000])
    real_fstat = os.fstat

    def fstat_then_grow(fd):
        st = real_fstat(fd)
        f.write_bytes(data)  # the file grows between the stat and the read
        return st

    monkeypatch.setattr(file_digests.os, "fstat", fstat_then_grow)
    assert file_digests.hash_file(str(f)) == blake3.blake3(data).hexdigest()
