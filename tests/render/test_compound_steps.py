"""A step Airflow runs as several tasks (TaskSpec.before, TaskSpec.expand): the contract the
ParallelRunStep and HyperDriveStep lowerings use. Its tasks chain before the step's own task,
the step's upstream edges go to the first of them, a mapped task is `.partial().expand()`,
the planner skips them with the step, and Airflow imports the file."""

from __future__ import annotations

import json

import pytest

from amlcompile.compiler import build, check
from amlcompile.render.dag import render
from amlcompile.targets import LoweringContext, OperatorRef, TaskSpec, lower_step, plan_task
from tests.airflow.conftest import airflow_python

PIPELINE = """\
from amlcompile import *
ws = Workspace.from_config()
out = PipelineData("prepared", datastore=ws.get_default_datastore())
prep = PythonScriptStep("s.py", name="prep", source_directory="src",
                        arguments=["--out", out], outputs=[out])
score = PythonScriptStep("s.py", name="score", source_directory="src",
                         arguments=["--in", out], inputs=[out])
compound = Pipeline(ws, steps=[score])
"""


def _compound_source(project) -> str:
    from amlcompile.config import load

    project.script("src/s.py")
    project.write("pipe.py", PIPELINE)
    (compiled,) = check([project.root / "pipe.py"])
    p = compiled.pipeline
    ctx = LoweringContext(config=load(project.root))
    tasks = [plan_task(p)]
    for s in p.steps:
        spec = lower_step(p, s, ctx)
        if s.name == "score":
            bash = OperatorRef("airflow.providers.standard.operators.bash", "BashOperator")
            empty = OperatorRef("airflow.providers.standard.operators.empty", "EmptyOperator")
            spec.before = [
                TaskSpec("score__split", empty, {}, "splits", of_step="score"),
                TaskSpec(
                    "score__batches",
                    bash,
                    {},
                    "one task per batch",
                    expand=("bash_command", "score__split"),
                    of_step="score",
                    display_name="score (batches)",
                ),
            ]
            # what lower_step does for a compound step
            spec.kwargs["step"]["helper_tasks"] = [t.task_id for t in spec.before]
        tasks.append(spec)
    return render(p, tasks).decode()


def test_tasks_of_a_step_chain_before_it_and_map(project):
    src = _compound_source(project)
    assert "score__batches = BashOperator.partial(" in src
    assert ").expand(bash_command=score__split.output)" in src
    assert "prep >> score__split" in src
    assert "score__split >> score__batches" in src
    assert "score__batches >> score" in src
    assert "prep >> score\n" not in src  # the step's upstream edge goes to its first task
    assert "task_display_name='score (batches)'" in src
    # one STEPS entry per step, listing the step's other tasks for the planner
    steps_block = src.split("STEPS = {", 1)[1].split("\n}\n", 1)[0]
    assert "'score__split'" in steps_block and "'helper_tasks'" in steps_block
    assert "\n    'score__split':" not in steps_block
    compile(src, "dag.py", "exec")


@pytest.mark.airflow
def test_airflow_imports_it_and_the_planner_skips_a_reused_steps_tasks(project, tmp_path):
    src = _compound_source(project)
    dags = tmp_path / "dags"
    build([project.root / "pipe.py"], out_dir=dags)  # the runtime beside the DAG file
    (dags / "compound.py").write_text(src)
    result = airflow_python(
        f"""
        import json, sys
        sys.path.insert(0, {str(project.root)!r})
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(dags)!r})
        errors = {{k: str(v) for k, v in bag.import_errors.items()}}
        if errors:
            print(json.dumps({{"errors": errors}}))
            raise SystemExit(0)
        dag = bag.dags["compound"]
        print(json.dumps({{
            "errors": errors,
            "tasks": sorted(dag.task_dict),
            "mapped": sorted(t.task_id for t in dag.tasks if getattr(t, "expand_input", None)
                             is not None and type(t).__name__ == "MappedOperator"),
            "up": sorted(dag.get_task("score").upstream_task_ids),
            "split_up": sorted(dag.get_task("score__split").upstream_task_ids),
        }}))
        """,
        tmp_path / "home",
        dags,
    )
    assert result["errors"] == {}
    assert result["mapped"] == ["score__batches"]
    assert result["up"] == ["score__batches"]
    assert "prep" in result["split_up"]


def test_planner_skips_the_helper_tasks_with_the_step():
    from airflow.sdk.exceptions import DownstreamTasksSkipped

    from amlcompile.runtime import planner

    class Ti:
        def xcom_push(self, key, value):
            pass

    op = planner.ReusePlanOperator(task_id="plan", steps={}, datastores={})
    steps = {"score": {"kind": "python_script", "helper_tasks": ["score__split", "b"]}}
    op.steps = steps
    fake_plan = {"score": {"reuse": True, "reused_from": {"run_id": "r1"}}}
    orig = planner.compute_plan
    planner.compute_plan = lambda *a, **k: json.loads(json.dumps(fake_plan))
    try:
        op.execute({"params": {}, "ti": Ti(), "dag_run": None})
    except DownstreamTasksSkipped as e:
        assert sorted(e.tasks) == ["b", "score", "score__split"]
    else:
        raise AssertionError("nothing skipped")
    finally:
        planner.compute_plan = orig
