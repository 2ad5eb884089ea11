"""Remote datastores in a real Airflow (dag.test in the embedded Airflow) against Azurite:
a DataTransferOperator chain blob → local → ADLS Gen2, and a LocalStepOperator whose input
and output live on blob storage, reused on the second run and rerun when the blob changes.

The DAG files are written by hand beside a copy of amlcompile/runtime, laid out as a build
lays out dags_out/ (`_amlcompile/runtime_<id>/`, `_amlcompile/snapshots/<id>/`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from amlcompile.local_run import _airflow_env

RUNTIME = Path(__file__).resolve().parents[2] / "amlcompile" / "runtime"

SCRIPT = """\
import argparse, pathlib
p = argparse.ArgumentParser()
p.add_argument("--input"); p.add_argument("--output")
a = p.parse_args()
src = pathlib.Path(a.input)
text = (next(f for f in sorted(src.rglob("*")) if f.is_file()) if src.is_dir() else src).read_text()
out = pathlib.Path(a.output)
(out / "nested").mkdir(parents=True, exist_ok=True)
(out / "nested" / "upper.txt").write_text(text.upper())
print("transformed", len(text), "characters")
"""

DAGS = """\
import sys
from pathlib import Path

from airflow.sdk import DAG

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

from _amlcompile.runtime_test.operators import LocalStepOperator  # noqa: E402
from _amlcompile.runtime_test.planner import ReusePlanOperator  # noqa: E402
from _amlcompile.runtime_test.transfer import DataTransferOperator  # noqa: E402

DATASTORES = {datastores!r}

with DAG(dag_id="transfer_chain", schedule=None, catchup=False) as chain:
    down = DataTransferOperator(
        task_id="blob_to_local",
        source={{"datastore": "blobstore", "path": "raw"}},
        destination={{"datastore": "localstore", "path": "staged/{{{{ not templated }}}}"}},
        source_reference_type="directory",
        datastores=DATASTORES,
    )
    up = DataTransferOperator(
        task_id="local_to_lake",
        source={{"step": "blob_to_local", "output": "destination"}},
        destination={{"datastore": "lake", "path": "final"}},
        datastores=DATASTORES,
    )
    single = DataTransferOperator(
        task_id="file_into_directory",
        source={{"datastore": "blobstore", "path": "raw/big.bin"}},
        destination={{"datastore": "localstore", "path": "single"}},
        destination_reference_type="directory",
        datastores=DATASTORES,
    )
    down >> up

INPUTS = [{{"name": "raw", "mode": "mount", "datastore": "blobstore", "path": "raw/a.txt"}}]
STEP = {{
    "name": "upper", "kind": "python_script", "fingerprint": "static-1", "params": [],
    "record_datastore": "blobstore", "source": None, "snapshot": "snap1",
    "arguments": [{{"literal": "--input"}}, {{"port": "raw"}}, {{"literal": "--output"}},
                  {{"port": "result"}}],
    "inputs": INPUTS, "outputs": [{{"name": "result", "datastore": "lake"}}], "env": [],
    "allow_reuse": True, "script": "upper.py",
}}
READ = {{
    **STEP, "name": "read_back", "fingerprint": "static-2", "record_datastore": "localstore",
    "inputs": [{{"name": "raw", "mode": "download", "step": "upper", "output": "result",
                 "datastore": "lake"}}],
    "outputs": [{{"name": "result", "datastore": "localstore"}}],
}}
PLAN = [
    {{k: s[k] for k in ("name", "fingerprint", "params", "allow_reuse", "record_datastore",
                        "inputs")}}
    for s in (STEP, READ)
]

with DAG(dag_id="remote_step", schedule=None, catchup=False) as remote:
    plan = ReusePlanOperator(task_id="amlcompile_reuse_plan", steps=PLAN, datastores=DATASTORES)
    upper = LocalStepOperator(
        task_id="upper", step=STEP, datastores=DATASTORES, trigger_rule="none_failed"
    )
    read = LocalStepOperator(
        task_id="read_back", step=READ, datastores=DATASTORES, trigger_rule="none_failed"
    )
    plan >> upper >> read
"""


# All runs in one process: dag.test's in-process API server costs ~15 s per process to start.
RUNNER = """
import json, sys
from airflow.sdk import ObjectStoragePath
from amlcompile.embedded import run

plan, results = json.loads(sys.argv[1]), []
for dag_id, write in plan:
    if write:  # change a blob between runs: {uri: text}
        for uri, text in write.items():
            ObjectStoragePath(uri).write_bytes(text.encode())
    results.append(run(dag_id, {}))
print(json.dumps(results, default=str))
"""


def run_dags(env: dict, plan: list, home: Path) -> list[dict]:
    """plan: [(dag_id, {blob uri: new text} or None)] → each run's {task_id: step}."""
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(plan)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    (home / "runs.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr[-4000:]
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    for (dag_id, _), raw in zip(plan, runs, strict=True):
        assert raw["state"] == "success", (dag_id, raw, proc.stdout[-4000:])
    return [{s["task_id"]: s for s in raw["steps"]} for raw in runs]


@pytest.fixture
def airflow_dags(tmp_path, azurite):
    """A DAGs folder with a copy of the runtime, a migrated embedded Airflow, and datastores."""
    dags = tmp_path / "dags"
    shutil.copytree(RUNTIME, dags / "_amlcompile" / "runtime_test")
    (dags / "_amlcompile" / "__init__.py").write_text("")
    (dags / ".airflowignore").write_text("_amlcompile\n")  # support files, as a build writes
    snapshot = dags / "_amlcompile" / "snapshots" / "snap1"
    snapshot.mkdir(parents=True)
    (snapshot / "upper.py").write_text(SCRIPT)
    datastores = {
        "blobstore": {
            "kind": "azure_blob",
            "path": azurite.create_container(),
            "conn_id": "azurite",
        },
        "lake": {"kind": "adls_gen2", "path": azurite.create_container(), "conn_id": "azurite"},
        "localstore": {"kind": "local", "path": str(tmp_path / "local"), "conn_id": None},
    }
    (dags / "remote_dags.py").write_text(textwrap.dedent(DAGS.format(datastores=datastores)))
    env = _airflow_env(tmp_path / "home", dags)
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return env, datastores, tmp_path / "home"


def blob_root(datastores, name):
    from amlcompile.runtime.storage import datastore_root

    return datastore_root(datastores, name, "test")


@pytest.mark.airflow
def test_transfer_chain_blob_local_lake_and_a_remote_step_with_reuse(airflow_dags, tmp_path):
    from amlcompile.runtime.storage import location

    env, datastores, home = airflow_dags
    raw = blob_root(datastores, "blobstore") / "raw"
    files = {
        "a.txt": b"hello blob\n",
        "sub/b.bin": bytes(range(256)) * 7,
        "big.bin": os.urandom(4 * 1024 * 1024 + 4097),
    }
    for rel, data in files.items():
        (raw / rel).write_bytes(data)

    a_txt = str(raw / "a.txt")
    chain, first, again, third = run_dags(
        env,
        [
            ("transfer_chain", None),
            ("remote_step", None),
            ("remote_step", None),
            ("remote_step", {a_txt: "changed\n"}),  # a new ETag: the step and its reader rerun
        ],
        home,
    )
    assert {s["state"] for s in chain.values()} == {"success"}, chain
    staged = Path(chain["blob_to_local"]["result"]["outputs"]["destination"])
    assert staged == tmp_path / "local" / "staged" / "{{ not templated }}"
    final = location(chain["local_to_lake"]["result"]["outputs"]["destination"])
    assert str(final).startswith("abfs://azurite@") and str(final).endswith("/final")
    for rel, data in files.items():
        assert (staged / rel).read_bytes() == data
        assert (final / rel).read_bytes() == data
    assert (tmp_path / "local" / "single" / "big.bin").read_bytes() == files["big.bin"]

    assert first["upper"]["state"] == "success" and first["read_back"]["state"] == "success"
    produced = location(first["upper"]["result"]["outputs"]["result"])
    assert (produced / "nested" / "upper.txt").read_bytes() == b"HELLO BLOB\n"
    read_back = Path(first["read_back"]["result"]["outputs"]["result"])
    assert (read_back / "nested" / "upper.txt").read_bytes() == b"HELLO BLOB\n"
    assert again["upper"]["state"] == "skipped" and again["read_back"]["state"] == "skipped"

    assert third["upper"]["state"] == "success" and third["read_back"]["state"] == "success"
    produced = location(third["upper"]["result"]["outputs"]["result"])
    assert (produced / "nested" / "upper.txt").read_bytes() == b"CHANGED\n"
    # Two records of `upper` on the blob datastore; every claim was released.
    reuse = blob_root(datastores, "blobstore") / "azureml" / "_reuse"
    assert sorted(p.suffix for p in reuse.iterdir()) == [".json", ".json"]
