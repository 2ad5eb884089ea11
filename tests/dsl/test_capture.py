"""DSL → IR: the SDK v1 idioms real scripts rely on."""

from __future__ import annotations

from amlcompile.compiler import check
from amlcompile.ir import models as ir

HEADER = """\
from amlcompile import *
ws = Workspace.from_config()
ds = ws.get_default_datastore()
"""


def compile_one(project, body: str) -> ir.Pipeline:
    for name in ("a", "b", "c", "sub/d"):
        project.script(f"src/{name}.py")
    project.write("pipe.py", HEADER + body)
    (compiled,) = check([project.root / "pipe.py"])
    return compiled.pipeline


def test_data_in_arguments_only_and_closure_from_last_step(project):
    p = compile_one(
        project,
        """
raw = DataReference(ds, "raw", "in/raw.csv")
mid = PipelineData("mid", datastore=ds)
out = PipelineData("out", datastore=ds)
a = PythonScriptStep("a.py", arguments=["--raw", raw, "--mid", mid], source_directory="src")
b = PythonScriptStep("b.py", arguments=["--mid", mid, "--out", out], inputs=[mid], outputs=[out],
                     source_directory="src")
pipeline = Pipeline(ws, steps=[b])
""",
    )
    assert [s.name for s in p.steps] == ["a", "b"]
    a, b = p.steps
    assert [x.name for x in a.outputs] == ["mid"]
    assert a.inputs[0].source == ir.DatastoreSource(
        datastore="workspaceblobstore", path="in/raw.csv"
    )
    assert b.inputs[0].source == ir.StepOutputSource(step="a", output="mid")
    assert [e.model_dump() for e in p.edges()] == [
        {"upstream": "a", "downstream": "b", "kind": "data"}
    ]
    assert p.name == "pipeline"


def test_nested_lists_step_sequence_and_run_after(project):
    p = compile_one(
        project,
        """
a = PythonScriptStep("a.py", source_directory="src")
b = PythonScriptStep("b.py", source_directory="src")
c = PythonScriptStep("c.py", source_directory="src")
d = PythonScriptStep("sub/d.py", source_directory="src")
d.run_after(a)
seq = StepSequence(steps=[a, [b, c]])
pipeline = Pipeline(ws, steps=[[seq], d])
""",
    )
    edges = {(e.upstream, e.downstream, e.kind) for e in p.edges()}
    assert edges == {("a", "b", "order"), ("a", "c", "order"), ("a", "d", "order")}
    assert p.step("d").script == "sub/d.py"


def test_unnamed_steps_are_named_after_scripts_and_made_unique(project):
    p = compile_one(
        project,
        """
s1 = PythonScriptStep("a.py", source_directory="src")
s2 = PythonScriptStep("a.py", source_directory="src")
s3 = PythonScriptStep("b.py", name="Hello World", source_directory="src")
pipeline = Pipeline(ws, steps=[s1, s2, s3])
""",
    )
    assert [s.name for s in p.steps] == ["a", "a_2", "Hello_World"]


def test_parameters_typed_from_defaults(project):
    p = compile_one(
        project,
        """
args = [PipelineParameter("i", 1), PipelineParameter("f", 0.5), PipelineParameter("b", True),
        PipelineParameter("s", "x")]
pipeline = Pipeline(ws, steps=[PythonScriptStep("a.py", arguments=args, source_directory="src")])
""",
    )
    assert {x.name: x.type for x in p.parameters} == {
        "i": "integer",
        "f": "number",
        "b": "boolean",
        "s": "string",
    }


def test_compute_given_by_name_and_target_alias(project):
    project.write(
        "amlcompile.toml",
        """
[compute.gpu]
kind = "amlcompute"
vm_size = "STANDARD_NC6"
max_nodes = 4
""",
    )
    p = compile_one(
        project,
        """
a = PythonScriptStep("a.py", source_directory="src", compute_target="gpu")
b = PythonScriptStep("b.py", source_directory="src", target=ws.compute_targets["gpu"])
pipeline = Pipeline(ws, steps=[a, b])
""",
    )
    assert {s.compute for s in p.steps} == {"gpu"}
    assert p.computes[0].model_dump() == {
        "name": "gpu",
        "kind": "amlcompute",
        "vm_size": "STANDARD_NC6",
        "resources": None,
        "min_nodes": None,
        "max_nodes": 4,
        "conn_id": None,
        "account_name": None,
        "queue": None,
        "location": {"file": "amlcompile.toml", "line": 0},
    }


def test_amlignore_excludes_files_from_snapshot(project):
    project.write("src/.amlignore", "scratch/\n*.log\n!keep.log\n")
    project.write("src/scratch/big.bin", "x")
    project.write("src/run.log", "x")
    project.write("src/keep.log", "x")
    p = compile_one(
        project,
        "pipeline = Pipeline(ws, steps=[PythonScriptStep('a.py', source_directory='src')])\n",
    )
    files = [f.path for f in p.step("a").snapshot.files]
    assert "scratch/big.bin" not in files and "run.log" not in files
    assert "keep.log" in files and "a.py" in files


def test_submit_and_publish_only_register_during_build(project):
    p = compile_one(
        project,
        """
pipeline1 = Pipeline(ws, steps=[PythonScriptStep("a.py", source_directory="src")])
run = Experiment(ws, "Exp").submit(pipeline1)
run.wait_for_completion(show_output=True)
run.publish_pipeline(name="Published_Name", description="desc", version="1.0")
""",
    )
    assert p.name == "Published_Name" and p.description == "desc"


def test_decorator_form_creates_steps_and_params(project):
    project.write(
        "pipe.py",
        """\
import json
from amlcompile import Input, Output, pipeline, step

@step
def make(out: Output, n: int = 2):
    open(out + "/x.json", "w").write(json.dumps(list(range(n))))

@step
def use(data: Input, result: Output, scale: float = 1.0):
    pass

@pipeline(description="demo")
def demo(n: int = 3, scale: float = 2.5):
    made = make(n=n)
    use(made, scale=scale)
    use(made)
""",
    )
    (compiled,) = check([project.root / "pipe.py"])
    p = compiled.pipeline
    assert [s.name for s in p.steps] == ["make", "use", "use_2"]
    assert [(x.name, x.type, x.default) for x in p.parameters] == [
        ("n", "integer", 3),
        ("scale", "number", 2.5),
    ]
    gen = dict(p.step("use").snapshot.generated)
    script = gen["_amlcompile_step_use.py"]
    assert "@step" not in script and "import json" in script and "def use(" in script
    compile(script, "gen", "exec")


def test_closure_follows_data_inside_a_command_list(project):
    p = compile_one(
        project,
        """
d = PipelineData("d", datastore=ds)
writer = PythonScriptStep("a.py", name="writer", outputs=[d], arguments=["--out", d],
                          source_directory="src")
reader = CommandStep(command=["python", "b.py", "--in", d], source_directory="src")
pipeline = Pipeline(ws, steps=[reader])
""",
    )
    assert [s.name for s in p.steps] == ["writer", "command"]
    assert p.step("command").command[-1] == ir.PortArg(port="d")
    assert [(e.upstream, e.downstream) for e in p.edges()] == [("writer", "command")]


def test_consumer_names_the_producers_port_as_the_producer_does(project):
    """An arguments-only output whose name an input already took is renamed consistently."""
    p = compile_one(
        project,
        """
d_up = PipelineData("d", datastore=ds)
d_out = PipelineData("d", datastore=ds)
up = PythonScriptStep("a.py", name="up", outputs=[d_up], source_directory="src")
mid = PythonScriptStep("b.py", name="mid", inputs=[d_up], source_directory="src",
                       arguments=["--in", d_up, "--out", d_out])
last = PythonScriptStep("c.py", name="last", inputs=[d_out], source_directory="src")
pipeline = Pipeline(ws, steps=[last])
""",
    )
    mid = p.step("mid")
    (out,) = mid.outputs
    (inp,) = p.step("last").inputs
    assert inp.source == ir.StepOutputSource(step="mid", output=out.name)
    assert {x.name for x in mid.inputs} | {out.name} == {"d", "d_2"}
