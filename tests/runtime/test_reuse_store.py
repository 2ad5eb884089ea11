"""Reuse records and claims on a datastore folder; the canonical encoding of fingerprints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from hypothesis import given
from hypothesis import strategies as st

from amlcompile.runtime.reuse import Store, canonical, data_version, digest, fingerprint

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_key_order_does_not_matter(value):
    reordered = dict(reversed(list(value.items())))
    assert canonical(value) == canonical(reordered)
    assert json.loads(canonical(value)) == value


def test_types_are_kept_apart():
    """A parameter changed from 1 to True or 1.0 or "1" is a different run."""
    encodings = {canonical(v) for v in (1, True, 1.0, "1", None, [1], {"1": 1})}
    assert len(encodings) == 7


def test_fingerprints_are_the_same_in_other_processes():
    values = [{"b": [1, 2.5, "é"], "a": None, "t": True}, "x" * 100, [{"k": {"z": 1, "a": 0}}]]
    here = [digest(v) for v in values] + [fingerprint("s", {"n": 1}, {"in": "file:1:2"})]
    code = (
        "import json,sys\nfrom amlcompile.runtime.reuse import digest, fingerprint\n"
        f"values = json.loads({json.dumps(json.dumps(values))})\n"
        "print(json.dumps([digest(v) for v in values] + "
        "[fingerprint('s', {'n': 1}, {'in': 'file:1:2'})]))\n"
    )
    for seed in ("0", "1", "4242"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
        )
        assert json.loads(out.stdout) == here


def test_record_is_ignored_when_corrupt_or_outputs_gone(tmp_path, caplog):
    store = Store(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    store.write_record("f1", {"fingerprint": "f1", "outputs": {"o": str(out)}})
    assert store.read_record("f1")["outputs"] == {"o": str(out)}
    store.record_path("f2").write_text('{"fingerprint": "f2", "outp')  # truncated
    assert store.read_record("f2") is None
    store.write_record("f3", {"fingerprint": "f3", "outputs": {"o": str(tmp_path / "gone")}})
    assert store.read_record("f3") is None
    store.write_record("f4", {"fingerprint": "other", "outputs": {}})
    assert store.read_record("f4") is None
    assert not list(store.dir.glob("*.tmp"))


def test_claims_are_exclusive_and_stale_ones_are_taken_over(tmp_path):
    store = Store(tmp_path)
    first = {"run_id": "r1", "task_id": "t"}
    second = {"run_id": "r2", "task_id": "t"}
    assert store.try_claim("fp", first) == (True, None)
    assert store.try_claim("fp", first)[0], "the owner's own retry keeps its claim"
    claimed, owner = store.try_claim("fp", second)
    assert not claimed and owner["run_id"] == "r1"
    old = time.time() - 3600
    os.utime(store.claim_path("fp"), (old, old))  # r1's worker died: no heartbeat
    assert store.try_claim("fp", second) == (True, None)
    assert store.claim_owner("fp")["run_id"] == "r2"
    store.release("fp")
    assert not store.claim_path("fp").exists()


def test_data_version_changes_with_content_and_not_with_reading(tmp_path):
    f = tmp_path / "d" / "x.txt"
    f.parent.mkdir()
    f.write_text("a")
    before = (data_version(f), data_version(f.parent))
    f.read_text()
    assert (data_version(f), data_version(f.parent)) == before
    f.write_text("ab")
    assert data_version(f) != before[0] and data_version(f.parent) != before[1]
    assert data_version(tmp_path / "missing") == "missing"
