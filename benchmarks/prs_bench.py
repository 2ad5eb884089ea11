"""ParallelRunStep: per-mini-batch cost against a hand-written mapped task, and the cost of an
incremental re-run (docs/parallel-run.md).

    PYTHONPATH=. .venv/bin/python benchmarks/prs_bench.py [--files 200] [--mini-batch 10]
        [--processes 2] [--add 5]

Both DAGs run in the same embedded Airflow (`dag.test()`, SQLite, one process: task instances
run one after the other), on the same files and the same entry script (a trivial `run()`, so
what is measured is the machinery):

- amlcompile: the compiled ParallelRunStep (split, one mapped instance per worker process,
  each running init() once and run() per mini-batch in a subprocess, the gathering task with
  append_row and the reuse records), started with `amlcompile run --local`'s code;
- hand-written: what an Airflow engineer writes without reuse: a @task that lists and chunks
  the files, `score.expand(batch=...)` with one mapped instance per mini-batch calling
  init() and run() in the task's own process, a @task that concatenates the rows.

Then: the same pipeline with `--add` files more (reuse per mini-batch), and unchanged (the
whole step reused before Airflow starts). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PIPELINE = """\
from azureml.core import Workspace, Dataset, Environment
from azureml.pipeline.core import Pipeline, PipelineData
from azureml.pipeline.steps import ParallelRunStep, ParallelRunConfig

ws = Workspace.from_config()
ds = ws.get_default_datastore()
files = Dataset.File.from_files(path=(ds, "inputs/files"))
out = PipelineData("scores", datastore=ds)
config = ParallelRunConfig(
    source_directory="scripts", entry_script="score.py", mini_batch_size={size},
    error_threshold=-1, output_action="append_row", environment=Environment("prs"),
    compute_target="local", node_count=1, process_count_per_node={processes},
)
step = ParallelRunStep(name="score", parallel_run_config=config,
                       inputs=[files.as_named_input("files")], output=out)
prs_bench = Pipeline(ws, steps=[step])
"""

SCORE = """\
import os

def init():
    pass

def run(mini_batch):
    return [f"{os.path.basename(p)} {open(p).read()}" for p in mini_batch]
"""

HAND = """\
import glob, importlib.util, os
from airflow.sdk import DAG, task

FOLDER = {folder!r}
SCRIPT = {script!r}
OUT = {out!r}

with DAG("hand_prs", schedule=None, catchup=False) as dag:
    @task
    def split():
        files = sorted(glob.glob(os.path.join(FOLDER, "*")))
        return [files[i : i + {size}] for i in range(0, len(files), {size})]

    @task
    def score(batch):
        spec = importlib.util.spec_from_file_location("score", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.init()
        return module.run(batch)

    @task
    def gather(results):
        with open(OUT, "w") as fh:
            for rows in results:
                fh.writelines(row + "\\n" for row in rows)

    gather(score.expand(batch=split()))
"""

MEASURE_HAND = """\
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
from airflow.models import TaskInstance
from airflow.utils.session import create_session
bag = DagBag(dag_folder={dags!r})
dag = bag.dags["hand_prs"]
started = time.monotonic()
run = dag.test()
wall = time.monotonic() - started
with create_session() as session:
    tis = session.query(TaskInstance).filter(
        TaskInstance.dag_id == "hand_prs", TaskInstance.run_id == run.run_id
    ).all()
    durations = {{}}
    for ti in tis:
        durations.setdefault(ti.task_id, []).append(ti.duration or 0.0)
print(json.dumps({{"wall": wall, "state": str(run.state), "durations": durations}}))
"""


def write_files(folder: Path, start: int, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        (folder / f"f{i:05d}.txt").write_text(str(i))


def ours(root: Path, home: Path) -> dict:
    from amlcompile.compiler import check
    from amlcompile.console import Console
    from amlcompile.local_run import run_compiled

    (compiled,) = check([root / "pipe.py"])
    quiet = Console(open("/dev/null", "w"), terminal=False)
    started = time.monotonic()
    result = run_compiled(compiled, {}, force_local=True, airflow_home=home, console=quiet)
    wall = time.monotonic() - started
    durations: dict[str, list[float]] = {}
    for s in result.steps:
        durations.setdefault(s["task_id"].partition("[")[0], []).append(s["duration"] or 0.0)
    return {"wall": wall, "state": result.state, "airflow": result.airflow, "durations": durations}


def hand(root: Path, home: Path, size: int) -> dict:
    from amlcompile.local_run import _airflow_env

    dags = root / "hand_dags"
    dags.mkdir(exist_ok=True)
    store = root / ".amlcompile/datastores/workspaceblobstore/inputs/files"
    (dags / "hand_prs.py").write_text(
        HAND.format(
            folder=str(store),
            script=str(root / "scripts/score.py"),
            out=str(root / "hand_out.txt"),
            size=size,
        )
    )
    env = _airflow_env(home, dags)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MEASURE_HAND.format(dags=str(dags)))],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summary(m: dict, mapped: str, batches: int) -> dict:
    instances = m["durations"].get(mapped, [])
    return {
        "wall_s": round(m["wall"], 2),
        "mapped_instances": len(instances),
        "mapped_task_s_total": round(sum(instances), 2),
        "per_mini_batch_ms": round(1000 * sum(instances) / max(1, batches), 1),
        "other_tasks_s": {k: round(sum(v), 2) for k, v in m["durations"].items() if k != mapped},
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--mini-batch", type=int, default=10)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--add", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prs-bench-") as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text("[project]\nname = 'prs-bench'\n")
        (root / "pipe.py").write_text(
            PIPELINE.format(size=args.mini_batch, processes=args.processes)
        )
        (root / "scripts").mkdir()
        (root / "scripts/score.py").write_text(SCORE)
        store = root / ".amlcompile/datastores/workspaceblobstore/inputs/files"
        write_files(store, 0, args.files)
        home = root / "home"
        import os

        os.chdir(root)
        batches = -(-args.files // args.mini_batch)
        first = ours(root, home)
        baseline = hand(root, home, args.mini_batch)
        write_files(store, args.files, args.add)
        incremental = ours(root, home)
        unchanged = ours(root, home)
        print(
            json.dumps(
                {
                    "files": args.files,
                    "mini_batch_size": args.mini_batch,
                    "mini_batches": batches,
                    "processes": args.processes,
                    "amlcompile_first_run": summary(first, "score__batches", batches),
                    "hand_written_mapped_task": summary(baseline, "score", batches),
                    f"amlcompile_after_adding_{args.add}_files": summary(
                        incremental, "score__batches", 1
                    ),
                    "amlcompile_unchanged": {
                        "wall_s": round(unchanged["wall"], 2),
                        "airflow_started": unchanged["airflow"],
                    },
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
