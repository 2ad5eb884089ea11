"""Issue 16 on Azure Blob (Azurite) and, for the record rules, on Azure Files (the File
REST stand-in): records must name the step's own outputs, which must be there and match
their manifest (the ETag listing); consumers of a rewritten upstream output rerun; paths
never resolve out of the container; a dead owner's claim is taken over at once. Object
storage has no links: what is checked is path resolution (`..` in recorded URLs and object
names)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.reuse_runs import copies, plan_entry, run, step, write, writes

pytestmark = pytest.mark.airflow


@pytest.fixture
def blob(azurite):
    from amlcompile.runtime.storage import datastore_root

    container = azurite.create_container()
    datastores = {"ds": {"kind": "azure_blob", "path": container, "conn_id": "azurite"}}
    return datastores, datastore_root(datastores, "ds", "test")


@pytest.fixture(params=["blob", "share"])
def remote(request):
    """A container on Azurite, or a share on the Azure Files stand-in: the record rules hold
    on both kinds of object storage."""
    if request.param == "blob":
        return request.getfixturevalue("blob")
    import uuid

    from amlcompile.runtime.storage import datastore_root

    standin = request.getfixturevalue("fileshare_standin")
    name = standin.create_share(f"s{uuid.uuid4().hex[:12]}")
    datastores = {"ds": {"kind": "azure_file", "path": name, "conn_id": standin.conn_id}}
    return datastores, datastore_root(datastores, "ds", "test")


def fp_of(s: dict, datastores, upstream=()) -> str:
    from amlcompile.runtime.planner import compute_plan

    steps = [*upstream, s]
    return compute_plan([plan_entry(x) for x in steps], datastores, {}, False)[s["name"]][
        "fingerprint"
    ]


@pytest.mark.parametrize("forged", ["no outputs", "the container root", "another prefix"])
def test_a_record_not_naming_the_steps_own_outputs_is_not_reused(remote, forged):
    from amlcompile.runtime.storage import RemoteStore, remove_tree

    datastores, root = remote
    a = step("a")
    assert run([a], datastores, {"a": writes()}) == {"a": "ran"}
    assert run([a], datastores, {"a": writes()}) == {"a": "reused at plan"}
    fp = fp_of(a, datastores)
    store = RemoteStore(root)
    record = json.loads(store.record_path(fp).read_bytes())
    write(str(root / "elsewhere"), "part.txt", b"planted")
    record["outputs"] = {
        "no outputs": {},
        "the container root": {"out": str(root)},
        "another prefix": {"out": str(root / "elsewhere")},
    }[forged]
    record.pop("refs", None)
    store.write_record(fp, record)
    remove_tree(root / "azureml" / "fp" / fp)  # the real output is gone
    assert run([a], datastores, {"a": writes()}, run_id="run2") == {"a": "ran"}


def test_a_record_whose_output_is_gone_or_rewritten_is_not_reused(remote):
    from amlcompile.runtime.storage import remove_tree

    datastores, root = remote
    a = step("a")
    assert run([a], datastores, {"a": writes()}) == {"a": "ran"}
    fp = fp_of(a, datastores)
    write(str(root / "azureml" / "fp" / fp / "out"), "part.txt", b"RESULT")  # same size
    assert run([a], datastores, {"a": writes()}) == {"a": "ran"}
    assert run([a], datastores, {"a": writes()}) == {"a": "reused at plan"}
    remove_tree(root / "azureml" / "fp" / fp / "out")
    assert run([a], datastores, {"a": writes()}) == {"a": "ran"}


def test_consumers_notice_an_upstream_output_rewritten_on_the_container(remote):
    datastores, root = remote
    a, b = step("a"), step("b", inputs=[("i", "a", "out")])
    programs = {"a": writes(b"v1"), "b": copies}
    assert run([a, b], datastores, programs) == {"a": "ran", "b": "ran"}
    assert run([a, b], datastores, programs) == {"a": "reused at plan", "b": "reused at plan"}
    write(str(root / "azureml" / "fp" / fp_of(a, datastores) / "out"), "part.txt", b"v2")
    # On blob storage an output's manifest is its ETag listing: a's rerun writes new blobs
    # (new ETags, even with the same bytes), so b runs again too.
    assert run([a, b], datastores, programs, run_id="run3") == {"a": "ran", "b": "ran"}
    assert run([a, b], datastores, programs, run_id="run4") == {
        "a": "reused at plan",
        "b": "reused at plan",
    }


def test_recorded_urls_never_resolve_out_of_the_container(blob):
    from amlcompile.runtime.reuse import inside
    from amlcompile.runtime.storage import copy_tree, record_roots

    datastores, root = blob
    roots = record_roots(datastores)
    base = str(root).rstrip("/")
    assert inside(f"{base}/azureml/fp/x/out", roots)
    assert not inside(base, roots) and not inside(base + "/", roots)
    assert not inside(f"{base}/azureml/../../other-container/data", roots)
    assert not inside(f"{base}/azureml/./fp", roots)
    # An object whose name climbs (`%2E%2E` is stored as such by the service) is never
    # copied to a local path built from its name.
    write(str(root / "in"), "a.txt", b"fine")
    root.fs.pipe_file(f"{base.split('@', 1)[1]}/in/%2E%2E/x.txt", b"odd but inside")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        copy_tree(root / "in", Path(tmp) / "dst")
        assert (Path(tmp) / "dst" / "a.txt").read_bytes() == b"fine"
        assert not (Path(tmp) / "x.txt").exists()


def test_a_blob_claim_whose_owner_died_on_this_machine_is_taken_over_at_once(blob):
    from amlcompile.runtime.reuse import canonical, this_process
    from amlcompile.runtime.storage import RemoteStore

    _, root = blob
    store = RemoteStore(root)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    owner = {**this_process(), "run_id": "killed", "task_id": "t", "pid": proc.pid}
    store.fs.pipe_file(store._k(store.claim_path("fp")), canonical(owner))
    assert store.try_claim("fp", {"run_id": "next", "task_id": "t"}) == (True, None)
    assert store.claim_owner("fp")["run_id"] == "next"
    store.release("fp")
    assert store.claim_owner("fp") is None
