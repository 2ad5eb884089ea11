"""PipelineEndpoint at build time, as the versioned-endpoints notebook uses it: versions as
objects with .version and .pipeline_id, the default version, add/add_default/set_default,
archive/reactivate (Azure-only: a warning), get by id, and .endpoint; nothing talks to Airflow."""

from __future__ import annotations

import json

from amlcompile.compiler import check

SCRIPT = """
import json
from amlcompile import *
ws = Workspace.from_config()
step = CommandStep(command="echo hi", name="hello", source_directory="scripts")
p1 = Pipeline(ws, steps=[step])
pub1 = p1.publish(name="Pipe_V1", version="1")
p2 = Pipeline(ws, steps=[step])
pub2 = p2.publish(name="Pipe_V2", version="2")
ep = PipelineEndpoint.publish(ws, name="versioned", description="d", pipeline=pub1)
ep.add(pub2)
out = {"after_add": ep.get_default_version()}
ep.set_default_version("1")
out["default"] = ep.get_default_version()
out["versions"] = [[v.version, v.pipeline_id] for v in ep.list_versions()]
out["all"] = [[v.version, v.pipeline.id] for v in ep.get_all_versions()]
out["v0"] = ep.get_pipeline(version="0").id
out["endpoint"] = ep.endpoint
got = PipelineEndpoint.get(workspace=ws, id="versioned")
out["same"] = got is ep
try:
    ep.set_default_version("7")
except ValueError as exc:
    out["bad"] = str(exc)
ep.set_default(pub1)
out["set_default"] = ep.default_version
ep.add_default(pub2)
out["add_default"] = [ep.default_version, len(ep.list_versions())]
ep.archive()
out["archived"] = ep.status
ep.reactivate("versioned")
out["reactivated"] = ep.status
ep.set_name("renamed")
out["renamed"] = PipelineEndpoint.get(ws, name="renamed").name
run = ep.submit("exp")
out["run"] = run.get_status()
print("OUT" + json.dumps(out))
"""


def test_versioned_endpoint_methods_at_build_time(project, capsys, recwarn):
    project.write("scripts/README", "x\n")
    project.write("pipe.py", SCRIPT)
    compiled = check([project.root / "pipe.py"])
    assert {c.pipeline.name for c in compiled} >= {"Pipe_V1", "Pipe_V2"}
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("OUT"))
    out = json.loads(line[3:])
    assert out["after_add"] == "0" and out["default"] == "1"
    assert out["versions"] == [["0", "Pipe_V1"], ["1", "Pipe_V2"]]
    assert out["all"] == [["0", "Pipe_V1"], ["1", "Pipe_V2"]]
    assert out["v0"] == "Pipe_V1"
    assert out["endpoint"].endswith("/amlcompile/v1.0/PipelineRuns/PipelineSubmit/Pipe_V2")
    assert out["same"] is True
    assert "Cannot set version 7, does not exist in pipeline endpoint 'versioned'" in out["bad"]
    assert out["set_default"] == "0"
    assert out["add_default"] == ["2", 3]
    assert (out["archived"], out["reactivated"]) == ("Disabled", "Active")
    assert out["run"] == "NotStarted" and out["renamed"] == "renamed"
    azure_only = [str(w.message) for w in recwarn if "meaning on Azure" in str(w.message)]
    assert any("PipelineEndpoint.archive()" in m for m in azure_only)
    assert any("PipelineEndpoint.reactivate()" in m for m in azure_only)
