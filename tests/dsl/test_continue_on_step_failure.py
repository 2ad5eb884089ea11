"""continue_on_step_failure at build time: where the DAG's default comes from, and bad input."""

from __future__ import annotations

import pytest

from amlcompile.compiler import check
from amlcompile.exceptions import BuildError, UserErrorException

HEADER = """\
from amlcompile import *
ws = Workspace.from_config()
step = CommandStep(command=["echo", "hi"], name="hi", source_directory="src")
pipeline = Pipeline(ws, steps=[step])
"""


def build(project, body: str):
    project.script("src/x.py")
    project.write("pipe.py", HEADER + body)
    (compiled,) = check([project.root / "pipe.py"])
    return compiled.pipeline


def refused(project, body: str) -> str:
    with pytest.raises((BuildError, UserErrorException)) as err:
        build(project, body)
    return str(err.value)


@pytest.mark.parametrize(
    "body, expected",
    [
        ("", False),  # Azure ML's default: stop at the first failed step
        ('pipeline.publish("p", continue_on_step_failure=True)\n', True),
        ('Experiment(ws, "e").submit(pipeline, continue_on_step_failure=True)\n', True),
        ('pipeline.submit("e", continue_on_step_failure=True)\n', True),
        ('Experiment(ws, "e").submit(pipeline, continue_on_step_failure=False)\n', False),
        # Pipeline.submit's default (False) does not contradict a publish with True.
        ('pipeline.submit("e")\npipeline.publish("p", continue_on_step_failure=True)\n', True),
        (
            'published = pipeline.publish("p")\n'
            'Schedule.create(ws, name="s", pipeline_id=published.id, experiment_name="e",\n'
            '                recurrence=ScheduleRecurrence(frequency="Day", interval=1),\n'
            "                continue_on_step_failure=True)\n",
            True,
        ),
    ],
)
def test_where_the_default_comes_from(project, body, expected):
    assert build(project, body).continue_on_step_failure is expected


def test_the_decorator_form(project):
    project.script("src/x.py")
    project.write(
        "pipe.py",
        """\
from amlcompile import CommandStep, pipeline

@pipeline(continue_on_step_failure=True)
def tolerant():
    CommandStep(command=["echo", "hi"], name="hi", source_directory="src")
""",
    )
    (compiled,) = check([project.root / "pipe.py"])
    assert compiled.pipeline.continue_on_step_failure is True


def test_disagreeing_calls_name_both_lines(project):
    text = refused(
        project,
        'pipeline.publish("p", continue_on_step_failure=True)\n'
        'Experiment(ws, "e").submit(pipeline, continue_on_step_failure=False)\n',
    )
    assert "pipe.py:6: Experiment.submit: continue_on_step_failure=False disagrees with" in text
    assert "continue_on_step_failure=True at " in text and "pipe.py:5" in text


@pytest.mark.parametrize(
    "call",
    [
        'pipeline.publish("p", continue_on_step_failure="yes")',
        'Experiment(ws, "e").submit(pipeline, continue_on_step_failure=1)',
    ],
)
def test_a_value_that_is_not_a_bool_is_refused_with_its_line(project, call):
    text = refused(project, call + "\n")
    assert "pipe.py:5:" in text and "continue_on_step_failure must be True or False" in text


def test_the_param_name_is_reserved(project):
    text = refused(
        project,
        'p = PipelineParameter("continue_on_step_failure", default_value=True)\n'
        'pipeline = Pipeline(ws, steps=[CommandStep(command=["echo", p], name="x",'
        ' source_directory="src")])\n',
    )
    assert "pipeline parameter name 'continue_on_step_failure' is reserved" in text
