"""`amlcompile run`: each example runs end to end in the embedded Airflow with a conf override."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlcompile.local_run import parse_params, run_compiled, select

# example file → (parameter override, text the step must print, step that prints it)
EXAMPLES = {
    "seed_compare_models/pipeline.py": ("pipeline_arg=20", "param1 (pipeline_arg) = 20", "compare"),
}


def run_example(project: Path, rel: str, params: list[str], local=False, monkeypatch=None):
    monkeypatch.chdir(project)
    compiled = select(str(project / "examples" / rel))
    conf = parse_params(compiled.pipeline, params)
    return run_compiled(compiled, conf, force_local=local)


@pytest.mark.airflow
@pytest.mark.parametrize("rel", sorted(EXAMPLES))
def test_example_runs_with_override(examples_project, rel, monkeypatch):
    override, expected, step = EXAMPLES[rel]
    result = run_example(examples_project, rel, [override], local=True, monkeypatch=monkeypatch)
    assert result.succeeded, (result.raw, result.log_file.read_text()[-3000:])
    states = {s["task_id"]: s["state"] for s in result.steps}
    assert set(states.values()) == {"success"}, states
    by_step = {s["task_id"]: s for s in result.steps}
    assert expected in "\n".join(by_step[step]["result"]["log_tail"])


@pytest.mark.airflow
def test_seed_report_records_the_default_then_the_override(examples_project, monkeypatch):
    for params, expected in (([], 10), (["pipeline_arg=3"], 3)):
        result = run_example(
            examples_project, "seed_compare_models/pipeline.py", params, monkeypatch=monkeypatch
        )
        assert result.succeeded
        compare = next(s for s in result.steps if s["task_id"] == "compare")
        out = Path(compare["result"]["outputs"]["out_data3"]) / "report.json"
        report = json.loads(out.read_text())
        assert report["param1"] == expected
        assert 0 <= report["naive_bayes"] <= 1


@pytest.mark.airflow
def test_failing_step_fails_the_run_and_downstream_does_not_run(project, monkeypatch):
    project.write("src/ok.py", "print('fine')\n")
    project.write("src/boom.py", "import sys\nprint('about to fail')\nsys.exit(3)\n")
    project.write(
        "pipe.py",
        """\
from amlcompile import *
ws = Workspace.from_config()
mid = PipelineData("mid", datastore=ws.get_default_datastore())
a = PythonScriptStep("boom.py", name="boom", arguments=["--o", mid], outputs=[mid],
                     source_directory="src")
b = PythonScriptStep("ok.py", name="after", arguments=["--i", mid], inputs=[mid],
                     source_directory="src")
failing = Pipeline(ws, steps=[b])
""",
    )
    compiled = select(str(project.root / "pipe.py"))
    result = run_compiled(compiled, {})
    assert not result.succeeded
    states = {s["task_id"]: s["state"] for s in result.steps}
    assert states["boom"] == "failed" and states["after"] == "upstream_failed"
    assert "exit code 3" in result.log_file.read_text()


# The step kinds of issue 17, as their examples use them: example → (override, step, text).
STEP_KIND_EXAMPLES = {
    "batch_scoring/pipeline.py": ("batch_size=5", "summarize", "40 reviews scored"),
    "model_search/pipeline.py": ("", "report", "8 trials logged"),
    "distributed_training/pipeline.py": ("epochs=150", "train", "rank 1/2: w=3.000 b=1.000"),
}


@pytest.mark.airflow
@pytest.mark.parametrize("rel", sorted(STEP_KIND_EXAMPLES))
def test_step_kind_example_runs(examples_project, rel, monkeypatch):
    override, step, expected = STEP_KIND_EXAMPLES[rel]
    params = [override] if override else []
    result = run_example(examples_project, rel, params, monkeypatch=monkeypatch)
    assert result.succeeded, (result.raw, result.log_file.read_text()[-3000:])
    by_step = {s["task_id"]: s for s in result.steps}
    assert by_step[step]["state"] == "success", by_step
    assert expected in "\n".join(by_step[step]["result"]["log_tail"]), by_step[step]
