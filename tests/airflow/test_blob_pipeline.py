"""A compiled pipeline on Azure Blob datastores (Azurite): upload_files, transfers blob → local
→ blob byte for byte, a local step writing to the blob store, reuse, and data changes seen by
their ETag."""

from __future__ import annotations

import os

import pytest

from amlcompile.local_run import run_compiled, select

pytestmark = pytest.mark.airflow

PIPELINE = """\
from amlcompile import *
ws = Workspace.from_config()
blob = Datastore(ws, "blobstore")
local = ws.get_default_datastore()
blob.upload_files(["data/payload.bin", "data/notes.txt"], target_path="in", overwrite=True)

landed = PipelineData("landed", datastore=local)
doubled = PipelineData("doubled", datastore=blob)
fetch = DataTransferStep("fetch", source_data_reference=DataReference(blob, "src", "in"),
                         destination_data_reference=landed, source_reference_type="directory")
double = PythonScriptStep("double.py", name="double", source_directory="src",
                          arguments=["--i", landed, "--o", doubled],
                          inputs=[landed], outputs=[doubled])
publish = DataTransferStep("publish", source_data_reference=doubled,
                           destination_data_reference=DataReference(blob, "dst", "out/final"),
                           destination_reference_type="directory")
blob_pipe = Pipeline(ws, steps=[publish])
"""

DOUBLE = """\
import argparse, pathlib
p = argparse.ArgumentParser(); p.add_argument("--i"); p.add_argument("--o"); a = p.parse_args()
out = pathlib.Path(a.o); out.mkdir(parents=True, exist_ok=True)
for f in sorted(pathlib.Path(a.i).rglob("*")):
    if f.is_file():
        (out / f.name).write_bytes(f.read_bytes() * 2)
print("doubled", a.o)
"""


def test_blob_pipeline_copies_byte_for_byte_and_reruns_on_etag_change(
    project, monkeypatch, azurite
):
    container = azurite.create_container()
    project.write(
        "amlcompile.toml",
        f'[datastores.blobstore]\nkind = "azure_blob"\npath = "{container}"\n'
        f'conn_id = "{azurite.conn_id}"\naccount_name = "devstoreaccount1"\n',
    )
    payload = os.urandom(5 * 1024 * 1024 + 123)  # larger than one 4 MiB upload chunk
    (project.root / "data").mkdir()
    (project.root / "data" / "payload.bin").write_bytes(payload)
    project.write("data/notes.txt", "hello\n")
    project.write("src/double.py", DOUBLE)
    project.write("pipe.py", PIPELINE)
    monkeypatch.chdir(project.root)
    compiled = select(str(project.root / "pipe.py"))

    first = run_compiled(compiled, {})
    assert first.succeeded, first.log_file.read_text()[-4000:]
    client = azurite.service_client().get_container_client(container)
    assert client.download_blob("in/payload.bin").readall() == payload  # upload_files
    final = client.download_blob("out/final/payload.bin").readall()
    assert final == payload * 2
    assert client.download_blob("out/final/notes.txt").readall() == b"hello\nhello\n"
    landed = {s["task_id"]: s for s in first.steps}["fetch"]["result"]["outputs"]["landed"]
    assert open(os.path.join(landed, "payload.bin"), "rb").read() == payload

    second = run_compiled(compiled, {})
    states = {s["task_id"]: s["state"] for s in second.steps}
    assert states == {"fetch": "skipped", "double": "skipped", "publish": "skipped"}

    # The input changes on the blob store (a new ETag): everything downstream reruns.
    client.upload_blob("in/notes.txt", b"changed\n", overwrite=True)
    (project.root / "data" / "notes.txt").write_text("changed\n")  # keep upload_files in step
    third = run_compiled(compiled, {})
    states = {s["task_id"]: s["state"] for s in third.steps}
    assert states == {"fetch": "success", "double": "success", "publish": "success"}
    assert client.download_blob("out/final/notes.txt").readall() == b"changed\nchanged\n"
