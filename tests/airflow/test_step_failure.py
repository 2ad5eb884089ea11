"""continue_on_step_failure in a real Airflow: what starts after a step fails."""

from __future__ import annotations

import pytest

from amlcompile.local_run import run_compiled, select

PIPELINE = """\
from amlcompile import *
ws = Workspace.from_config()
mid = PipelineData("mid", datastore=ws.get_default_datastore())
boom = PythonScriptStep("boom.py", name="boom", arguments=["--o", mid], outputs=[mid],
                        source_directory="src", allow_reuse=False)
after = PythonScriptStep("ok.py", name="after", arguments=["--i", mid], inputs=[mid],
                         source_directory="src", allow_reuse=False)
chain = []
for i in (1, 2, 3):
    d = PipelineData(f"d{i}", datastore=ws.get_default_datastore())
    args = ["--o", d] + (["--i", chain[-1][1]] if chain else [])
    step = PythonScriptStep("ok.py", name=f"ok{i}", arguments=args, outputs=[d],
                            inputs=[chain[-1][1]] if chain else [], source_directory="src",
                            allow_reuse=False)
    chain.append((step, d))
pipe = Pipeline(ws, steps=[after, chain[-1][0]], name="failing")
"""


def _run(project, conf):
    result = run_compiled(select(str(project.root / "pipe.py")), conf)
    return result, {s["task_id"]: s["state"] for s in result.steps}


@pytest.fixture
def failing_project(project):
    project.write("src/ok.py", "print('fine')\n")
    project.write("src/boom.py", "import sys\nprint('about to fail')\nsys.exit(3)\n")
    return project


@pytest.mark.airflow
def test_by_default_no_step_starts_after_a_failure(failing_project):
    failing_project.write("pipe.py", PIPELINE)
    result, states = _run(failing_project, {})
    assert result.state == "failed"
    assert states["boom"] == "failed" and states["after"] == "upstream_failed"
    # ok1 may have run before boom failed; ok2 and ok3 came up after it and did not start.
    assert states["ok1"] in ("success", "skipped")
    assert states["ok2"] == states["ok3"] == "skipped", states
    log = result.log_file.read_text()
    assert "not started: boom failed in this run and continue_on_step_failure is false" in log


@pytest.mark.airflow
def test_publish_sets_the_dags_default_and_a_run_can_still_stop(failing_project):
    failing_project.write(
        "pipe.py", PIPELINE + 'pipe.publish("failing", continue_on_step_failure=True)\n'
    )
    compiled = select(str(failing_project.root / "pipe.py"))
    assert compiled.pipeline.continue_on_step_failure is True
    result, states = _run(failing_project, {})
    assert result.state == "failed" and states["after"] == "upstream_failed"
    assert states["ok1"] == states["ok2"] == states["ok3"] == "success", states

    # One run of the same DAG told otherwise (the conf key, as trigger/run/submit send it).
    result, states = _run(failing_project, {"continue_on_step_failure": False})
    assert states["ok2"] == states["ok3"] == "skipped", states
