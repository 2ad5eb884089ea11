"""ParallelRunStep over a FileDataset on Azure Blob (Azurite), in the real embedded Airflow:
the pipeline's own upload_files puts the data there, the split lists the blobs with their
ETags, each mapped task downloads only its mini-batches' files, append_row in file order;
an unchanged second run computes nothing, a rewritten blob recomputes only its mini-batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from amlcompile.compiler import check
from amlcompile.local_run import run_compiled

pytestmark = pytest.mark.airflow

COUNT = 30

PIPELINE = """\
from azureml.core import Workspace, Datastore, Dataset, Environment
from azureml.pipeline.core import Pipeline, PipelineData
from azureml.pipeline.steps import ParallelRunStep, ParallelRunConfig

ws = Workspace.from_config()
blob = Datastore(ws, "blobstore")
local = ws.get_default_datastore()
blob.upload_files(FILES, target_path="images", overwrite=True)
files = Dataset.File.from_files(path=(blob, "images"))
out = PipelineData("scores", datastore=OUT)
config = ParallelRunConfig(
    source_directory="scripts",
    entry_script="score.py",
    mini_batch_size=10,
    error_threshold=-1,
    output_action="append_row",
    environment=Environment("prs"),
    compute_target="local",
    node_count=1,
    process_count_per_node=2,
)
step = ParallelRunStep(
    name="score",
    parallel_run_config=config,
    inputs=[files.as_named_input("images")],
    output=out,
    arguments=["--factor", 3],
)
prs = Pipeline(ws, steps=[step])
"""

SCORE = """\
import argparse, os

def init():
    global factor
    parser = argparse.ArgumentParser()
    parser.add_argument("--factor", type=int)
    factor = parser.parse_known_args()[0].factor

def run(mini_batch):
    with open(os.environ["RUN_LOG"], "a") as fh:
        for path in mini_batch:
            assert os.path.isfile(path) and "://" not in path, path  # a local path
            fh.write(f"{os.path.basename(path)} {os.path.dirname(path)}\\n")
    return [f"{os.path.basename(p)} {int(open(p).read()) * factor}" for p in mini_batch]
"""


def run(project, monkeypatch):
    log = project.root / "run.log"
    log.write_text("")
    monkeypatch.setenv("RUN_LOG", str(log))
    (compiled,) = check([project.root / "pipe.py"])
    result = run_compiled(compiled, {}, force_local=True, airflow_home=project.root / "home")
    assert result.succeeded, result.log_file.read_text()[-4000:]
    calls = [line.split() for line in log.read_text().splitlines()]
    return result, calls


def output_rows(result, client) -> list[str]:
    states = {s["task_id"]: s for s in result.steps}
    folder = states["score"]["result"]["outputs"]["scores"]
    if "://" in folder:  # on the blob datastore: abfs://conn@container/key
        key = folder.partition("://")[2].partition("/")[2]
        data = client.download_blob(f"{key}/parallel_run_step.txt").readall()
        return data.decode().splitlines()
    return (Path(folder) / "parallel_run_step.txt").read_text().splitlines()


@pytest.mark.parametrize("out", ["local", "blob"])
def test_mini_batches_from_blob_reused_per_blob_version(project, monkeypatch, azurite, out):
    """The output (and so the mini-batches' results and records) on the default local
    datastore, or on the blob datastore too."""
    container = azurite.create_container()
    project.write(
        "amlcompile.toml",
        f'[datastores.blobstore]\nkind = "azure_blob"\npath = "{container}"\n'
        f'conn_id = "{azurite.conn_id}"\naccount_name = "devstoreaccount1"\n',
    )
    names = [f"data/f{i:03d}.txt" for i in range(COUNT)]
    for i, name in enumerate(names):
        project.write(name, f"{i}")
    project.write("pipe.py", PIPELINE.replace("FILES", repr(names)).replace("OUT", out))
    project.write("scripts/score.py", SCORE)
    monkeypatch.chdir(project.root)

    client = azurite.service_client().get_container_client(container)
    result, calls = run(project, monkeypatch)
    assert client.download_blob("images/f007.txt").readall() == b"7"  # upload_files did it
    assert sorted(name for name, _ in calls) == [f"f{i:03d}.txt" for i in range(COUNT)]
    folders = {folder for _, folder in calls}
    assert folders and not any(Path(f).exists() for f in folders)  # downloads cleaned up
    assert output_rows(result, client) == [f"f{i:03d}.txt {i * 3}" for i in range(COUNT)]
    index = [b.name for b in client.list_blobs(name_starts_with="azureml/_reuse/batches/")]
    assert len(index) == (3 if out == "blob" else 0)  # where the mini-batches were recorded

    # Unchanged blobs: nothing is computed again.
    result, calls = run(project, monkeypatch)
    assert calls == []
    assert output_rows(result, client) == [f"f{i:03d}.txt {i * 3}" for i in range(COUNT)]

    # One file rewritten: the pipeline's upload_files rewrites its blob (a new ETag), and only
    # its mini-batch (f010..f019) runs again; the other two are reused.
    project.write("data/f013.txt", "1000")
    result, calls = run(project, monkeypatch)
    assert sorted(name for name, _ in calls) == [f"f{i:03d}.txt" for i in range(10, 20)]
    gathered = {s["task_id"]: s for s in result.steps}["score"]["result"]["mini_batches"]
    assert (gathered["reused"], gathered["ran"], gathered["files"]) == (2, 1, COUNT)
    expected = [f"f{i:03d}.txt {(1000 if i == 13 else i) * 3}" for i in range(COUNT)]
    assert output_rows(result, client) == expected
