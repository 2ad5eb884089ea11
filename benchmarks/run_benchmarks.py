"""Benchmarks: compile, parse, run, fingerprint and memory, each against an alternative.

    python benchmarks/run_benchmarks.py all          # everything, results into docs/benchmarks.md
    python benchmarks/run_benchmarks.py all --quick  # 10-1,000 steps, fewer repeats; prints only
    python benchmarks/run_benchmarks.py compile      # amlcompile build vs the kfp compiler, floor
    python benchmarks/run_benchmarks.py compile --sizes 1000 10000 50000 --kfp-max-steps 1000
    python benchmarks/run_benchmarks.py parse        # DagBag + serialization vs floor, dag-factory
    python benchmarks/run_benchmarks.py reuse --steps 1 5 20 50 --repeat 3
    python benchmarks/run_benchmarks.py fingerprint --files 10000 --total-mb 500 100 2000
    python benchmarks/run_benchmarks.py warm-run --repeat 5   # `amlcompile run`, nothing changed

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

from amlcompile.file_digests import RACY_NS

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
FINDINGS = "## Findings"
KFP_PYTHON = REPO / ".venv-kfp" / "bin" / "python"

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


def hand_written_chain(n: int, src: Path, data: Path) -> str:
    """The same chain written by hand: one BashOperator per step running the same script."""
    lines = [
        "from airflow.providers.standard.operators.bash import BashOperator",
        "from airflow.sdk import DAG",
        "",
        f"with DAG(dag_id='hand_{n}', schedule=None, catchup=False):",
        "    prev = None",
        f"    for i in range({n}):",
        f"        cmd = f'mkdir -p {data}/d{{i}} && python {src}/s.py --out {data}/d{{i}}'",
        "        if i:",
        f"            cmd += f' --in {data}/d{{i - 1}}'",
        "        task = BashOperator(task_id=f's{i}', bash_command=cmd)",
        "        if prev is not None:",
        "            prev >> task",
        "        prev = task",
    ]
    return "\n".join(lines) + "\n"


def _spread(values: list[float], digits: int = 2) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f} ({low:.{digits}f}..{high:.{digits}f})"


def bench_reuse(sizes: list[int], repeat: int) -> list[str]:
    from amlcompile.compiler import check
    from amlcompile.console import Console
    from amlcompile.local_run import run_compiled

    quiet = Console(open(os.devnull, "w"), terminal=False)
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
        run_compiled(compiled, {}, airflow_home=home, console=quiet)
        baseline = [_run_dag_test(home, "one_task") for _ in range(repeat)]
        for n in sizes:
            (root / "chain.py").write_text(chain_pipeline(n))
            (home / "dags" / f"hand_{n}.py").write_text(
                hand_written_chain(n, root / "src", root / "hand-data")
            )
            (compiled,) = check([root / "chain.py"])
            firsts, hands = [], []
            for _ in range(repeat):  # first runs: every step computes
                first = run_compiled(
                    compiled, {"regenerate_outputs": True}, airflow_home=home, console=quiet
                )
                assert first.succeeded, first.log_file
                firsts.append(first.raw["test_seconds"])
                hands.append(_run_dag_test(home, f"hand_{n}"))
            reused = []
            for _ in range(repeat):
                # In Airflow (the planner task skips every step), not planned before it.
                r = run_compiled(compiled, {}, airflow_home=home, console=quiet, plan_first=False)
                assert r.succeeded and all(s["state"] == "skipped" for s in r.steps), r.raw
                reused.append(r.raw["test_seconds"])
            ratio = [x / statistics.median(baseline) for x in reused]
            first_ratio = [f / h for f, h in zip(firsts, hands, strict=True)]
            rows.append(
                f"| {n} | {_spread(reused)} | {_spread(baseline)} | {_spread(ratio)} |"
                f" {_spread(firsts)} | {_spread(hands)} | {_spread(first_ratio)} |"
            )
            print(rows[-1], flush=True)
    finally:
        os.chdir(cwd)
        shutil.rmtree(root, ignore_errors=True)
    return [
        "## Run: a fully reused chain vs a 1-task DAG; a first run vs the same steps by hand",
        "",
        "Wall time of `dag.test()` in the embedded Airflow (SQLite), seconds; median"
        f" (min..max) of {repeat}. The 1-task DAG is a hand-written PythonOperator no-op."
        " The hand-written chain runs the same script with the same arguments, one"
        " BashOperator per step, no reuse; the first run is amlcompile's with"
        " `regenerate_outputs` (every step computes and writes its reuse record)."
        " Target: reused run ≤ 2× the 1-task DAG at 20 steps.",
        "",
        "| steps | fully reused run | 1-task DAG | reused ÷ 1-task |"
        " first run | hand-written run | first ÷ hand-written |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]


WARM_PHASES = """
import json, sys, time
t0 = time.perf_counter()
from amlcompile.compiler import check, owner_of, render_files
from amlcompile.console import Console
from amlcompile.local_run import plan_without_airflow, run_dags_folder
from amlcompile.render import writer
t1 = time.perf_counter()
(c,) = check([sys.argv[1]])
t2 = time.perf_counter()
dags = run_dags_folder(c)
files, owned = render_files([c], out_dir=dags)
writer.apply(dags, files, owned, owner_of(c.config))
t3 = time.perf_counter()
result = plan_without_airflow(c, {}, dags, Console(open("/dev/null", "w"), terminal=False))
t4 = time.perf_counter()
assert not isinstance(result, list) and result is not None and not result.airflow, result
print(json.dumps({"imports": t1 - t0, "compile": t2 - t1, "render and write": t3 - t2,
                  "upload check and plan": t4 - t3}))
"""


def bench_warm_run(repeat: int) -> list[str]:
    """`amlcompile run` of the seed example when nothing changed: the whole process, as a
    user starts it, planned without Airflow (default) and with `--airflow` (the run Airflow
    makes of it: every step skipped by its planner), plus where the time goes."""
    from amlcompile.local_run import load_run

    root = Path(tempfile.mkdtemp(prefix="amlcompile-bench-warm-"))
    shutil.copytree(REPO / "examples" / "seed_compare_models", root / "seed")
    (root / "pyproject.toml").write_text("[project]\nname='bench-warm'\n")
    import compile_bench as cb

    env = dict(cb.CHILD_ENV)  # byte-code caches as installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["AMLCOMPILE_TERMINAL"] = "0"

    def wall(*args: str, expect: str | None = None) -> float:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, *args], cwd=root, env=env, capture_output=True, text=True
        )
        took = time.perf_counter() - started
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert expect is None or expect in proc.stdout, proc.stdout[-3000:]
        return took

    run = ["-m", "amlcompile.cli", "run", "seed/pipeline.py"]
    try:
        cold = wall(*run, expect="started in the embedded Airflow")
        warm, in_airflow, phases, child = [], [], [], []
        for _ in range(repeat):
            warm.append(wall(*run, expect="no Airflow run was started"))
            in_airflow.append(wall(*run, "--airflow", expect="started in the embedded Airflow"))
            record = load_run(root / ".amlcompile", "My_Published_Pipeline", "latest")
            child.append(record["timings"])
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", WARM_PHASES, "seed/pipeline.py"],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            last = proc.stdout.strip().splitlines()[-1]  # the script may print before
            phases.append({**json.loads(last), "process": time.perf_counter() - started})
        python = [wall("-c", "pass") for _ in range(repeat)]
        ratio = [a / w for a, w in zip(in_airflow, warm, strict=True)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = [
        f"| `amlcompile run` (default: planned before Airflow, no Airflow run) | {_spread(warm)} |",
        f"| `amlcompile run --airflow` (Airflow run, every step skipped by its planner) |"
        f" {_spread(in_airflow)} |",
        f"| `--airflow` ÷ default | {_spread(ratio)}× |",
        f"| first run of a fresh project (database created, every step computed) | {cold:.2f} |",
        f"| `python -c pass` (the interpreter alone) | {_spread(python)} |",
    ]
    for key in ("imports", "compile", "render and write", "upload check and plan"):
        rows.append(f"| of the default run: {key} | {_spread([p[key] for p in phases])} |")
    for key in child[0]:
        rows.append(
            f"| of the `--airflow` run's child: {key} | {_spread([c[key] for c in child])} |"
        )
    for row in rows:
        print(row, flush=True)
    return [
        "## Run: `amlcompile run` of the seed example when nothing changed",
        "",
        "Wall seconds of the whole `amlcompile run examples/seed_compare_models/pipeline.py`"
        f" process, median (min..max) of {repeat}, byte-code caches on. By default a run in"
        " which every step would be reused is planned with the planner's own code before"
        " Airflow starts and reported without an Airflow run; `--airflow` makes the Airflow"
        " run (import, DAG to the database, the in-process task API, the planner task)."
        " Target: ≤ 2 s.",
        "",
        "| what | seconds |",
        "|---|---|",
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
import json, os, sys, time
from pathlib import Path
from amlcompile import snapshot
tree, cache, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
if mode == "stat":  # listed before the clock starts: the stats alone are timed
    paths = [os.path.join(d, n) for d, _, names in os.walk(tree) for n in names]
started = time.perf_counter()
if mode == "read":
    for f in snapshot.list_files(tree):
        with open(tree / f, "rb") as fh:
            while fh.read(1 << 20):
                pass
elif mode == "stat":  # the least a stat-keyed cache can cost: one stat per file
    for path in paths:
        os.stat(path)
else:
    snapshot.use_cache_dir(cache)
    snapshot.take(tree)
    snapshot.save_caches()
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


BUILD_PIPELINE = """\
from amlcompile import Pipeline, PythonScriptStep, Workspace
ws = Workspace.from_config()
step = PythonScriptStep("train.py", name="train", source_directory={tree!r})
pipeline = Pipeline(ws, steps=[step], name="big_source")
"""


def bench_fingerprint(files: int, sizes_mb: list[int], repeat: int) -> list[str]:
    rows = [_fingerprint_row(files, mb, repeat, build=(i == 0)) for i, mb in enumerate(sizes_mb)]
    return [
        "## Fingerprint: hashing a source tree",
        "",
        f"{files} files of equal size, page cache warm, seconds; median (min..max), each"
        " in a fresh process that loads the caches from disk. Targets: first hashing ≥ 80% of"
        " the read throughput (open + read of every file); re-fingerprint of the unchanged"
        " tree ≥ 10× faster than the first. No stat-keyed cache can cost less than one"
        " stat() per file, so the speed-up can never exceed read / stat (last column): it"
        " grows with the size of the files.",
        "",
        "| tree | read every file | stat every file | first fingerprint |"
        " re-fingerprint (cache) | one file changed | first vs read throughput |"
        " re-fingerprint speed-up | read / stat |",
        "|---|---|---|---|---|---|---|---|---|",
        *(row for row, _ in rows),
        "",
        f"`amlcompile build` of a one-step pipeline whose `source_directory` is the"
        f" {sizes_mb[0]} MB tree (process start, import, fingerprint, writing dags_out),"
        " seconds:",
        "",
        "| first build (copies the snapshot) | rebuild, nothing changed |",
        "|---|---|",
        rows[0][1],
    ]


def _fingerprint_row(files: int, total_mb: int, repeat: int, build: bool) -> tuple[str, str]:
    root = Path(tempfile.mkdtemp(prefix="amlcompile-bench-fp-"))
    tree = root / "tree"
    size = max(1, total_mb * 1024 * 1024 // files)
    block = os.urandom(1 << 16)
    for i in range(files):
        f = tree / f"d{i % 100:02d}" / f"f{i:05d}.bin"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes((block * (size // len(block) + 1))[: size - 8] + i.to_bytes(8, "big"))
    (tree / "train.py").write_text("print('training')\n")
    # Signatures younger than RACY_NS are not cached (a file written twice within one clock
    # tick can keep its signature); source files are older than that when a build starts.
    time.sleep(RACY_NS / 1e9)
    edited = tree / "d00" / "f00000.bin"

    def child(mode: str, cache: Path) -> float:
        out = subprocess.run(
            [sys.executable, "-c", FINGERPRINT_CHILD, str(tree), str(cache), mode],
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(out.stdout)["seconds"]

    def amlcompile_build(project: Path) -> float:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "amlcompile.cli", "build", "p.py", "--out", "dags_out"],
            cwd=project,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started

    reads, stats, firsts, agains, edits, builds, rebuilds = [], [], [], [], [], [], []
    try:
        for i in range(repeat):
            cache = root / f"cache-{i}"
            child("read", cache)  # untimed: some VMs page out idle page cache within seconds
            reads.append(child("read", cache))
            firsts.append(child("hash", cache))  # empty cache: every file is read and hashed
            agains.append(child("hash", cache))  # unchanged tree, cache from the first pass
            stats.append(child("stat", cache))
            edited.write_bytes(edited.read_bytes()[::-1])  # same size, new content
            edits.append(child("hash", cache))  # one file changed: walk, one file read
        for i in range(repeat if build else 0):  # after: copies cause writeback
            project = root / f"project-{i}"
            project.mkdir()
            (project / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
            (project / "p.py").write_text(BUILD_PIPELINE.format(tree=str(tree)))
            builds.append(amlcompile_build(project))
            rebuilds.append(amlcompile_build(project))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    throughput = [r / f * 100 for r, f in zip(reads, firsts, strict=True)]
    row = (
        f"| {size * files / 1e6:.0f} MB | {_spread(reads)} | {_spread(stats, 3)} |"
        f" {_spread(firsts)} | {_spread(agains, 3)} | {_spread(edits, 3)} |"
        f" {_spread(throughput)} % | {_spread(_pairs(firsts, agains))}× |"
        f" {_spread(_pairs(reads, stats))}× |"
    )
    return row, (f"| {_spread(builds)} | {_spread(rebuilds)} |" if build else "")


def _median(values) -> float:
    return statistics.median(values)


def _pairs(a: list[float], b: list[float]) -> list[float]:
    """a[i] / b[i] for the repetitions measured side by side."""
    return [x / y for x, y in zip(a, b, strict=False)]


def bench_graphs(
    sizes,
    repeat,
    repeat_large,
    kfp_python,
    kfp_max,
    factory_max,
    targets,
    parse_too=True,
    shapes=None,
):
    """Compile, parse and memory sections (they share the built DAGs)."""
    import compile_bench as cb
    from graphs import SHAPES, edges

    def reps(n: int) -> int:
        return repeat if n < 1000 else repeat_large

    def parse_reps(n: int) -> int:
        # A small file parses in 0.1-0.3 s and one fork's time differs from the next's by
        # up to 30%: four times the repetitions (cheap) for a median that means something.
        return 4 * repeat if n < 1000 else repeat_large

    root = Path(tempfile.mkdtemp(prefix="amlcompile-bench-graphs-"))
    try:
        shapes = shapes or cb.COMPILE_SHAPES
        res = cb.measure(root, sizes, reps, kfp_python, 1800, kfp_max, print, shapes)
        env = {
            **cb.CHILD_ENV,
            "AIRFLOW_HOME": str(root / "airflow-home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(root / "out"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # 10,000-step files take longer than the default 30 s on a busy 2-core machine.
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "900",
            # dag-factory reports usage over the network unless told not to.
            "AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY": "False",
            "DO_NOT_TRACK": "1",
            "SCARF_NO_ANALYTICS": "1",
        }
        child = Path(__file__).resolve().parent / "parse_child.py"
        parse = {}
        for n in sizes if parse_too else []:
            for shape in SHAPES:  # the data chain is compiled only
                dag = res[shape, n]["dag"]
                v = cb.parse_variants(child, env, dag)
                files = [dag, Path(v["floor"])]
                if n <= factory_max:
                    files.append(Path(v["factory"]))
                m = cb.parse_measure(child, env, parse_reps(n), files)
                parse[shape, n] = [m[str(f)] for f in files]
                print(
                    f"parse {shape} {n}: "
                    + " ".join(str([round(x["seconds"], 3) for x in r]) for r in parse[shape, n]),
                    flush=True,
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)

    compile_rows, parse_rows, memory_rows = [], [], []
    parse_shapes = SHAPES if parse_too else ()
    for n in sizes:
        for shape in shapes:
            r = res[shape, n]
            aml = [t for t, _, _ in r["aml"]]
            kfp = [t for t, _, _ in r["kfp"]]
            aml_wall = _median([w for _, w, _ in r["aml"]])
            kfp_wall = f"{_median([w for _, w, _ in r['kfp']]):.2f}" if kfp else "–"
            speed = _pairs(kfp, aml)
            growth = ""
            if n == 10000 and (shape, 1000) in res:
                small = [t for t, _, _ in res[shape, 1000]["aml"]]
                g = _pairs(aml, small)
                growth = f"{_spread(g)}×"
                targets.append(
                    (
                        f"compile growth {shape} 1,000→10,000 ≤ 10×",
                        _median(g) <= 10,
                        f"{_median(g):.1f}×",
                    )
                )
            if n == 1000 and speed:
                targets.append(
                    (
                        f"compile {shape} 1,000: ≥ 10× faster than kfp",
                        _median(speed) >= 10,
                        f"{_median(speed):.1f}×",
                    )
                )
            compile_rows.append(
                f"| {shape} | {n} | {edges(shape, n)} | {_spread(aml)} |"
                f" {_spread(kfp) if kfp else r['kfp_note']} |"
                f" {_spread(speed) + '×' if speed else ''} | {growth} |"
                f" {aml_wall:.2f} / {kfp_wall} |"
            )
            kfp_mb = [m for _, _, m in r["kfp"]]
            aml_mb = [m for _, _, m in r["aml"]]
            if n == 10000:
                targets.append(
                    (
                        f"peak memory {shape} 10,000: ≤ 300 MB",
                        _median(aml_mb) <= 300,
                        f"{_median(aml_mb):.0f} MB",
                    )
                )
            memory_rows.append(
                f"| {shape} | {n} | {_median(aml_mb):.0f} ({min(aml_mb):.0f}..{max(aml_mb):.0f}) |"
                f" {f'{_median(kfp_mb):.0f}' if kfp_mb else r['kfp_note']} |"
                f" {f'{_median(aml_mb) / _median(kfp_mb):.2f}' if kfp_mb else ''} |"
            )
            if shape not in parse_shapes:
                continue
            gen, floor, *factory = parse[shape, n]
            g = [x["cpu"] for x in gen]
            f = [x["cpu"] for x in floor]
            over = _pairs(g, f)
            cells = f"| {_spread(g)} | {_spread(f)} | {_spread(over)}× |"
            if factory:
                d = [x["cpu"] for x in factory[0]]
                vs = _pairs(d, g)
                cells += f" {_spread(d)} | {_spread(vs)}× |"
                if n == 1000:
                    targets.append(
                        (
                            f"parse {shape} 1,000: ≥ 2× faster than dag-factory",
                            _median(vs) >= 2,
                            f"{_median(vs):.1f}×",
                        )
                    )
            else:
                cells += f" not run above {factory_max} steps | |"
            targets.append(
                (
                    f"parse {shape} {n}: ≤ 1.05× the hand-written floor",
                    _median(over) <= 1.05,
                    f"{_median(over):.2f}×",
                )
            )
            load = _pairs([x["load_cpu"] for x in gen], [x["load_cpu"] for x in floor])
            cells += f" {_spread(load)}× |"
            if n >= 1000:
                targets.append(
                    (
                        f"per-task parse (load) {shape} {n}: ≤ 1.5× the hand-written floor",
                        _median(load) <= 1.5,
                        f"{_median(load):.2f}×",
                    )
                )
            kb = f"{gen[0]['serialized_bytes'] // 1024} / {floor[0]['serialized_bytes'] // 1024}"
            walls = "/".join(f"{_median([x['seconds'] for x in v]):.2f}" for v in parse[shape, n])
            parse_rows.append(f"| {shape} | {n} {cells} {kb} | {walls} |")
    rl = f"{repeat} repetitions below 1,000 steps, {repeat_large} from 1,000"
    parse_rl = f"{4 * repeat} repetitions below 1,000 steps, {repeat_large} from 1,000"
    parse_section = [
        "## Parse: the generated DAG file in Airflow's dag-processor",
        "",
        "CPU seconds per file, as Airflow 3.3.2's dag-processor parses it: the process"
        " pre-imports the Airflow modules the file names, then forks; the fork loads the"
        " file into a `BundleDagBag` and serializes the DAG (`DagSerialization.to_dict`)."
        f" One fork per measurement, median (min..max) of {parse_rl}, files in turn."
        " **Floor**: a hand-written file with the same operators (the bundled"
        " `LocalStepOperator`, `ReusePlanOperator`), the same run-time arguments (`step`,"
        " `steps`, `datastores`, `trigger_rule`) and the same edges, nothing else (no"
        " `doc_md`, descriptions or tags). **dag-factory**: dag-factory"
        f" {_dist_version('dag-factory')} loading the equivalent YAML (same operators and"
        " arguments, `dependencies:`), through a 3-line loader file. Serialized size is"
        " the JSON of the serialized DAG. Targets: ≤ 1.05× the floor; ≥ 2× faster than"
        " dag-factory at 1,000 steps. **Load only** is the CPU time of loading the file into"
        " the DagBag without serializing it: what each task's process pays when it starts"
        " (target ≤ 1.5× the floor from 1,000 steps).",
        "",
        "| shape | steps | generated | floor | generated ÷ floor | dag-factory |"
        " dag-factory ÷ generated | load only: generated ÷ floor |"
        " serialized KB (generated / floor) | wall s (generated/floor/dag-factory) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *parse_rows,
    ]
    return [
        [
            "## Compile: `amlcompile build` vs the Kubeflow Pipelines compiler",
            "",
            "CPU seconds (user + system) per pipeline, one process per compile for both tools"
            " (interpreter start,"
            " imports, defining the pipeline, compiling, writing the output), median (min..max)"
            f" of {rl}; the two tools alternate within each repetition. Same graph for both:"
            " one container/script step per node (`python s.py --i N`), ordered by"
            " `run_after` / `.after()`, every step sharing one 1-file source directory."
            " `aml_chain` is the chain with data: every step on an `AmlCompute` target"
            " (kfp: the same CPU and memory requests and node type), taking a"
            " `PipelineParameter` and reading the `PipelineData` its predecessor wrote (kfp:"
            " a pipeline parameter and an `Output[Dataset]` → `Input[Dataset]`)."
            f" kfp {_kfp_version(kfp_python)}. Targets: ≥ 10× faster than kfp at 1,000 steps;"
            " 10,000 steps ≤ 10× the 1,000-step time.",
            "",
            "| shape | steps | edges | amlcompile build | kfp compile | kfp ÷ amlcompile |"
            " 10,000 ÷ 1,000 | wall s (amlcompile / kfp) |",
            "|---|---|---|---|---|---|---|---|",
            *compile_rows,
        ],
        *([parse_section] if parse_too else []),
        [
            "## Memory: peak resident memory of `amlcompile build`",
            "",
            "Peak RSS (MB) of the compile processes above (`wait4`), median (min..max)."
            " Target: ≤ 300 MB at 10,000 steps.",
            "",
            "| shape | steps | amlcompile build | kfp compile | amlcompile ÷ kfp |",
            "|---|---|---|---|---|",
            *memory_rows,
        ],
    ]


def bench_dag_size(sizes: list[int], targets) -> list[str]:
    """Bytes per step of the generated DAG file for issue 18's AmlCompute chain."""
    import dag_size

    rows = []
    with tempfile.TemporaryDirectory(prefix="amlcompile-dag-size-") as folder:
        for n in sizes:
            size = dag_size.build(Path(folder) / str(n), n).stat().st_size
            rows.append(f"| {n} | {size:,} | {size / n:.0f} |")
            if n >= 1000:
                targets.append(
                    (
                        f"DAG file, aml_chain {n:,}: ≤ 1 KB per step",
                        size / n <= 1024,
                        f"{size / n:.0f} B",
                    )
                )
    return [
        "## DAG file size",
        "",
        "The generated file of `aml_chain` (every step on an `AmlCompute` target, a"
        " `PipelineParameter` and the `PipelineData` of the step before;"
        " `benchmarks/dag_size.py`). Target: ≤ 1 KB per step.",
        "",
        "| steps | bytes | bytes per step |",
        "|---|---|---|",
        *rows,
    ]


def bench_growth(sizes: list[int], targets) -> list[str]:
    """Linear growth: `aml_chain` (the heaviest shape per step) built at each size, one
    process each, CPU seconds and peak RSS, each size against the first."""
    import compile_bench as cb

    rows, first = [], None
    with tempfile.TemporaryDirectory(prefix="amlcompile-bench-growth-") as tmp:
        root = Path(tmp)
        files = cb.make_project(root, sizes, shapes=("aml_chain",))
        for n in sizes:
            cpu, wall, mb = cb.timed(
                cb.amlcompile_argv(files["aml_chain", n], root / "out" / str(n)), root, 3600
            )
            shutil.rmtree(root / "out" / str(n))
            first = first or (n, cpu, mb)
            k = n / first[0]
            rows.append(
                f"| {n:,} | {cpu:.2f} | {wall:.2f} | {mb:.0f} | {k:.0f}× |"
                f" {cpu / first[1]:.2f}× | {mb / first[2]:.2f}× |"
            )
            if n != first[0]:
                for what, ratio in (("CPU", cpu / first[1]), ("peak memory", mb / first[2])):
                    targets.append(
                        (
                            f"growth aml_chain {first[0]:,}→{n:,} ({what}): linear,"
                            f" ≤ 1.1 × {k:.0f}×",
                            ratio <= 1.1 * k,
                            f"{ratio:.2f}×",
                        )
                    )
    return [
        f"## Growth: {sizes[0]:,} to {sizes[-1]:,} steps",
        "",
        "`amlcompile build` of `aml_chain` (every step on an `AmlCompute` target with a"
        " `PipelineParameter` and the `PipelineData` of the step before), one process per"
        " size, one run each: CPU seconds (user + system), wall seconds, peak RSS."
        " Target: growth linear in the steps (each ratio ≤ 1.1 × the ratio of steps).",
        "",
        "| steps | CPU s | wall s | peak MB | steps ÷ first | CPU ÷ first | memory ÷ first |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]


def bench_source_tree(files: int, repeat: int, targets) -> list[str]:
    """A step whose source_directory holds `files` files: the first build (hash, snapshot,
    write) against copying the same tree (shutil.copytree), and a rebuild with no change."""
    import snapshot_write as sw

    first, again, copy = [], [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="amlcompile-bench-tree-") as tmp:
            root = Path(tmp) / "p"
            root.mkdir()
            sw.make_project(root, files, 1000)
            os.sync()
            start = time.perf_counter()
            shutil.copytree(root / "src", Path(tmp) / "copy")
            os.sync()  # the copy's data on disk, as the build's snapshot is
            copy.append(time.perf_counter() - start)
            first.append(sw.build(root)[0])
            again.append(sw.build(root)[0])
    ratio = _pairs(first, copy)
    targets.append(
        (
            f"first build of a {files:,}-file source folder: ≤ 3× copying it",
            _median(ratio) <= 3,
            f"{_median(ratio):.1f}×",
        )
    )
    return [
        "## Source folders: a step with many files",
        "",
        f"Wall seconds, median (min..max) of {repeat}: `amlcompile build` in a fresh process of"
        f" a one-step pipeline whose `source_directory` holds {files:,} files of 1 kB (hash,"
        " snapshot, write, sync; `benchmarks/snapshot_write.py`), against copying that folder"
        " with `shutil.copytree` and syncing; then the same build again with nothing changed."
        " Target: first build ≤ 3× the copy.",
        "",
        "| first build | copy + sync | first build ÷ copy | rebuild, nothing changed |",
        "|---|---|---|---|",
        f"| {_spread(first)} | {_spread(copy)} | {_spread(ratio)}× | {_spread(again)} |",
    ]


def bench_parallel(files: int) -> list[str]:
    """ParallelRunStep against a hand-written mapped task (benchmarks/prs_bench.py)."""
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve().parent / "prs_bench.py"),
            "--files",
            str(files),
            "--mini-batch",
            "10",
            "--processes",
            "2",
            "--add",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-3000:])
    out = proc.stdout
    r = json.loads(out[out.rindex("\n{") + 1 :] if "\n{" in out else out)
    rows = []
    for label, key in (
        ("amlcompile, first run", "amlcompile_first_run"),
        ("hand-written mapped task (no reuse)", "hand_written_mapped_task"),
        ("amlcompile, after adding 5 files", "amlcompile_after_adding_5_files"),
    ):
        m = r[key]
        other = sum(m["other_tasks_s"].values())
        rows.append(
            f"| {label} | {m['mapped_instances']} | {m['mapped_task_s_total']:.2f} |"
            f" {m['per_mini_batch_ms']:.0f} | {other:.2f} | {m['wall_s']:.1f} |"
        )
    u = r["amlcompile_unchanged"]
    rows.append(
        f"| amlcompile, nothing changed | 0 | – | – | – | {u['wall_s']:.2f}"
        f" ({'Airflow started' if u['airflow_started'] else 'no Airflow run'}) |"
    )
    return [
        "## ParallelRunStep: per mini-batch, against a hand-written mapped task",
        "",
        f"{r['files']:,} files of a few bytes, `mini_batch_size={r['mini_batch_size']}`"
        f" ({r['mini_batches']} mini-batches), a trivial `run()`, in one embedded Airflow"
        " (`dag.test()`, task instances one after another): the compiled step (split, one"
        f" mapped instance per worker process ({r['processes']}), each calling `init()` once"
        " and `run()` per mini-batch in a subprocess, a gathering task with `append_row` and"
        " reuse records) against what an Airflow engineer writes without reuse (a task that"
        " chunks the files, one mapped instance per mini-batch, a task that concatenates)."
        " Then 5 files more (reuse per mini-batch) and nothing changed. Seconds are task"
        " durations as Airflow records them; wall includes compiling and starting Airflow."
        " `benchmarks/prs_bench.py`.",
        "",
        "| run | mapped instances | mapped tasks, s | per mini-batch, ms |"
        " other tasks, s | wall, s |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


def bench_floor(repeat: int) -> list[str]:
    """Interpreter start and imports: what every build costs before its first step."""
    import compile_bench as cb

    res = cb.floor(repeat)
    rows = [
        f"| {what} | {_spread([c for c, _, _ in r])} | {_spread([w for _, w, _ in r])} |"
        f" {_median([m for _, _, m in r]):.0f} |"
        for what, r in res.items()
    ]
    return [
        "## Floor: starting Python and importing amlcompile",
        "",
        "One process each (`python -c ...`), CPU seconds (user + system), wall seconds and"
        f" peak RSS, median (min..max) of {repeat}: the fixed cost in every compile figure"
        " above. `import amlcompile` is what a pipeline file's `from amlcompile import *` and"
        " the CLI load.",
        "",
        "| process | CPU s | wall s | peak MB |",
        "|---|---|---|---|",
        *rows,
    ]


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "(not installed)"


def _kfp_version(kfp_python: str | None) -> str:
    if not kfp_python:
        return "(not installed)"
    out = subprocess.run(
        [kfp_python, "-c", "import kfp; print(kfp.__version__)"], capture_output=True, text=True
    )
    return out.stdout.strip() or "(unknown version)"


def targets_section(targets: list[tuple[str, bool, str]]) -> list[str]:
    return [
        "## Targets",
        "",
        "| target | measured (median) | |",
        "|---|---|---|",
        *[f"| {name} | {value} | {'met' if ok else '**missed**'} |" for name, ok, value in targets],
    ]


def _commit() -> str:
    """The measured code: its commit, marked when the working tree differs from it."""
    repo = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{' with uncommitted changes' if dirty else ''}"


def write_doc(sections: list[list[str]], elapsed: float, load: float) -> None:
    machine = (
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')},"
        f" commit {_commit()}"
    )
    text = [
        "# Benchmarks",
        "",
        f"Measured by `python benchmarks/run_benchmarks.py {' '.join(sys.argv[1:])}` on"
        f" {machine} (took {elapsed / 60:.0f} min; load average {load:.2f} at the start)."
        " The tables below are rewritten by each run; the findings at the end are written by"
        " hand.",
        "",
        "Setup, once, from the repository root (kfp and dag-factory are benchmark-only, pinned"
        " in `benchmarks/requirements.txt`, never in the project's extras):",
        "",
        "```",
        ".venv/bin/pip install -r benchmarks/requirements.txt -c constraints/constraints-3.11.txt",
        "python3.11 -m venv .venv-kfp && .venv-kfp/bin/pip install kfp==2.17.0",
        ".venv/bin/python benchmarks/run_benchmarks.py all  # ~45 min on 2 cores",
        ".venv/bin/python benchmarks/run_benchmarks.py all --quick  # prints only, ~8 min",
        "```",
        "",
        "kfp cannot share the project venv (it pins protobuf 6; Airflow's constraints pin 7),"
        " so it runs from `.venv-kfp` by subprocess (`--kfp-python` to point elsewhere)."
        " `compile` and `parse` run alone too; `--help` lists the knobs.",
        "",
    ]
    for s in sections:
        text += s + [""]
    old = DOC.read_text() if DOC.exists() else ""
    if FINDINGS in old:  # the hand-written analysis below the tables is kept
        text.append(old[old.index(FINDINGS) :].rstrip() + "\n")
    DOC.write_text("\n".join(text))
    print(f"wrote {DOC}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "what",
        choices=[
            *("compile", "parse", "growth", "size", "reuse", "fingerprint", "warm-run"),
            *("parallel", "all"),
        ],
        help="compile and parse run together (parse reads the DAGs compile builds)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100, 1000, 10000])
    parser.add_argument(
        "--growth-sizes", type=int, nargs="+", default=[10000, 50000], help="aml_chain, once each"
    )
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 5, 20, 50])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--prs-files", type=int, default=1000, help="ParallelRunStep input files")
    parser.add_argument("--total-mb", type=int, nargs="+", default=[500, 100, 2000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--repeat-large", type=int, default=2, help="repetitions from 1,000 steps")
    parser.add_argument(
        "--repeat-run",
        type=int,
        default=2,
        help="repetitions of the run and source-tree figures (each takes seconds to minutes)",
    )
    parser.add_argument("--kfp-python", default=str(KFP_PYTHON), help="python of the kfp venv")
    parser.add_argument("--kfp-max-steps", type=int, default=1000)
    parser.add_argument("--factory-max-steps", type=int, default=1000)
    parser.add_argument(
        "--compile-only", action="store_true", help="compile, memory and floor; no parse"
    )
    parser.add_argument("--shapes", nargs="+", help="compile only these (with --compile-only)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.steps, args.growth_sizes = [1, 10, 100, 1000], [1, 5, 20], [1000, 5000]
        args.files, args.total_mb, args.prs_files = 2000, [100], 200
        args.repeat, args.repeat_large, args.repeat_run = 2, 1, 2
    kfp_python = args.kfp_python if Path(args.kfp_python).exists() else None
    if kfp_python is None:
        print(f"warning: no kfp venv at {args.kfp_python}; see docs/benchmarks.md", file=sys.stderr)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sections, targets = [], []
    started, load = time.perf_counter(), os.getloadavg()[0]
    if args.what in ("compile", "parse", "all"):
        sections += bench_graphs(
            args.sizes,
            args.repeat,
            args.repeat_large,
            kfp_python,
            args.kfp_max_steps,
            args.factory_max_steps,
            targets,
            parse_too=not args.compile_only,
            shapes=tuple(args.shapes) if args.compile_only and args.shapes else None,
        )
    if args.what in ("compile", "parse", "all"):
        sections.append(bench_floor(max(args.repeat, 5)))
    if args.what in ("growth", "all"):
        sections.append(bench_growth(args.growth_sizes, targets))
    if args.what in ("size", "all"):
        sections.append(bench_dag_size([s for s in args.sizes if s >= 100], targets))
    if args.what in ("fingerprint", "all"):
        sections.append(bench_fingerprint(args.files, args.total_mb, args.repeat_run))
        sections.append(bench_source_tree(args.files, args.repeat_run, targets))
    if args.what in ("reuse", "all"):
        sections.append(bench_reuse(args.steps, args.repeat_run))
    if args.what in ("warm-run", "all"):
        sections.append(bench_warm_run(args.repeat_run))
    if args.what in ("parallel", "all"):
        sections.append(bench_parallel(args.prs_files))
    if targets:
        sections.insert(0, targets_section(targets))
    for s in sections:
        print("\n".join(s) + "\n")
    elapsed = time.perf_counter() - started
    print(f"took {elapsed:.0f} s")
    if args.what == "all" and not args.quick:
        write_doc(sections, elapsed, load)


if __name__ == "__main__":
    main()
