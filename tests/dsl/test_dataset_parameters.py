"""Datasets chosen at trigger time (DatasetConsumptionConfig over a PipelineParameter whose
default is a FileDataset), PipelineData's dataset views, and Environment.register/get."""

from __future__ import annotations

import pytest

from amlcompile.ir import models as ir
from tests.dsl.test_sdk_data_env import compile_one


def test_dataset_parameter_is_an_input_chosen_at_trigger_time(project):
    p = compile_one(
        project,
        """
default = Dataset.File.from_files((ds, "data/train"))
param = PipelineParameter(name="training_data", default_value=default)
train_input = DatasetConsumptionConfig("train_ds", param).as_download()
a = PythonScriptStep("a.py", source_directory="src", arguments=["--data", train_input],
                     inputs=[train_input])
b = PythonScriptStep("b.py", source_directory="src",
                     arguments=["--data", DatasetConsumptionConfig("other", param)])
pipeline = Pipeline(ws, steps=[a, b])
""",
    )
    (parameter,) = p.parameters
    assert (parameter.name, parameter.type, parameter.default) == (
        "training_data",
        "string",
        "data/train",
    )
    (port,) = p.step("a").inputs
    assert port.name == "train_ds" and port.mode == "download"
    assert port.source == ir.DatastoreSource(
        datastore="workspaceblobstore", path="data/train", param="training_data"
    )
    assert p.step("a").arguments[1] == ir.PortArg(port="train_ds")
    assert p.step("b").inputs[0].source.param == "training_data"


def test_a_bare_dataset_parameter_in_arguments_is_an_input_too(project):
    p = compile_one(
        project,
        """
param = PipelineParameter("scoring", default_value=Dataset.File.from_files((ds, "score/")))
a = PythonScriptStep("a.py", source_directory="src", arguments=["--in", param])
pipeline = Pipeline(ws, steps=[a])
""",
    )
    (port,) = p.step("a").inputs
    assert port.source.param == "scoring" and port.source.path == "score"


def test_a_dataset_parameter_needs_a_file_dataset_default(project):
    project.script("src/a.py")
    project.write(
        "pipe.py",
        "from amlcompile import *\n"
        'DatasetConsumptionConfig("d", PipelineParameter("p", default_value="x"))\n',
    )
    from amlcompile.compiler import check
    from amlcompile.exceptions import BuildError

    with pytest.raises(BuildError) as info:
        check([project.root / "pipe.py"])
    assert "pipe.py:2:" in str(info.value)
    assert "default_value must be a file dataset (Dataset.File.from_files(...)), got str" in str(
        info.value
    )


def test_pipeline_data_dataset_views_keep_the_edge(project):
    p = compile_one(
        project,
        """
prepped = PipelineData("prepped", datastore=ds).as_dataset()
a = PythonScriptStep("a.py", source_directory="src", outputs=[prepped],
                     arguments=["--out", prepped])
parquet = prepped.parse_parquet_files()
csv = prepped.parse_delimited_files()
b = PythonScriptStep("b.py", source_directory="src",
                     inputs=[parquet.as_named_input("features").as_download()],
                     arguments=["--csv", csv])
pipeline = Pipeline(ws, steps=[b])
""",
    )
    assert [s.name for s in p.steps] == ["a", "b"]
    sources = {port.name: (port.source, port.mode) for port in p.step("b").inputs}
    assert sources["features"] == (
        ir.StepOutputSource(step="a", output="prepped"),
        "download",
    )


def test_environment_register_then_get_returns_the_registered_one(project):
    p = compile_one(
        project,
        """
env = Environment("my-env")
env.docker.base_image = "registry.example/train:1"
env.python.conda_dependencies = CondaDependencies.create(pip_packages=["scikit-learn"])
registered = env.register(ws)
again = Environment("my-env")
again.docker.base_image = "registry.example/train:2"
again.register(ws)
found = Environment.get(ws, "my-env")
assert found.version == "2" and registered.version == "1"
assert "my-env" in Environment.list(ws)
a = PythonScriptStep("a.py", source_directory="src",
                     runconfig=ScriptRunConfig("src", environment=Environment.get(ws, "my-env")))
pipeline = Pipeline(ws, steps=[a])
""",
    )
    assert p.step("a").image == "registry.example/train:2"


def test_environment_get_of_an_unregistered_name_still_says_what_to_configure(project):
    from amlcompile.exceptions import BuildError

    with pytest.raises(BuildError, match="environment 'nope' is not configured"):
        compile_one(project, 'Environment.get(ws, "nope")\n')
