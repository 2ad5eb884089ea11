"""A 1,000-step pipeline builds byte-identically in two processes with different hash seeds,
files created in another order and directory listings shuffled; Airflow parses it to the same
DAG version (serialized DAG hash) every time."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.airflow.conftest import airflow_python

STEPS = 1000
FOLDERS = 20

PIPELINE = f"""\
from amlcompile import *
ws = Workspace.from_config()
ds = ws.get_default_datastore()
params = [PipelineParameter(f"p{{k}}", default_value=k) for k in range(3)]
raw = DataReference(ds, "raw", "inputs/raw")
steps, previous = [], None
for i in range({STEPS}):
    out = PipelineData(f"out{{i}}", datastore=ds)
    inputs = [previous] if previous is not None and i % 10 else [raw]
    step = PythonScriptStep(f"s{{i % {FOLDERS}}}.py", name=f"step_{{i:04d}}",
                            source_directory=f"src/f{{i % {FOLDERS}}}",
                            arguments=["--in", *inputs, "--out", out, "--k", params[i % 3]],
                            inputs=inputs, outputs=[out], params={{"i": i}},
                            allow_reuse=bool(i % 2))
    if i >= 7 and i % 7 == 0:
        step.run_after(steps[i - 7])
    steps.append(step)
    previous = out
big = Pipeline(ws, steps=steps, description="a thousand steps")
"""

# Every directory listing the build makes comes back in a scrambled (seeded) order.
SHUFFLED_BUILD = """
import os, random, sys
rng = random.Random(7)
_listdir, _scandir = os.listdir, os.scandir
def listdir(path="."):
    names = _listdir(path)
    rng.shuffle(names)
    return names
class scandir:
    def __init__(self, path="."):
        self._it = _scandir(path)
        self._entries = list(self._it)
        rng.shuffle(self._entries)
    def __iter__(self):
        return iter(self._entries)
    def __next__(self):
        return next(iter(self._entries))
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self._it.close()
    def close(self):
        self._it.close()
os.listdir, os.scandir = listdir, scandir
from amlcompile.cli import main
sys.exit(main(["build", "pipe.py", "--out", sys.argv[1]]))
"""

PLAIN_BUILD = """
import sys
from amlcompile.cli import main
sys.exit(main(["build", "pipe.py", "--out", sys.argv[1]]))
"""


def write_project(root: Path, order_seed: int | None) -> None:
    """The same files every time; created in a shuffled order when a seed is given."""
    if root.exists():
        shutil.rmtree(root)
    files = {"pyproject.toml": "[project]\nname = 'big'\n", "pipe.py": PIPELINE}
    for f in range(FOLDERS):
        files[f"src/f{f}/s{f}.py"] = f"print('step of folder {f}')\n"
        for k in range(5):
            files[f"src/f{f}/lib/m{k}.py"] = f"VALUE = {f * 10 + k}\n"
    files[".amlcompile/datastores/workspaceblobstore/inputs/raw/a.txt"] = "data\n"
    names = sorted(files)
    if order_seed is not None:
        random.Random(order_seed).shuffle(names)
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[name])


def build_in_process(root: Path, out: Path, seed: str, code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        cwd=root,
        env={**__import__("os").environ, "PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.models.serialized_dag import SerializedDagModel
from airflow.serialization.serialized_objects import DagSerialization
hashes = []
for folder in json.loads(sys.argv[1]) if len(sys.argv) > 1 else FOLDERS:
    for attempt in range(2):
        bag = DagBag(dag_folder=folder)
        assert not bag.import_errors, bag.import_errors
        dag = bag.dags["big"]
        hashes.append(SerializedDagModel.hash(DagSerialization.to_dict(dag)))
print(json.dumps({"hashes": hashes, "tasks": len(dag.task_ids)}))
"""


@pytest.mark.airflow
def test_thousand_steps_byte_identical_and_same_dag_version(tmp_path):
    root = tmp_path / "project"  # the same absolute path for both builds (it is in DATASTORES)
    write_project(root, order_seed=None)
    first = tmp_path / "out1"
    build_in_process(root, first, "1", PLAIN_BUILD)
    listing_before = [p.name for p in (root / "src").iterdir()]

    write_project(root, order_seed=12345)
    listing_after = [p.name for p in (root / "src").iterdir()]
    second = tmp_path / "out2"
    build_in_process(root, second, "2", SHUFFLED_BUILD)

    assert sorted(listing_before) == sorted(listing_after)
    one, two = tree(first), tree(second)
    assert len([n for n in one if n.endswith(".py") and "/" not in n]) == 1
    assert one == two, sorted(n for n in one if one[n] != two.get(n))

    # Same bytes, so one folder tells: parsed twice, the same serialized DAG (DAG version).
    result = airflow_python(
        PARSE.replace("FOLDERS", json.dumps([str(first)])),
        tmp_path / "home",
        first,
    )
    assert result["tasks"] == STEPS + 1
    assert len(result["hashes"]) == 2 and len(set(result["hashes"])) == 1, result["hashes"]
