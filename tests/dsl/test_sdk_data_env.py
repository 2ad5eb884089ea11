"""The later SDK v1 classes: Dataset.File, OutputFileDatasetConfig, RunConfiguration,
Environment and CondaDependencies, from script to IR (good and bad input)."""

from __future__ import annotations

import warnings

import pytest

from amlcompile.compiler import check
from amlcompile.dsl import environment as env_mod
from amlcompile.exceptions import BuildError
from amlcompile.ir import models as ir
from amlcompile.targets.base import static_fingerprint

HEADER = """\
from amlcompile import *
ws = Workspace.from_config()
ds = ws.get_default_datastore()
"""


def compile_one(project, body: str, config: str = "") -> ir.Pipeline:
    project.script("src/a.py")
    project.script("src/b.py")
    if config:
        project.write("amlcompile.toml", config)
    project.write("pipe.py", HEADER + body)
    (compiled,) = check([project.root / "pipe.py"])
    return compiled.pipeline


def problems_of(project, body: str, config: str = "") -> list[str]:
    with pytest.raises(BuildError) as info:
        compile_one(project, body, config)
    return [str(p) for p in info.value.problems]


def line_of(project, needle: str) -> int:
    lines = (project.root / "pipe.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


# ---- Dataset.File ----


def test_file_dataset_named_input_in_arguments_and_inputs_is_one_port(project):
    p = compile_one(
        project,
        """
raw = Dataset.File.from_files((ds, "in/raw"))
raw_in = raw.as_named_input("raw").as_download()
a = PythonScriptStep("a.py", arguments=["--raw", raw_in], inputs=[raw_in],
                     source_directory="src")
pipeline = Pipeline(ws, steps=[a])
""",
    )
    (a,) = p.steps
    assert a.inputs == (
        ir.InputPort(
            name="raw",
            source=ir.DatastoreSource(datastore="workspaceblobstore", path="in/raw"),
            mode="download",
        ),
    )
    assert a.arguments == (ir.LiteralArg(value="--raw"), ir.PortArg(port="raw"))


def test_file_dataset_lists_globs_and_datapaths_read_their_common_folder(project):
    p = compile_one(
        project,
        """
many = Dataset.File.from_files([(ds, "in/x/a.csv"), (ds, "in/x/sub/b.csv")])
glob = Dataset.File.from_files((ds, "in/y/*.csv"))
dp = Dataset.File.from_files(DataPath(ds, "in/z"))
a = PythonScriptStep("a.py", source_directory="src", arguments=[
    many.as_named_input("many").as_mount(), glob.as_mount(), dp.as_named_input("dp")])
pipeline = Pipeline(ws, steps=[a])
""",
    )
    sources = {i.name: (i.source.path, i.mode) for i in p.steps[0].inputs}
    assert sources == {"many": ("in/x", "mount"), "y": ("in/y", "mount"), "dp": ("in/z", "mount")}


def test_file_dataset_refuses_urls_and_mixed_datastores_with_the_line(project):
    probs = problems_of(
        project,
        """
bad = Dataset.File.from_files("data/data.csv")
""",
    )
    line = line_of(project, "bad = Dataset")
    assert len(probs) == 1 and f"/pipe.py:{line}: " in probs[0], probs
    assert "(datastore, 'path/on/datastore') tuples" in probs[0]
    assert "local paths are not supported" in probs[0]  # http(s) URLs are (test_tabular_dataset)
    probs = problems_of(
        project,
        """
other = Datastore(ws, "other")
mixed = Dataset.File.from_files([(ds, "a"), (other, "b")])
""",
        config='[datastores.other]\npath = "o"\n',
    )
    line = line_of(project, "mixed = ")
    assert f"/pipe.py:{line}: " in probs[0] and "one datastore" in probs[0], probs


def test_file_dataset_on_unknown_datastore_is_reported_where_it_was_made(project):
    probs = problems_of(
        project,
        """
nowhere = Datastore(ws, "nowhere")
d = Dataset.File.from_files((nowhere, "x"))
a = PythonScriptStep("a.py", source_directory="src", inputs=[d.as_named_input("d")])
pipeline = Pipeline(ws, steps=[a])
""",
    )
    # As the SDK: the lookup itself raises, where it is made.
    assert len(probs) == 1
    assert (
        f"pipe.py:{line_of(project, 'nowhere = ')}: importing the file failed:"
        " DatastoreNotFoundError: datastore 'nowhere' not found in the workspace" in probs[0]
    ), probs


# ---- OutputFileDatasetConfig ----


def test_output_file_dataset_is_an_output_port_with_a_data_edge(project):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = compile_one(
            project,
            """
other = Datastore(ws, "other")
prepared = OutputFileDatasetConfig("prepared", destination=(other, "prep/{run-id}")).as_upload()
a = PythonScriptStep("a.py", arguments=["--out", prepared], source_directory="src")
b = PythonScriptStep("b.py", arguments=["--in", prepared.as_input("prep_in")],
                     source_directory="src")
pipeline = Pipeline(ws, steps=[b])
""",
            config='[datastores.other]\npath = "o"\n',
        )
    a, b = p.steps
    assert a.outputs == (ir.OutputPort(name="prepared", datastore="other", mode="upload"),)
    assert a.arguments[1] == ir.PortArg(port="prepared")
    assert b.inputs[0].name == "prep_in"
    assert b.inputs[0].source == ir.StepOutputSource(step="a", output="prepared")
    assert [(e.upstream, e.downstream, e.kind) for e in p.edges()] == [("a", "b", "data")]
    # The destination path is not used (outputs go to a run folder): said, not dropped.
    assert any("'destination_path'" in str(w.message) for w in caught)


def test_output_file_dataset_bad_input(project):
    probs = problems_of(project, 'o = OutputFileDatasetConfig("o", destination="x")\n')
    assert f"/pipe.py:{line_of(project, 'o = ')}: " in probs[0]
    assert "destination must be (datastore, 'path')" in probs[0]
    probs = problems_of(
        project, 'o = OutputFileDatasetConfig("o")\nt = o.read_delimited_files(separator="")\n'
    )
    assert f"/pipe.py:{line_of(project, 't = ')}: " in probs[0]
    assert "read_delimited_files: separator must be text" in probs[0]


def test_output_name_names_the_port(project):
    p = compile_one(
        project,
        """
d = PipelineData("d", datastore=ds, output_name="model")
a = PythonScriptStep("a.py", outputs=[d], arguments=[d], source_directory="src")
b = PythonScriptStep("b.py", inputs=[d], arguments=[d], source_directory="src")
pipeline = Pipeline(ws, steps=[b])
""",
    )
    assert p.step("a").outputs[0].name == "model"
    assert p.step("b").inputs[0].source == ir.StepOutputSource(step="a", output="model")


# ---- RunConfiguration / Environment / CondaDependencies ----

RUNCONFIG = """
rc = RunConfiguration(conda_dependencies=CondaDependencies.create(
    pip_packages=["pandas==2.2.2"], conda_packages=["numpy"], python_version="3.11"))
rc.environment.docker.base_image = "python:3.11-slim"
rc.environment.environment_variables = {"MODE": "fast"}
rc.docker = DockerConfiguration(use_docker=True)
a = PythonScriptStep("a.py", runconfig=rc, source_directory="src", params={"p": 1})
c = CommandStep("echo $MODE", runconfig=rc)
pipeline = Pipeline(ws, steps=[a, c])
"""


def test_runconfig_gives_image_variables_and_packages(project):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env_mod._warned_local = False
        p = compile_one(project, RUNCONFIG)
    for s in p.steps:
        assert s.image == "python:3.11-slim"
        assert s.packages == ("python=3.11", "conda:numpy", "pip:pandas==2.2.2")
        assert ("MODE", ir.LiteralArg(value="fast")) in s.environment_variables
    local = [w for w in caught if w.category is env_mod.PackagesNotInstalledWarning]
    assert len(local) == 1 and "does not install them" in str(local[0].message)


def test_packages_count_in_the_fingerprint_only_when_set(project):
    p = compile_one(project, RUNCONFIG)
    a = p.step("a")
    assert static_fingerprint(a) != static_fingerprint(
        a.model_copy(update={"packages": ("pip:pandas==2.2.3",)})
    )
    bare = a.model_copy(update={"packages": ()})
    # Without packages the digest is what it was before the field existed.
    from amlcompile.runtime.reuse import FINGERPRINT_SCHEMA, digest
    from amlcompile.targets.base import token

    old = {
        "schema": FINGERPRINT_SCHEMA,
        "kind": bare.kind,
        "script": bare.script,
        "command": None,
        "shell_command": None,
        "arguments": [token(x) for x in bare.arguments],
        "env": [[k, token(v)] for k, v in bare.environment_variables],
        "outputs": [],
        "version": None,
        "code": bare.snapshot.id,
        "hash_paths": [],
        "image": bare.image,
    }
    assert static_fingerprint(bare) == digest(old)


def test_environment_from_files_and_from_config(project):
    project.write(
        "env/conda.yml",
        """\
        name: train
        channels:
          - conda-forge
        dependencies:
          - python=3.10
          - scikit-learn  # comment
          - pip:
            - joblib==1.4.2
        """,
    )
    project.write("env/requirements.txt", "# pinned\nrequests==2.32.3\n\nrich\n")
    p = compile_one(
        project,
        """
e1 = Environment.from_conda_specification("train", "env/conda.yml")
e2 = Environment.from_pip_requirements("req", "env/requirements.txt")
e3 = Environment.get(ws, "gpu")
steps = []
for i, e in enumerate([e1, e2, e3]):
    rc = RunConfiguration()
    rc.environment = e
    steps.append(PythonScriptStep("a.py", name=f"s{i}", runconfig=rc, source_directory="src"))
pipeline = Pipeline(ws, steps=steps)
""",
        config="""\
[environments.gpu]
image = "ghcr.io/acme/gpu:1"
pip_packages = ["torch==2.4.0"]
environment_variables = { CUDA_VISIBLE_DEVICES = "0" }
""",
    )
    assert p.step("s0").packages == ("python=3.10", "conda:scikit-learn", "pip:joblib==1.4.2")
    assert p.step("s1").packages == ("pip:requests==2.32.3", "pip:rich")
    s2 = p.step("s2")
    assert s2.image == "ghcr.io/acme/gpu:1" and s2.packages == ("pip:torch==2.4.0",)
    assert ("CUDA_VISIBLE_DEVICES", ir.LiteralArg(value="0")) in s2.environment_variables


def test_environment_bad_input(project):
    probs = problems_of(project, 'e = Environment.get(ws, "AzureML-sklearn-1.0")\n')
    assert f"/pipe.py:{line_of(project, 'e = ')}: " in probs[0]
    assert "environment 'AzureML-sklearn-1.0' is not configured" in probs[0]
    assert '[environments."AzureML-sklearn-1.0"]' in probs[0]  # a TOML key with dots is quoted
    project.write("bad.yml", "dependencies:\n  - numpy\nvariables:\n  X: 1\n")
    probs = problems_of(project, 'e = Environment.from_conda_specification("x", "bad.yml")\n')
    assert "bad.yml:3: unsupported conda entry 'variables:'" in probs[0], probs
    project.write("req.txt", "--index-url https://example.com\n")
    probs = problems_of(project, 'e = Environment.from_pip_requirements("x", "req.txt")\n')
    assert "req.txt:1: pip option '--index-url' is not supported" in probs[0], probs
    probs = problems_of(project, "d = CondaDependencies.create(pip_packages=[3])\n")
    assert "pip package must be a non-empty string, got 3" in probs[0]


def test_bad_environment_variables_are_reported_at_the_step(project):
    probs = problems_of(
        project,
        """
rc = RunConfiguration()
rc.environment.environment_variables = {"N": 3, "bad name": "x", "AML_PARAMETER_p": "y"}
a = PythonScriptStep("a.py", runconfig=rc, source_directory="src", params={"p": 1})
pipeline = Pipeline(ws, steps=[a])
""",
    )
    line = line_of(project, "a = Python")
    assert probs == [
        f"pipe.py:{line}: step 'a': environment variable 'AML_PARAMETER_p' is set twice",
        f"pipe.py:{line}: step 'a': environment variable 'N' must be a string, got int",
        f"pipe.py:{line}: step 'a': environment variable name 'bad name' is invalid",
    ]


def test_register_blob_container_that_disagrees_with_the_config_is_refused(project, recwarn):
    config = '[datastores.blob]\nkind = "azure_blob"\npath = "other"\nconn_id = "wasb"\n'
    probs = problems_of(
        project,
        'b = Datastore.register_azure_blob_container(ws, "blob", "c", account_name="acct")\n',
        config=config,
    )
    assert f"/pipe.py:{line_of(project, 'b = ')}: " in probs[0]
    assert "registered as azure_blob 'c' but configured as azure_blob 'other'" in probs[0]


AML_ENV = """
gpu = ComputeTarget.create(ws, "gpu", AmlCompute.provisioning_configuration(
    vm_size="Standard_D4s_v5", max_nodes=2))
env = Environment("train-env")
env.python.conda_dependencies = CondaDependencies.create(
    pip_packages=["pandas==2.2.2"], conda_packages=["scikit-learn"])
a = PythonScriptStep("a.py", runconfig=RunConfiguration(), source_directory="src",
                     compute_target=gpu)
a.runconfig.environment = env
b = PythonScriptStep("b.py", source_directory="src", compute_target=gpu,
                     runconfig=ScriptRunConfig("src", environment=env))
pipeline = Pipeline(ws, steps=[a, b])
"""


def test_packages_on_amlcompute_warn_once_per_step_that_the_image_must_have_them(project):
    env_mod._warned_image.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = compile_one(project, AML_ENV)
        compile_one(project, AML_ENV)  # a second build of the same lines: no new warning
    for s in p.steps:  # never dropped: they are the step's packages (and count for reuse)
        assert s.packages == ("conda:scikit-learn", "pip:pandas==2.2.2")
    image = [w for w in caught if w.category is env_mod.PackagesNotInstalledWarning]
    lines = (project.root / "pipe.py").read_text().splitlines()
    want = sorted(i for i, text in enumerate(lines, 1) if "= PythonScriptStep(" in text)
    assert sorted(w.lineno for w in image) == want
    assert all(w.filename.endswith("pipe.py") for w in image)
    text = str(image[0].message)
    assert "image 'python:3.11-slim'" in text  # the project's default_image
    assert "conda:scikit-learn, pip:pandas==2.2.2" in text and "installs no packages" in text


def test_amlcompute_without_packages_does_not_warn(project):
    env_mod._warned_image.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        packages = 'pip_packages=["pandas==2.2.2"], conda_packages=["scikit-learn"]'
        bare = AML_ENV.replace(packages, "")
        compile_one(project, bare)
    assert not [w for w in caught if w.category is env_mod.PackagesNotInstalledWarning]
