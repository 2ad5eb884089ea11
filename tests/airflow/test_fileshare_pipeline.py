"""A compiled pipeline on an Azure Files datastore (the File REST stand-in) and Azure Blob
(Azurite), run in the embedded Airflow: `Datastore.register_azure_file_share`, `upload_files`
onto the share, transfers blob → share → local (directory and file reference types) byte for
byte, a worker step writing its output to the share and a downstream step reading it, reuse
from records on the share, and a changed file on the share rerunning what reads it."""

from __future__ import annotations

import os
import uuid

import pytest

from amlcompile.local_run import run_compiled, select

pytestmark = pytest.mark.airflow

PIPELINE = """\
from amlcompile import *
ws = Workspace.from_config()
blob = Datastore(ws, "blobstore")
share = Datastore.register_azure_file_share(ws, "fileshare", "{share}", "devstoreaccount1")
local = ws.get_default_datastore()
blob.upload_files(["data/payload.bin"], target_path="in", overwrite=True)
share.upload_files(["data/notes.txt"], target_path="notes", overwrite=True)

landed = PipelineData("landed", datastore=share)
doubled = PipelineData("doubled", datastore=share)
fetch = DataTransferStep("fetch", source_data_reference=DataReference(blob, "src", "in"),
                         destination_data_reference=landed, source_reference_type="directory")
double = PythonScriptStep("double.py", name="double", source_directory="src",
                          arguments=["--i", landed, "--n", DataReference(share, "n", "notes"),
                                     "--o", doubled],
                          inputs=[landed, DataReference(share, "n", "notes")], outputs=[doubled])
publish = DataTransferStep("publish", source_data_reference=doubled,
                           destination_data_reference=DataReference(local, "dst", "out/final"),
                           source_reference_type="directory")
single = DataTransferStep("single",
                          source_data_reference=DataReference(share, "one", "notes/notes.txt"),
                          destination_data_reference=DataReference(local, "single", "single"),
                          source_reference_type="file", destination_reference_type="directory")
share_pipe = Pipeline(ws, steps=[publish, single])
"""

DOUBLE = """\
import argparse, pathlib
p = argparse.ArgumentParser()
p.add_argument("--i"); p.add_argument("--n"); p.add_argument("--o")
a = p.parse_args()
out = pathlib.Path(a.o); out.mkdir(parents=True, exist_ok=True)
for f in sorted(pathlib.Path(a.i).rglob("*")):
    if f.is_file():
        (out / f.name).write_bytes(f.read_bytes() * 2)
notes = next(f for f in pathlib.Path(a.n).rglob("*") if f.is_file())
(out / "notes.txt").write_bytes(notes.read_bytes() * 2)
(out / "empty_folder").mkdir()
print("doubled", a.o)
"""


def test_share_pipeline_transfers_steps_and_reuse(project, monkeypatch, azurite, fileshare_standin):
    container = azurite.create_container()
    share = fileshare_standin.create_share(f"s{uuid.uuid4().hex[:12]}")
    project.write(
        "amlcompile.toml",
        f'[datastores.blobstore]\nkind = "azure_blob"\npath = "{container}"\n'
        f'conn_id = "{azurite.conn_id}"\naccount_name = "devstoreaccount1"\n',
    )
    payload = os.urandom(4 * 1024 * 1024 + 123)  # larger than one 4 MiB range
    (project.root / "data").mkdir()
    (project.root / "data" / "payload.bin").write_bytes(payload)
    project.write("data/notes.txt", "hello\n")
    project.write("src/double.py", DOUBLE)
    project.write("pipe.py", PIPELINE.format(share=share))
    monkeypatch.chdir(project.root)
    compiled = select(str(project.root / "pipe.py"))
    files = fileshare_standin.shares[share]

    first = run_compiled(compiled, {})
    assert first.succeeded, first.log_file.read_text()[-4000:]
    steps = {s["task_id"]: s for s in first.steps}
    assert bytes(files["notes/notes.txt"].data) == b"hello\n"  # upload_files onto the share
    landed = steps["fetch"]["result"]["outputs"]["landed"]
    assert landed.startswith(f"azfile://fileshare@{share}/azureml/fp/")
    assert bytes(files[landed.split(share + "/", 1)[1] + "/payload.bin"].data) == payload
    doubled = steps["double"]["result"]["outputs"]["doubled"]
    assert doubled.startswith(f"azfile://fileshare@{share}/")
    assert files[doubled.split(share + "/", 1)[1] + "/empty_folder"].kind == "directory"
    local = project.root / ".amlcompile" / "datastores" / "workspaceblobstore"
    final = local / "out" / "final"
    assert steps["publish"]["result"]["outputs"]["destination"] == str(final)
    assert (final / "payload.bin").read_bytes() == payload * 2
    assert (final / "notes.txt").read_bytes() == b"hello\nhello\n"
    assert (final / "empty_folder").is_dir()  # a folder on a share is real, empty or not
    single = local / "single"
    assert (single / "notes.txt").read_bytes() == b"hello\n"  # a file into a 'directory'
    records = [p for p in files if p.startswith("azureml/_reuse/") and p.endswith(".json")]
    assert len(records) == 2, sorted(files)  # fetch and double record on the share
    assert not [p for p in files if p.endswith((".claim", ".tmp"))], sorted(files)

    second = run_compiled(compiled, {})
    states = {s["task_id"]: s["state"] for s in second.steps}
    assert states == {
        "fetch": "skipped",
        "double": "skipped",
        "publish": "skipped",
        "single": "skipped",
    }

    # The notes change on the share (a new ETag): what reads them reruns, the fetch does not.
    (project.root / "data" / "notes.txt").write_text("changed\n")
    third = run_compiled(compiled, {})
    states = {s["task_id"]: s["state"] for s in third.steps}
    assert states == {
        "fetch": "skipped",
        "double": "success",
        "publish": "success",
        "single": "success",
    }
    assert (final / "notes.txt").read_bytes() == b"changed\nchanged\n"
    assert (single / "notes.txt").read_bytes() == b"changed\n"
