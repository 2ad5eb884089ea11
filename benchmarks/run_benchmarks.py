"""Benchmarks: compile, parse, run, fingerprint and memory, each against an alternative.

    python benchmarks/run_benchmarks.py all          # everything, results into docs/benchmarks.md
    python benchmarks/run_benchmarks.py all --quick  # fewer sizes and repetitions (~5 min)
    python benchmarks/run_benchmarks.py compile      # amlcompile build vs the kfp compiler
    python benchmarks/run_benchmarks.py parse        # DagBag + serialization vs floor, dag-factory
    python benchmarks/run_benchmarks.py reuse --steps 1 5 20 50 --repeat 3
    python benchmarks/run_benchmarks.py fingerprint --files 10000 --total-mb 500

Setup (kfp and dag-factory are not dependencies of the project): see docs/benchmarks.md.
Every figure is a ratio of two things measured in the same run on the same machine; each
is the median of --repeat runs, with the spread (min..max) beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"

ONE_TASK_DAG = """\
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

with DAG(dag_id="one_task", schedule=None, catchup=False) as dag:
    PythonOperator(task_id="noop", python_callable=lambda: None)
"""


def chain_pipeline(n: int) -> str:
    lines = [
        "from amlcompile import *",
        "ws = Workspace.from_config()",
        "ds = ws.get_default_datastore()",
        "prev = None",
        "steps = []",
    ]
    lines += [
        f"for i in range({n}):",
        "    out = PipelineData(f'd{i}', datastore=ds)",
        "    args = ['--out', out] + (['--in', prev] if prev is not None else [])",
        "    steps.append(PythonScriptStep('s.py', name=f's{i}', source_directory='src',",
        "        arguments=args, inputs=[prev] if prev is not None else [], outputs=[out]))",
        "    prev = out",
        f"chain_{n} = Pipeline(ws, steps=[steps[-1]])",
    ]
    return "\n".join(lines) + "\n"


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}..{max(values):.2f})"


def bench_reuse(sizes: list[int], repeat: int) -> list[str]:
    from amlcompile.compiler import check
    from amlcompile.local_run import run_compiled

    root = Path(tempfile.mkdtemp(prefix="amlcompile-bench-reuse-"))
    (root / "pyproject.toml").write_text("[project]\nname='bench'\n")
    (root / "src").mkdir()
    (root / "src" / "s.py").write_text("print('step')\n")
    home = root / "home"
    cwd = os.getcwd()
    os.chdir(root)
    rows = []
    try:
        (home / "dags").mkdir(parents=True)
        (home / "dags" / "one_task.py").write_text(ONE_TASK_DAG)
        # Warm the embedded Airflow (database) once, then time the baseline.
        (root / "chain.py").write_text(chain_pipeline(1))
        (compiled,) = check([root / "chain.py"])
        run_compiled(compiled, {}, airflow_home=home)
        baseline = [_run_dag_test(home, "one_task") for _ in range(repeat)]
        for n in sizes:
            (root / "chain.py").write_text(chain_pipeline(n))
            (compiled,) = check([root / "chain.py"])
            first = run_compiled(compiled, {"regenerate_outputs": True}, airflow_home=home)
            assert first.succeeded, first.log_file
            reused = []
            for _ in range(repeat):
                r = run_compiled(compiled, {}, airflow_home=home)
                assert r.succeeded and all(s["state"] == "skipped" for s in r.steps), r.raw
                reused.append(r.raw["test_seconds"])
            ratio = [x / statistics.median(baseline) for x in reused]
            rows.append(
                f"| {n} | {first.raw['test_seconds']:.2f} | {_spread(reused)} |"
                f" {_spread(baseline)} | {_spread(ratio)} |"
            )
            print(rows[-1], flush=True)
    finally:
        os.chdir(cwd)
        shutil.rmtree(root, ignore_errors=True)
    return [
        "## Run: a fully reused chain vs a 1-task DAG",
        "",
        "Wall time of `dag.test()` in the embedded Airflow (SQLite), seconds; median"
        " (min..max). The 1-task DAG is a hand-written PythonOperator no-op. Target: ratio"
        " ≤ 2 at 20 steps.",
        "",
        "| steps | first run | fully reused run | 1-task DAG | ratio |",
        "|---|---|---|---|---|",
        *rows,
    ]


def _run_dag_test(home: Path, dag_id: str) -> float:
    from amlcompile.local_run import _airflow_env

    result = home / "logs" / ".bench.json"
    env = _airflow_env(home, home / "dags")
    subprocess.run(
        [sys.executable, "-m", "amlcompile.embedded", "--dag-id", dag_id, "--result", str(result)],
        env=env,
        check=True,
        capture_output=True,
    )
    raw = json.loads(result.read_text())
    assert raw["state"] == "success", raw
    return raw["test_seconds"]


FINGERPRINT_CHILD = """
import json, sys, time
from pathlib import Path
from amlcompile import snapshot
tree, cache, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
started = time.perf_counter()
if mode == "read":
    for f in snapshot.list_files(tree):
        with open(tree / f, "rb") as fh:
            while fh.read(1 << 20):
                pass
else:
    snapshot.CACHE.load(cache)
    snapshot.take(tree)
    snapshot.CACHE.save(cache)
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def bench_fingerprint(files: int, total_mb: int, repeat: int) -> list[str]:
    root = Path(tempfile.mkdtemp(prefix="amlcompile-bench-fp-"))
    tree = root / "tree"
    size = max(1, total_mb * 1024 * 1024 // files)
    block = os.urandom(1 << 16)
    for i in range(files):
        f = tree / f"d{i % 100:02d}" / f"f{i:05d}.bin"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes((block * (size // len(block) + 1))[: size - 8] + i.to_bytes(8, "big"))

    def child(mode: str, cache: Path) -> float:
        out = subprocess.run(
            [sys.executable, "-c", FINGERPRINT_CHILD, str(tree), str(cache), mode],
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(out.stdout)["seconds"]

    reads, firsts, agains = [], [], []
    try:
        for i in range(repeat):
            cache = root / f"cache-{i}.json"
            reads.append(child("read", cache))
            firsts.append(child("hash", cache))  # empty cache: every file is read and hashed
            agains.append(child("hash", cache))  # unchanged tree, cache from the first pass
    finally:
        shutil.rmtree(root, ignore_errors=True)
    mb = size * files / 1e6
    throughput = [r / f for r, f in zip(reads, firsts, strict=True)]
    speedup = [f / a for f, a in zip(firsts, agains, strict=True)]
    return [
        "## Fingerprint: hashing a source tree",
        "",
        f"{files} files, {mb:.0f} MB in all (page cache warm), seconds; median (min..max)."
        " Targets: first hashing ≥ 80% of the read throughput; re-fingerprint of the unchanged"
        " tree ≥ 10× faster than the first.",
        "",
        "| read every file | first fingerprint | re-fingerprint (cache) |"
        " first vs read throughput | re-fingerprint speed-up |",
        "|---|---|---|---|---|",
        f"| {_spread(reads)} | {_spread(firsts)} | {_spread(agains)} |"
        f" {_spread([t * 100 for t in throughput])} % | {_spread(speedup)}× |",
    ]


def write_doc(sections: list[list[str]]) -> None:
    machine = (
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}"
    )
    text = [
        "# Benchmarks",
        "",
        f"Measured by `python benchmarks/run_benchmarks.py all` on {machine}.",
        "",
    ]
    for s in sections:
        text += s + [""]
    DOC.write_text("\n".join(text))
    print(f"wrote {DOC}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["reuse", "fingerprint", "all"])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 5, 20, 50])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--total-mb", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sections = []
    if args.what in ("fingerprint", "all"):
        sections.append(bench_fingerprint(args.files, args.total_mb, args.repeat))
        print("\n".join(sections[-1]))
    if args.what in ("reuse", "all"):
        sections.append(bench_reuse(args.steps, args.repeat))
    if args.what == "all":
        write_doc(sections)


if __name__ == "__main__":
    main()
