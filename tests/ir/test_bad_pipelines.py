"""SPEC section 6: bad pipelines are refused at build with every error, file and line."""

from __future__ import annotations

import pytest

from amlcompile.compiler import build, check
from amlcompile.exceptions import BuildError
from tests.conftest import amlcompile_cli

HEADER = """\
from amlcompile import *
ws = Workspace.from_config()
ds = ws.get_default_datastore()
"""


def problems_of(project, body: str) -> list[str]:
    project.script("scripts/a.py")
    project.script("scripts/b.py")
    project.write("pipe.py", HEADER + body)
    with pytest.raises(BuildError) as info:
        check([project.root / "pipe.py"])
    return [str(p) for p in info.value.problems]


def line_of(project, needle: str) -> int:
    lines = (project.root / "pipe.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_cycle_is_refused_with_its_path(project):
    probs = problems_of(
        project,
        """
a = PythonScriptStep(name="a", script_name="a.py", source_directory="scripts")
b = PythonScriptStep(name="b", script_name="b.py", source_directory="scripts")
a.run_after(b)
b.run_after(a)
p = Pipeline(ws, steps=[a, b])
""",
    )
    assert any(
        "cycle between steps" in p and "a -> b -> a" in p or "b -> a -> b" in p for p in probs
    ), probs


def test_input_nobody_produces(project):
    probs = problems_of(
        project,
        """
orphan = PipelineData("orphan", datastore=ds)
a = PythonScriptStep(name="a", script_name="a.py", source_directory="scripts",
                     arguments=["--in", orphan], inputs=[orphan])
p = Pipeline(ws, steps=[a])
""",
    )
    assert probs == [
        f"pipe.py:{line_of(project, 'a = Python')}: step 'a': input 'orphan' is"
        " produced by no step (list it in the outputs of the step that writes it)"
    ]


def test_two_producers_of_one_output(project):
    probs = problems_of(
        project,
        """
out = PipelineData("out", datastore=ds)
a = PythonScriptStep(name="a", script_name="a.py", source_directory="scripts", outputs=[out])
b = PythonScriptStep(name="b", script_name="b.py", source_directory="scripts", outputs=[out])
c = PythonScriptStep(name="c", script_name="a.py", source_directory="scripts", inputs=[out])
p = Pipeline(ws, steps=[a, b, c])
""",
    )
    assert any("has more than one producer" in p and "'a', 'b'" in p for p in probs), probs


def test_every_error_at_once_with_lines(project):
    probs = problems_of(
        project,
        """
a = PythonScriptStep(name="same", script_name="a.py", source_directory="scripts",
                     compute_target="no-such-cluster")
b = PythonScriptStep(name="same", script_name="missing.py", source_directory="scripts",
                     arguments=[PipelineParameter("bad", default_value=[1, 2])])
p = Pipeline(ws, steps=[a, b])
""",
    )
    text = "\n".join(probs)
    assert (
        f"pipe.py:{line_of(project, 'a = Python')}: step 'same': unknown compute target"
        " 'no-such-cluster'" in text
    )
    assert f"pipe.py:{line_of(project, 'b = Python')}: duplicate step name 'same'" in text
    assert "script 'missing.py' not found" in text
    assert (
        f"pipe.py:{line_of(project, 'arguments=[PipelineParameter')}: pipeline parameter"
        " 'bad': default of type list is not supported" in text
    )


def test_datastore_lookup_of_an_unknown_name_raises_where_it_is_made(project):
    """As in the SDK, so `try: Datastore.get(...) except: register(...)` registers."""
    probs = problems_of(
        project,
        """
try:
    store = Datastore.get(ws, "lake")
except Exception:
    store = Datastore.register_azure_blob_container(ws, "lake", "raw", "acct")
a = PythonScriptStep(name="a", script_name="a.py", source_directory="scripts",
                     outputs=[PipelineData("x", datastore=Datastore(ws, "nowhere"))])
p = Pipeline(ws, steps=[a])
""",
    )
    assert len(probs) == 1, probs
    assert (
        f"pipe.py:{line_of(project, 'outputs=[PipelineData')}: importing the file failed:"
        " DatastoreNotFoundError: datastore 'nowhere' not found" in probs[0]
    )


def test_unknown_compute_object_name_from_ws_lookup(project):
    project.write("pipe.py", HEADER + "ComputeTarget(workspace=ws, name='nope')\n")
    with pytest.raises(BuildError) as info:
        check([project.root / "pipe.py"])
    assert "ComputeTargetException" in str(info.value) and "pipe.py:4" in str(info.value)


def test_missing_script_and_source_directory(project):
    probs = problems_of(
        project,
        """
a = PythonScriptStep(name="a", script_name="a.py", source_directory="no_such_dir")
p = Pipeline(ws, steps=[a])
""",
    )
    assert any("source_directory 'no_such_dir' does not exist" in p for p in probs)


def test_decorator_parameter_without_default(project):
    project.write(
        "pipe.py",
        """\
from amlcompile import pipeline

@pipeline
def nodefault(n: int):
    pass
""",
    )
    with pytest.raises(BuildError) as info:
        check([project.root / "pipe.py"])
    assert "pipe.py:3: pipeline 'nodefault': parameter 'n' needs a default value" in str(info.value)


def test_syntax_error_in_user_file_names_the_line(project):
    project.write("pipe.py", "from amlcompile import Pipeline\nx = (\n")
    with pytest.raises(BuildError) as info:
        check([project.root / "pipe.py"])
    # Where the parser stopped: the line and column, not line 0 (issue 19).
    assert str(info.value) == (
        f"{project.root / 'pipe.py'}:2: syntax error: '(' was never closed (column 5)"
    )


def test_failed_build_leaves_dags_out_untouched(project):
    project.script("scripts/a.py")
    project.write(
        "good.py",
        HEADER
        + """
a = PythonScriptStep(name="a", script_name="a.py", source_directory="scripts")
good = Pipeline(ws, steps=[a])
""",
    )
    out = project.root / "dags_out"
    build([project.root / "good.py"], out_dir=out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    project.write(
        "bad.py",
        HEADER
        + """
b = PythonScriptStep(name="b", script_name="gone.py", source_directory="scripts")
bad = Pipeline(ws, steps=[b])
""",
    )
    (project.root / "scripts" / "a.py").write_text("print('changed')\n")
    result = amlcompile_cli("build", project.root, "--out", out, cwd=project.root)
    assert result.returncode == 2
    assert "bad.py:5: step 'b': script 'gone.py' not found" in result.stderr
    assert "Traceback" not in result.stderr
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_pipeline_data_only_in_arguments_of_two_steps_is_ambiguous(project):
    probs = problems_of(
        project,
        """
d = PipelineData("d", datastore=ds)
writer = PythonScriptStep("a.py", arguments=["--out", d], source_directory="scripts")
reader = PythonScriptStep("b.py", arguments=["--in", d], source_directory="scripts")
pipeline = Pipeline(ws, steps=[reader])
""",
    )
    assert probs == [
        f"pipe.py:{line_of(project, 'd = PipelineData')}: PipelineData 'd' appears only in the"
        " arguments of steps 'a', 'b': list it in outputs= of the step that writes it and in"
        " inputs= of the steps that read it (as SDK v1 requires)"
    ] or probs == [p.replace("'a', 'b'", "'b', 'a'") for p in probs]


def test_two_producers_of_one_output_nobody_reads(project):
    """SPEC 6: two producers of one output are refused even when no step reads it."""
    probs = problems_of(
        project,
        """
out = PipelineData("out", datastore=ds)
a = PythonScriptStep(name="a", script_name="a.py", source_directory="scripts",
                     arguments=["--out", out], outputs=[out])
b = PythonScriptStep(name="b", script_name="b.py", source_directory="scripts",
                     arguments=["--out", out], outputs=[out])
p = Pipeline(ws, steps=[a, b])
""",
    )
    assert probs == [
        f"pipe.py:{line_of(project, 'out = PipelineData')}: PipelineData 'out' has more than"
        " one producer: 'a', 'b'"
    ]


def test_cycle_made_by_run_after_is_reported_at_the_call_that_closes_it(project):
    probs = problems_of(
        project,
        """
a = PythonScriptStep(name="a", script_name="a.py", source_directory="scripts")
b = PythonScriptStep(name="b", script_name="b.py", source_directory="scripts")
c = PythonScriptStep(name="c", script_name="a.py", source_directory="scripts")
b.run_after(a)
c.run_after(b)
a.run_after(c)  # closes the cycle
p = Pipeline(ws, steps=[a, b, c])
""",
    )
    cycles = [p for p in probs if "cycle between steps" in p]
    assert len(cycles) == 1, probs
    assert cycles[0].startswith(f"pipe.py:{line_of(project, 'closes the cycle')}: "), cycles
    assert "a -> b -> c -> a" in cycles[0] or "c -> a -> b -> c" in cycles[0], cycles


def test_cycle_through_data_and_run_after_is_reported_at_the_run_after_call(project):
    probs = problems_of(
        project,
        """
x = PipelineData("x", datastore=ds)
a = PythonScriptStep(name="a", script_name="a.py", source_directory="scripts",
                     arguments=["--out", x], outputs=[x])
b = PythonScriptStep(name="b", script_name="b.py", source_directory="scripts",
                     arguments=["--in", x], inputs=[x])
a.run_after(b)  # closes the cycle
p = Pipeline(ws, steps=[a, b])
""",
    )
    cycles = [p for p in probs if "cycle between steps" in p]
    assert len(cycles) == 1, probs
    assert cycles[0].startswith(f"pipe.py:{line_of(project, 'closes the cycle')}: "), cycles
