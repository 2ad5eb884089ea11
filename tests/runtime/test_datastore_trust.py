"""Issue 16: what someone who can write a datastore can make a run do, on a local datastore
(the same cases on Azure Blob through Azurite are in test_datastore_trust_azurite.py).

- No run follows a link out of the datastore: not to delete or write outputs, not to write
  records or claims, not to read inputs.
- A record is reused only when the outputs it names are exactly the step's own and match the
  manifest it holds; consumers rerun when an upstream output they read was rewritten.
- Local data is versioned by content: a rewrite with size and mtime put back is a new version.
- A claim whose owner is provably dead is taken over at once.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("airflow", reason="the runtime needs Airflow")

from amlcompile.runtime.binding import StepError  # noqa: E402
from amlcompile.runtime.planner import compute_plan  # noqa: E402
from amlcompile.runtime.reuse import Store, canonical, data_version, fingerprint  # noqa: E402
from tests.support.records import record_for  # noqa: E402
from tests.support.reuse_runs import copies, plan_entry, run, step, write, writes  # noqa: E402


@pytest.fixture
def ds(tmp_path, monkeypatch):
    """A local datastore, a folder outside it holding a file someone cares about, and a
    digest cache of this test's own."""
    monkeypatch.setenv("AMLCOMPILE_DIGEST_CACHE", str(tmp_path / "digests"))
    try:
        import amlcompile.runtime.digests as digests
    except ImportError:  # the runtime before issue 16 (these tests must fail there, not error)
        pass
    else:
        monkeypatch.setattr(digests, "_shared", None)
    root, outside = tmp_path / "datastore", tmp_path / "outside"
    root.mkdir()
    (outside / "out").mkdir(parents=True)
    (outside / "out" / "precious.txt").write_text("keep me")
    (outside / "out" / "part.txt").write_text("secret")
    return {"ds": {"kind": "local", "path": str(root), "conn_id": None}}, root, outside


def fp_of(entry_step: dict, datastores, upstream=()) -> str:
    steps = [*upstream, entry_step]
    plan = compute_plan([plan_entry(s) for s in steps], datastores, {}, False)
    return plan[entry_step["name"]]["fingerprint"]


def snapshot(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None
        for p in folder.rglob("*")
    }


# ---- 1. nothing follows a link out of the datastore ----
def test_an_output_folder_linked_out_of_the_datastore_is_neither_emptied_nor_written(ds):
    datastores, root, outside = ds
    a = step("a")
    fp = fp_of(a, datastores)
    (root / "azureml" / "fp").mkdir(parents=True)
    (root / "azureml" / "fp" / fp).symlink_to(outside)
    before = snapshot(outside)
    with pytest.raises(StepError, match="leads out of the datastore"):
        run([a], datastores, {"a": writes()})
    assert snapshot(outside) == before, "the run deleted or wrote outside the datastore"
    assert not list((root / "azureml").rglob("*.json")), "no record for a refused step"


def test_the_records_folder_linked_out_of_the_datastore_gets_no_record_or_claim(ds):
    datastores, root, outside = ds
    (root / "azureml").mkdir()
    (root / "azureml" / "_reuse").symlink_to(outside)
    before = snapshot(outside)
    with pytest.raises(StepError, match="_reuse"):
        run([step("a")], datastores, {"a": writes()})
    assert snapshot(outside) == before, "records or claims were written outside the datastore"


def test_an_input_linked_out_of_the_datastore_is_not_read(ds):
    datastores, root, outside = ds
    (root / "data").symlink_to(outside / "out")
    reader = step("r", inputs=[("raw", "data")])
    with pytest.raises(StepError, match="leads out of the datastore"):
        run([reader], datastores, {"r": copies})
    # ... nor a link inside an input folder
    (root / "data").unlink()
    (root / "data").mkdir()
    (root / "data" / "part.txt").symlink_to(outside / "out" / "precious.txt")
    with pytest.raises(StepError, match="leads out of the datastore"):
        run([reader], datastores, {"r": copies})
    # A link that stays inside the datastore is data like any other.
    (root / "real.txt").write_text("inside")
    (root / "data" / "part.txt").unlink()
    (root / "data" / "part.txt").symlink_to(root / "real.txt")
    assert run([reader], datastores, {"r": copies}) == {"r": "ran"}


def test_a_record_or_claim_that_is_a_link_is_not_followed(ds):
    datastores, root, outside = ds
    a = step("a")
    fp = fp_of(a, datastores)
    reuse = root / "azureml" / "_reuse"
    reuse.mkdir(parents=True)
    target = outside / "out" / "precious.txt"
    (reuse / f"{fp}.json").symlink_to(target)
    assert run([a], datastores, {"a": writes()}) == {"a": "ran"}
    assert target.read_text() == "keep me"
    assert not (reuse / f"{fp}.json").is_symlink(), "the record replaced the link"
    # A heartbeat never touches through a planted claim link.
    (reuse / "x.claim").symlink_to(target)
    old = target.stat().st_mtime_ns
    time.sleep(0.01)
    Store(root).heartbeat("x")
    assert target.stat().st_mtime_ns == old


# ---- 2. records name the step's own outputs, which must be there and match ----
@pytest.mark.parametrize("forged", ["no outputs", "the datastore root", "another folder"])
def test_a_record_not_naming_the_steps_own_outputs_is_not_reused(ds, forged):
    datastores, root, _ = ds
    a, b = step("a"), step("b", inputs=[("i", "a", "out")])
    assert run([a, b], datastores, {"a": writes(), "b": copies}) == {"a": "ran", "b": "ran"}
    fp = fp_of(a, datastores)
    store = Store(root)
    record = json.loads(store.record_path(fp).read_text())
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "part.txt").write_text("planted")
    record["outputs"] = {
        "no outputs": {},
        "the datastore root": {"out": str(root)},
        "another folder": {"out": str(elsewhere)},
    }[forged]
    record.pop("refs", None)
    store.write_record(fp, record)
    import shutil

    shutil.rmtree(root / "azureml" / "fp" / fp)  # the real output is gone
    states = run([a, b], datastores, {"a": writes(), "b": copies}, run_id="run2")
    assert states["a"] == "ran", states


def test_a_record_whose_output_is_gone_or_changed_is_not_reused(ds):
    datastores, root, _ = ds
    a = step("a")
    assert run([a], datastores, {"a": writes()}) == {"a": "ran"}
    assert run([a], datastores, {"a": writes()}) == {"a": "reused at plan"}
    fp = fp_of(a, datastores)
    part = root / "azureml" / "fp" / fp / "out" / "part.txt"
    stamp = part.stat()
    part.write_bytes(b"RESULT")  # same size, mtime put back: only the content differs
    os.utime(part, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert run([a], datastores, {"a": writes()}) == {"a": "ran"}
    assert part.read_bytes() == b"result"
    part.unlink()
    assert run([a], datastores, {"a": writes()}) == {"a": "ran"}


def test_a_record_without_manifests_is_not_reused(ds):
    """Records of earlier versions (and forged ones) say nothing checkable: the step runs."""
    datastores, root, _ = ds
    a = step("a")
    fp = fp_of(a, datastores)
    out = root / "azureml" / "fp" / fp / "out"
    out.mkdir(parents=True)
    (out / "part.txt").write_text("planted")
    Store(root).write_record(fp, {"fingerprint": fp, "outputs": {"out": str(out)}})
    assert run([a], datastores, {"a": writes()}) == {"a": "ran"}
    assert (out / "part.txt").read_text() == "result"


def test_a_valid_record_is_reused_cheaply(ds):
    datastores, root, _ = ds
    a = step("a")
    fp = fp_of(a, datastores)
    out = root / "azureml" / "fp" / fp / "out"
    out.mkdir(parents=True)
    (out / "part.txt").write_text("made earlier")
    record_for(Store(root), fp, {"out": ("ds", f"azureml/fp/{fp}/out")})
    assert run([a], datastores, {"a": writes()}) == {"a": "reused at plan"}


# ---- 3. data versions by content ----
def test_data_rewritten_with_its_size_and_mtime_put_back_is_a_new_version(ds):
    datastores, root, _ = ds
    data = root / "data"
    data.mkdir()
    f = data / "x.csv"
    f.write_text("a,b\n1,2\n")
    before = (data_version(f), data_version(data))
    stamp = f.stat()
    f.write_text("a,b\n9,9\n")
    os.utime(f, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # touch -r
    assert f.stat().st_size == stamp.st_size and f.stat().st_mtime_ns == stamp.st_mtime_ns
    assert data_version(f) != before[0] and data_version(data) != before[1]
    # ... and so the step that reads it runs again.
    reader = step("r", inputs=[("raw", "data")])

    def reads(inputs, outputs):
        write(outputs["out"], "part.txt", (Path(inputs["raw"]) / "x.csv").read_bytes())

    assert run([reader], datastores, {"r": reads}) == {"r": "ran"}
    assert run([reader], datastores, {"r": reads}) == {"r": "reused at plan"}
    stamp = f.stat()
    f.write_text("a,b\n7,7\n")
    os.utime(f, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert run([reader], datastores, {"r": reads}) == {"r": "ran"}


def test_data_version_is_cached_by_signature_and_reading_changes_nothing(ds, tmp_path):
    import amlcompile.runtime.digests as digests

    datastores, root, _ = ds
    big = root / "big.bin"
    big.write_bytes(os.urandom(1 << 20))
    old = time.time() - 60
    os.utime(big, (old, old))
    time.sleep(0.01)
    first = data_version(big)
    reads = []
    real = digests.hash_file
    digests.hash_file = lambda p: reads.append(p) or real(p)
    try:
        if big.stat().st_ctime_ns < time.time_ns() - digests.RACY_NS:
            assert data_version(big) == first and reads == []
        big.read_bytes()
        assert data_version(big) == first
    finally:
        digests.hash_file = real


# ---- 4. upstream outputs rewritten after their producer ran ----
def test_consumers_notice_an_upstream_output_rewritten_on_the_datastore(ds):
    datastores, root, _ = ds
    a, b = step("a"), step("b", inputs=[("i", "a", "out")])
    programs = {"a": writes(b"v1"), "b": copies}
    assert run([a, b], datastores, programs) == {"a": "ran", "b": "ran"}
    assert run([a, b], datastores, programs) == {"a": "reused at plan", "b": "reused at plan"}
    fp_a = fp_of(a, datastores)
    part = root / "azureml" / "fp" / fp_a / "out" / "part.txt"
    part.write_bytes(b"v2")  # someone rewrote a's output on the datastore
    states = run([a, b], datastores, programs, run_id="run3")
    # a's record no longer matches its output: a runs again; b waits for a's new output and,
    # since a writes what it wrote before, b's earlier result is still right and is reused.
    assert states == {"a": "ran", "b": "reused"}, states
    assert part.read_bytes() == b"v1"


def test_a_consumer_reruns_when_a_producer_that_always_runs_writes_something_else(ds):
    datastores, root, _ = ds
    a = step("a", allow_reuse=False)
    b = step("b", inputs=[("i", "a", "out")])
    b["inputs"][0]["producer_allow_reuse"] = False
    assert run([a, b], datastores, {"a": writes(b"v1"), "b": copies}) == {"a": "ran", "b": "ran"}
    same = run([a, b], datastores, {"a": writes(b"v1"), "b": copies}, run_id="run2")
    assert same == {"a": "ran", "b": "reused"}, same
    other = run([a, b], datastores, {"a": writes(b"v2"), "b": copies}, run_id="run3")
    assert other == {"a": "ran", "b": "ran"}, other
    fp_b = fp_of(b, datastores, [a])
    assert (root / "azureml/fp" / fp_b / "out/part.txt").read_bytes() == b"copy of v2"


# ---- 5. a dead run does not block the next ----
def this_process() -> dict:
    try:
        from amlcompile.runtime.reuse import this_process
    except ImportError:  # the runtime before issue 16: claims held host and pid only
        return {"host": socket.gethostname(), "pid": os.getpid()}
    return this_process()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_claim_whose_owner_died_on_this_machine_is_taken_over_at_once(tmp_path):
    store = Store(tmp_path)
    store.dir.mkdir(parents=True)
    owner = {**this_process(), "run_id": "killed", "task_id": "t", "pid": dead_pid()}
    store.claim_path("fp").write_bytes(canonical(owner))
    assert store.try_claim("fp", {"run_id": "next", "task_id": "t"}) == (True, None)
    assert store.claim_owner("fp")["run_id"] == "next"
    assert store.claim_owner("fp")["pid"] == os.getpid()
    assert store.claim_owner("fp")["boot_id"] == this_process()["boot_id"]


def test_a_claim_of_a_live_or_remote_owner_is_waited_for_with_a_reason(tmp_path):
    store = Store(tmp_path)
    store.dir.mkdir(parents=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for owner in (
            {**this_process(), "pid": live.pid, "pid_start": None},
            {**this_process(), "pid": dead_pid(), "host": "another-" + socket.gethostname()},
            {**this_process(), "pid": dead_pid(), "boot_id": "an-earlier-boot"},
            {"run_id": "older-claim-without-owner-details"},
        ):
            owner.setdefault("run_id", "r1")
            store.claim_path("fp").write_bytes(canonical(owner))
            claimed, current = store.try_claim("fp", {"run_id": "next", "task_id": "t"})
            assert not claimed and current["run_id"] == owner["run_id"], owner
            assert 0 <= current["heartbeat_age"] < 60
    finally:
        live.kill()
        live.wait()
    from amlcompile.runtime.reusable import _waiting_for

    line = _waiting_for("train", "f" * 64, {**current, "pid": 4242, "host": "w1"})
    assert "run_id 'older-claim-without-owner-details'" in line and "pid 4242" in line
    assert "taken over at" in line and "UTC" in line


def test_a_claim_whose_pid_was_reused_by_another_process_is_taken_over(tmp_path):
    store = Store(tmp_path)
    store.dir.mkdir(parents=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = {**this_process(), "run_id": "r1", "pid": live.pid, "pid_start": 1}
        store.claim_path("fp").write_bytes(canonical(owner))
        assert store.try_claim("fp", {"run_id": "next", "task_id": "t"}) == (True, None)
    finally:
        live.kill()
        live.wait()


def test_fingerprint_inputs_are_content_versions(ds):
    datastores, root, _ = ds
    (root / "d.txt").write_text("x")
    reader = step("r", inputs=[("raw", "d.txt")])
    plan = compute_plan([plan_entry(reader)], datastores, {}, False)
    token = data_version(root / "d.txt", root)
    assert plan["r"]["fingerprint"] == fingerprint("static-r", {}, {"raw": token})
    assert token.startswith("file:") and len(token) == len("file:") + 64


def test_of_many_runs_taking_over_a_dead_claim_at_once_exactly_one_wins(tmp_path):
    import threading

    for attempt in range(20):
        store = Store(tmp_path / str(attempt))
        store.dir.mkdir(parents=True)
        owner = {**this_process(), "run_id": "killed", "task_id": "t", "pid": dead_pid()}
        store.claim_path("fp").write_bytes(canonical(owner))
        results: dict = {}
        barrier = threading.Barrier(6)

        def take(i: int, store=store, results=results, barrier=barrier) -> None:
            barrier.wait()
            results[i] = Store(store.root).try_claim("fp", {"run_id": f"r{i}", "task_id": "t"})

        threads = [threading.Thread(target=take, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [i for i, (won, _) in results.items() if won]
        assert len(winners) == 1, (attempt, results)
        assert store.claim_owner("fp")["run_id"] == f"r{winners[0]}"


def test_a_transfer_never_copies_through_a_link_out_of_the_datastore(ds):
    from amlcompile.runtime.transfer import AmlDataTransferOperator
    from tests.support.reuse_runs import Ti

    datastores, root, outside = ds
    (root / "src").mkdir()
    (root / "src" / "f.txt").write_text("data")
    (root / "dest").symlink_to(outside / "out")
    payload = {
        **step("t", inputs=[("source", "src")]),
        "outputs": [{"name": "destination", "datastore": "ds", "path": "dest/copy"}],
    }
    operator = AmlDataTransferOperator(
        task_id="t", step=payload, datastores=datastores, transfer={}
    )
    plan = compute_plan([plan_entry(payload)], datastores, {}, False)
    before = snapshot(outside)
    with pytest.raises(StepError, match="leads out of the datastore"):
        operator.execute({"params": {}, "ti": Ti(plan, {}), "run_id": "r1"})
    assert snapshot(outside) == before
