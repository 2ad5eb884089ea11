"""The datastore-change trigger on an Azure Blob datastore (Azurite), in a real Airflow: the
generated watch DAG polls with `dag.test()`, its mapped trigger operator queues one run
of the pipeline with the changed blob's path, and that run (also `dag.test()`, with the
queued run's conf) reads the blob's content through its DataPath parameter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from amlcompile.compiler import owner_of, render_files
from amlcompile.local_run import _airflow_env, run_compiled, select
from amlcompile.render import writer

pytestmark = pytest.mark.airflow

PIPELINE = """\
from amlcompile import *
ws = Workspace.from_config()
blob = Datastore(ws, "blobstore")
data = (PipelineParameter("input_data", default_value=DataPath(blob, "incoming/none.csv")),
        DataPathComputeBinding(mode="mount"))
read = PythonScriptStep("read.py", name="read", source_directory="src",
                        arguments=["--data", data], inputs=[data])
pipe = Pipeline(ws, steps=[read])
published = pipe.publish(name="BlobWatched", version="1")
Schedule.create(ws, name="on-new-blob", pipeline_id=published.id, experiment_name="watched",
                datastore=blob, path_on_datastore="incoming", polling_interval=5,
                data_path_parameter_name="input_data")
"""

WATCH = "BlobWatched__datastore_watch"
LISTING = f"azureml/_watch/{WATCH}.json"
# A blob name is data: template syntax in it reaches the run's conf and the step unrendered.
NEW_BLOB = "incoming/day {{ ds }}.csv"

# Polls the watch DAG (dag.test) in one Airflow process, changing the container in between;
# prints {step: {task_id: [[state, return value], ...]}, "queued...": [pipeline runs]}.
POLLS = """
import json, os
from azure.storage.blob import ContainerClient
from airflow.models import DagRun
from airflow.utils.session import create_session
from amlcompile.embedded import run

client = ContainerClient.from_connection_string(CONNECTION, CONTAINER)
out = {}

def poll(name):
    raw = run(WATCH, {})
    assert raw["state"] == "success", raw
    out[name] = {}
    for step in raw["steps"]:
        task = step["task_id"].split("[")[0]  # a mapped task's instances are task[i]
        out[name].setdefault(task, []).append([step["state"], step["result"]])

def queued(name):
    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == "BlobWatched").all()
        out[name] = [{"run_id": r.run_id, "conf": r.conf, "state": str(r.state)} for r in runs]

poll("first")  # records the (empty) listing, starts nothing
recorded = client.download_blob(LISTING).readall()
client.upload_blob(NEW_BLOB, b"x,y 1,2\\n")
poll("second")
queued("queued")
# As if the poll had died after starting its runs, before recording its listing: redone.
client.upload_blob(LISTING, recorded, overwrite=True)
poll("redone")
queued("queued_after_redo")
poll("idle")
print(json.dumps(out))
"""


def _in_airflow(args: list[str], home: Path, dags: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=_airflow_env(home, dags), capture_output=True, text=True
    )


def test_a_new_blob_starts_the_pipeline_which_reads_it(project, monkeypatch, azurite, tmp_path):
    container = azurite.create_container()
    project.write(
        "amlcompile.toml",
        f'[datastores.blobstore]\nkind = "azure_blob"\npath = "{container}"\n'
        f'conn_id = "{azurite.conn_id}"\n',
    )
    project.write("src/read.py", "import sys\nprint('read:', open(sys.argv[2]).read().strip())\n")
    project.write("pipe.py", PIPELINE)
    monkeypatch.chdir(project.root)
    compiled = select(str(project.root / "pipe.py"))
    home = tmp_path / "airflow"
    dags = home / "dags"
    files, owned = render_files([compiled])
    writer.apply(dags, files, owned, owner_of(compiled.config))  # as run_compiled does
    migrate = _in_airflow(["-m", "airflow", "db", "migrate"], home, dags)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    given = dict(CONNECTION=azurite.connection_string, CONTAINER=container, NEW_BLOB=NEW_BLOB)
    given.update(LISTING=LISTING)
    code = "".join(f"{k} = {v!r}\n" for k, v in {**given, "WATCH": WATCH}.items()) + POLLS
    proc = _in_airflow(["-c", code], home, dags)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    polls = json.loads(proc.stdout.strip().splitlines()[-1])

    assert polls["first"]["detect_changes"] == [["success", []]]
    assert polls["first"]["record_listing"] == [["success", None]]
    ((detected, (start,)),) = polls["second"]["detect_changes"]
    assert detected == "success" and start["conf"] == {"input_data": NEW_BLOB}
    assert [state for state, _ in polls["second"]["start_pipeline"]] == ["success"]
    assert polls["second"]["record_listing"] == [["success", None]]
    queued = [{"run_id": start["trigger_run_id"], "conf": start["conf"], "state": "queued"}]
    assert polls["queued"] == queued  # exactly one run, the triggered one
    # The redone poll finds the same change; its run id exists, so the start is skipped
    # (not failed) and the listing is recorded: no second run, and the next poll is idle.
    assert polls["redone"]["detect_changes"] == polls["second"]["detect_changes"]
    assert [state for state, _ in polls["redone"]["start_pipeline"]] == ["skipped"]
    assert polls["redone"]["record_listing"] == [["success", None]]
    assert polls["queued_after_redo"] == queued
    assert polls["idle"]["detect_changes"] == [["success", []]]

    # The pipeline run with the queued run's conf reads the changed blob.
    result = run_compiled(compiled, queued[0]["conf"], airflow_home=home)
    assert result.succeeded, result.log_file.read_text()[-4000:]
    (step,) = result.steps
    assert "read: x,y 1,2" in step["result"]["log_tail"]
