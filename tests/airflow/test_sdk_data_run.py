"""`amlcompile run` of an SDK v1 script in the later data style: Dataset.File in,
OutputFileDatasetConfig between steps, a RunConfiguration environment; the data flows."""

from __future__ import annotations

import pytest

from tests.conftest import amlcompile_cli

PIPELINE = """\
from amlcompile import *

ws = Workspace.from_config()
ds = ws.get_default_datastore()
ds.upload(src_dir="data", target_path="in/raw", overwrite=True)

raw = Dataset.File.from_files((ds, "in/raw"))
prepared = OutputFileDatasetConfig("prepared", destination=(ds, "prepared/{run-id}"))
report = OutputFileDatasetConfig("report")

rc = RunConfiguration(conda_dependencies=CondaDependencies.create(pip_packages=["pandas"]))
rc.environment.environment_variables = {"GREETING": "hello"}

prep = PythonScriptStep(
    "prep.py", name="prep", source_directory="src", runconfig=rc,
    arguments=["--raw", raw.as_named_input("raw").as_download(), "--out", prepared],
)
summarise = PythonScriptStep(
    "summarise.py", name="summarise", source_directory="src",
    arguments=["--in", prepared.as_input("prepared_in"), "--out", report.as_upload()],
)
pipeline = Pipeline(ws, steps=[summarise])
"""

PREP = """\
import argparse, os, pathlib
p = argparse.ArgumentParser()
p.add_argument("--raw")
p.add_argument("--out")
a = p.parse_args()
out = pathlib.Path(a.out)
out.mkdir(parents=True, exist_ok=True)
for f in sorted(pathlib.Path(a.raw).iterdir()):
    (out / f.name).write_text(os.environ["GREETING"] + " " + f.read_text().upper())
print("prepared", sorted(x.name for x in out.iterdir()))
"""

SUMMARISE = """\
import argparse, pathlib
p = argparse.ArgumentParser()
p.add_argument("--in", dest="inp")
p.add_argument("--out")
a = p.parse_args()
lines = [f.read_text() for f in sorted(pathlib.Path(a.inp).iterdir())]
pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)
(pathlib.Path(a.out) / "summary.txt").write_text("|".join(lines))
print("SUMMARY", "|".join(lines))
"""


@pytest.mark.airflow
def test_dataset_and_output_dataset_pipeline_runs_with_data_flowing(project):
    project.write("data/a.txt", "one")
    project.write("data/b.txt", "two")
    project.write("src/prep.py", PREP)
    project.write("src/summarise.py", SUMMARISE)
    project.write("pipe.py", PIPELINE)
    proc = amlcompile_cli("run", "pipe.py", cwd=project.root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "LocalCompute runs steps with the Airflow worker's Python" in proc.stderr
    summaries = list((project.root / ".amlcompile").rglob("summary.txt"))
    assert len(summaries) == 1, summaries
    assert summaries[0].read_text() == "hello ONE|hello TWO"
