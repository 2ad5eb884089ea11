"""SPEC 3: a PipelineParameter with a DataPath default is a string Param; the data it names is
chosen at trigger time, counts in the fingerprint, and cannot leave its datastore."""

from __future__ import annotations

import pytest

from amlcompile.compiler import check
from amlcompile.local_run import parse_params, run_compiled, select

pytestmark = pytest.mark.airflow

PIPELINE = """\
from amlcompile import *
ws = Workspace.from_config()
ds = ws.get_default_datastore()
ds.upload_files(["data/a.txt", "data/b.txt"], target_path="in", overwrite=True)
data = (PipelineParameter("input_data", default_value=DataPath(ds, "in/a.txt")),
        DataPathComputeBinding(mode="mount"))
read = PythonScriptStep("read.py", name="read", source_directory="src",
                        arguments=["--data", data], inputs=[data])
datapath_pipe = Pipeline(ws, steps=[read])
"""


def test_datapath_parameter_chooses_the_input_at_trigger_time(project, monkeypatch):
    project.write("data/a.txt", "alpha\n")
    project.write("data/b.txt", "beta\n")
    project.write(
        "src/read.py",
        "import sys\nprint('read:', open(sys.argv[2]).read().strip())\n",
    )
    project.write("pipe.py", PIPELINE)
    monkeypatch.chdir(project.root)
    (compiled,) = check([project.root / "pipe.py"])
    (param,) = compiled.pipeline.parameters
    assert (param.name, param.type, param.default) == ("input_data", "string", "in/a.txt")
    compiled = select(str(project.root / "pipe.py"))

    def run(*params):
        result = run_compiled(compiled, parse_params(compiled.pipeline, list(params)))
        return result, {s["task_id"]: s for s in result.steps}["read"]

    result, step = run()
    assert result.succeeded and "read: alpha" in step["result"]["log_tail"]
    result, step = run("input_data=in/b.txt")
    assert result.succeeded and "read: beta" in step["result"]["log_tail"]
    result, step = run("input_data=in/b.txt")
    assert step["state"] == "skipped"  # same path, same data: reused
    # Left empty in the trigger form (null; the Param allows it): the default, planned as such.
    result = run_compiled(compiled, {"input_data": None, "regenerate_outputs": None})
    step = {s["task_id"]: s for s in result.steps}["read"]
    assert result.succeeded and step["state"] == "skipped"  # in/a.txt again: reused
    result, step = run("input_data=../../etc/passwd")
    assert not result.succeeded
    assert "must be a relative path inside its datastore" in result.log_file.read_text()
