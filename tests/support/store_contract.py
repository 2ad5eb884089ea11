"""What every remote datastore must do, checked the same way on each backend (Azure Blob
through Azurite, Azure Files through the File REST stand-in): trees to copy, and claims."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def write_tree(root: Path, big: int) -> dict[str, bytes]:
    """Files that test a copy: empty, nested, odd names, and one of `big` bytes."""
    files = {
        "a.txt": b"alpha\n",
        "empty.bin": b"",
        "nested/deeper/b.csv": b"x,y\n1,2\n",
        "nested/big.bin": os.urandom(big),
        "odd name [1] & more.txt": "ünïcode ✓".encode(),
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def check_exactly_one_claimer_wins(root, claimers: int = 6) -> None:
    from amlcompile.runtime.storage import RemoteStore

    results: dict[int, tuple] = {}
    barrier = threading.Barrier(claimers)

    def claim(i: int) -> None:
        store = RemoteStore(root)
        barrier.wait()
        results[i] = store.try_claim("fp", {"run_id": f"run{i}", "task_id": "t"})

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(claimers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winners = [i for i, (won, _) in results.items() if won]
    assert len(results) == claimers and len(winners) == 1, results
    assert RemoteStore(root).claim_owner("fp")["run_id"] == f"run{winners[0]}"
    for won, current in results.values():
        if not won:
            assert current["run_id"] == f"run{winners[0]}"


def check_heartbeat_takeover_and_release(root) -> None:
    from amlcompile.runtime.storage import RemoteStore

    first, second = RemoteStore(root), RemoteStore(root)
    a = {"run_id": "a", "task_id": "t"}
    b = {"run_id": "b", "task_id": "t"}
    assert first.try_claim("fp", a) == (True, None)
    assert first.try_claim("fp", a) == (True, None)  # a retry of the same task carries on
    won, current = second.try_claim("fp", b)
    assert not won and current["run_id"] == "a"
    key = first._k(first.claim_path("fp"))
    before = first.fs.info(key)["last_modified"]
    time.sleep(1.1)  # Last-Modified has one-second resolution
    first.heartbeat("fp")
    first.fs.invalidate_cache()
    assert first.fs.info(key)["last_modified"] > before
    # A claim whose heartbeat is older than stale_after is taken over.
    assert second.try_claim("fp", b, stale_after=0.0) == (True, None)
    assert second.claim_owner("fp")["run_id"] == "b"
    first.heartbeat("fp")  # the stalled owner wakes up: it must not refresh b's claim
    first.release("fp")  # nor delete it
    assert second.claim_owner("fp")["run_id"] == "b"
    second.release("fp")
    assert second.claim_owner("fp") is None
    assert first.try_claim("fp", a) == (True, None)
