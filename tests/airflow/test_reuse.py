"""Reuse on a real Airflow: exactly the affected steps rerun, failures never become reusable,
and two runs that need the same result compute it once."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from amlcompile.compiler import check
from amlcompile.local_run import run_compiled

PIPELINE = """\
import types
from amlcompile import *

ws = Workspace.from_config()
ds = ws.get_default_datastore()
raw = DataReference(ds, "raw", "inputs/raw.txt")
x = PipelineData("x", datastore=ds)
y = PipelineData("y", datastore=ds)
image = types.SimpleNamespace(environment=types.SimpleNamespace(
    docker=types.SimpleNamespace(base_image="IMAGE")))
a = PythonScriptStep("a.py", name="a", source_directory="src_a", hash_paths=["../shared.cfg"],
                     arguments=["--in", raw, "--out", x, "--k", "K"], inputs=[raw], outputs=[x],
                     runconfig=image, compute_target="cluster")
b = PythonScriptStep("b.py", name="b", source_directory="src_b", inputs=[x], outputs=[y],
                     arguments=["--in", x, "--out", y, "--n", PipelineParameter("n", 1)])
c = PythonScriptStep("c.py", name="c", source_directory="src_c", inputs=[y],
                     arguments=["--in", y])
d = PythonScriptStep("d.py", name="d", source_directory="src_d")
mutations = Pipeline(ws, steps=[c, d])
"""

COPY = """\
import argparse, os, shutil, sys
args, rest = argparse.ArgumentParser().parse_known_args()
argv = sys.argv[1:]
src = argv[argv.index("--in") + 1]
if "--out" in argv:
    out = argv[argv.index("--out") + 1]
    if os.path.isdir(src):
        shutil.copytree(src, out, dirs_exist_ok=True)
    else:
        shutil.copy(src, os.path.join(out, "data.txt"))
print("ran", os.path.basename(sys.argv[0]))
"""


def write_project(project, image="img:1", k="1", max_nodes=4):
    project.write(
        "amlcompile.toml",
        f"""
[compute.cluster]
kind = "amlcompute"
vm_size = "STANDARD_D2_V2"
max_nodes = {max_nodes}
""",
    )
    project.write("pipe.py", PIPELINE.replace("IMAGE", image).replace('"K"', repr(k)))


@pytest.fixture
def mutation_project(project):
    write_project(project)
    for name in ("a", "b", "c"):
        project.write(f"src_{name}/{name}.py", COPY)
    project.write("src_a/helper.py", "VALUE = 1\n")
    project.write("src_a/notes.txt", "ignored by .amlignore\n")
    project.write("src_a/.amlignore", "notes.txt\n")
    project.write("src_d/d.py", "print('ran d.py')\n")
    project.write("shared.cfg", "threshold = 1\n")
    project.write(".amlcompile/datastores/workspaceblobstore/inputs/raw.txt", "hello\n")
    return project


def ran(project, conf=None) -> set[str]:
    (compiled,) = check([project.root / "pipe.py"])
    result = run_compiled(
        compiled, conf or {}, force_local=True, airflow_home=project.root / "home"
    )
    assert result.succeeded, result.log_file.read_text()[-3000:]
    states = {s["task_id"]: s["state"] for s in result.steps}
    assert set(states.values()) <= {"success", "skipped"}, states
    return {name for name, state in states.items() if state == "success"}


def append(path: Path, text: str) -> None:
    with open(path, "a") as fh:
        fh.write(text)


@pytest.mark.airflow
def test_mutation_matrix(mutation_project):
    p = mutation_project
    root = p.root
    assert ran(p) == {"a", "b", "c", "d"}
    assert ran(p) == set(), "an unchanged pipeline reuses everything"
    steps = [
        ("a byte of the script", lambda: append(root / "src_a/a.py", "#"), {"a", "b", "c"}),
        (
            "another file under source_directory",
            lambda: append(root / "src_a/helper.py", "#"),
            {"a", "b", "c"},
        ),
        ("a hash_paths file", lambda: append(root / "shared.cfg", "#"), {"a", "b", "c"}),
        ("an argument", lambda: write_project(p, k="2"), {"a", "b", "c"}),
        ("the image", lambda: write_project(p, k="2", image="img:2"), {"a", "b", "c"}),
        (
            "an input file's content",
            lambda: append(root / ".amlcompile/datastores/workspaceblobstore/inputs/raw.txt", "!"),
            {"a", "b", "c"},
        ),
        ("an upstream step's code", lambda: append(root / "src_b/b.py", "#"), {"b", "c"}),
        ("a file excluded by .amlignore", lambda: append(root / "src_a/notes.txt", "x"), set()),
        (
            "a scheduling-only knob (max_nodes)",
            lambda: write_project(p, k="2", image="img:2", max_nodes=8),
            set(),
        ),
    ]
    for what, mutate, expected in steps:
        mutate()
        assert ran(p) == expected, what
    assert ran(p, {"n": 2}) == {"b", "c"}, "a parameter's value at trigger"
    assert ran(p, {"n": 2}) == set()
    assert ran(p, {"n": 2, "regenerate_outputs": True}) == {"a", "b", "c", "d"}


@pytest.mark.airflow
def test_killed_step_leaves_no_record(mutation_project):
    p = mutation_project
    p.write(
        "src_c/c.py",
        """\
import os, signal, sys
if os.path.exists(os.environ["KILL_MARKER"]):
    print("killing myself")
    os.kill(os.getpid(), signal.SIGKILL)
print("ran c.py")
""",
    )
    marker = p.root / "kill-c"
    marker.write_text("")
    os.environ["KILL_MARKER"] = str(marker)
    try:
        (compiled,) = check([p.root / "pipe.py"])
        first = run_compiled(compiled, {}, force_local=True, airflow_home=p.root / "home")
        states = {s["task_id"]: s["state"] for s in first.steps}
        assert states["c"] == "failed" and states["b"] == "success"
        reuse_dir = p.root / ".amlcompile/datastores/workspaceblobstore/azureml/_reuse"
        assert not list(reuse_dir.glob("*.claim")), "a failed step releases its claim"
        records = len(list(reuse_dir.glob("*.json")))
        assert records == 3  # a, b, d: never c
        marker.unlink()
        assert ran(p) == {"c"}
        assert ran(p) == set()
    finally:
        del os.environ["KILL_MARKER"]


@pytest.mark.airflow
def test_two_runs_at_once_compute_each_step_once(mutation_project, monkeypatch):
    p = mutation_project
    log = p.root / "computed.log"
    p.write(
        "src_b/b.py",
        COPY
        + f"""
import time
with open({str(log)!r}, "a") as fh:
    fh.write("b\\n")
time.sleep(6)
""",
    )
    monkeypatch.setenv("AMLCOMPILE_REUSE_POKE_SECONDS", "2")
    (compiled,) = check([p.root / "pipe.py"])
    results = {}

    def one(name):
        results[name] = run_compiled(
            compiled, {}, force_local=True, airflow_home=p.root / f"home-{name}"
        )

    threads = [threading.Thread(target=one, args=(n,)) for n in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.succeeded for r in results.values()), [r.raw for r in results.values()]
    assert log.read_text().splitlines() == ["b"], "b was computed once"
    states = sorted(
        next(s["state"] for s in r.steps if s["task_id"] == "b") for r in results.values()
    )
    assert states == ["skipped", "success"]


@pytest.mark.airflow
def test_a_run_killed_whole_does_not_hold_the_next_one(mutation_project):
    """Issue 16: `kill -9` of a whole `amlcompile run` while b computes left b's claim behind,
    and the next run waited five minutes for it to go stale. The claim names its owner's
    host, boot and process: that process is gone, so the next run takes the claim at once."""
    import signal
    import subprocess
    import sys
    import time

    p = mutation_project
    started = p.root / "b-started"
    p.write(
        "src_b/b.py",
        COPY
        + f"""
import os, time
if not os.path.exists({str(started)!r}):
    open({str(started)!r}, "w").close()
    time.sleep(600)
""",
    )
    reuse_dir = p.root / ".amlcompile/datastores/workspaceblobstore/azureml/_reuse"
    first = subprocess.Popen(
        [sys.executable, "-m", "amlcompile.cli", "run", "pipe.py", "--local"],
        cwd=p.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 400
        while not (started.exists() and list(reuse_dir.glob("*.claim"))):
            assert first.poll() is None, "the first run ended before b started"
            assert time.monotonic() < deadline, "b never started"
            time.sleep(1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the whole run: CLI, Airflow, task, program
        first.wait()
    assert list(reuse_dir.glob("*.claim")), "the killed run's claim is left behind"
    begun = time.monotonic()
    assert "b" in ran(p)
    took = time.monotonic() - begun
    print(f"the run after the killed one took {took:.0f} s")
    assert took < 200, f"the next run took {took:.0f} s: it waited for the dead run's claim"
    assert not list(reuse_dir.glob("*.claim"))
