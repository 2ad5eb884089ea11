"""ParallelRunStep at build time: SDK v1 imports, what the DAG gets (a split task, a mapped
mini-batch task, the gathering task), and bad values reported with the file and line."""

from __future__ import annotations

import pytest

from amlcompile.compiler import check, render_files
from amlcompile.exceptions import BuildError

HEADER = """\
from azureml.core import Workspace, Dataset, Environment
from azureml.pipeline.core import Pipeline, PipelineData, PipelineParameter
from azureml.pipeline.steps import ParallelRunStep, ParallelRunConfig

ws = Workspace.from_config()
ds = ws.get_default_datastore()
files = Dataset.File.from_files(path=(ds, "inputs/files"))
out = PipelineData("scores", datastore=ds)
"""

STEP = """\
config = ParallelRunConfig(
    source_directory="scripts",
    entry_script=ENTRY,
    mini_batch_size=SIZE,
    error_threshold=10,
    output_action=ACTION,
    environment=Environment("prs"),
    compute_target="local",
    node_count=NODES,
    process_count_per_node=2,
)
step = ParallelRunStep(
    name="score",
    parallel_run_config=config,
    inputs=[files.as_named_input("files")],
    output=out,
    arguments=["--factor", 3],
)
prs = Pipeline(ws, steps=[step])
"""


def write(project, entry="'score.py'", size="5", action="'append_row'", nodes="3", header=""):
    project.write("scripts/score.py", "def init():\n    pass\n\ndef run(b):\n    return b\n")
    project.write(".amlcompile/datastores/workspaceblobstore/inputs/files/a.txt", "1")
    body = (
        STEP.replace("ENTRY", entry)
        .replace("SIZE", size)
        .replace("ACTION", action)
        .replace("NODES", nodes)
    )
    project.write("pipe.py", HEADER + header + body)
    return project.root / "pipe.py"


def line_of(project, needle: str) -> int:
    lines = (project.root / "pipe.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def problems(project, **kw) -> list[str]:
    with pytest.raises(BuildError) as info:
        check([write(project, **kw)])
    return [str(p) for p in info.value.problems]


def test_sdk_imports_build_a_split_a_mapped_task_and_the_step(project):
    (compiled,) = check([write(project)])
    (step,) = compiled.pipeline.steps
    assert step.kind == "parallel_run" and step.script == "score.py"
    assert step.parallel_run.mini_batch_size == 5
    assert step.parallel_run.batch_inputs == ("files",)
    assert step.parallel_run.error_threshold == 10
    files, _ = render_files([compiled])
    src = files["prs.py"][0].decode()
    assert "score__split = ParallelRunSplitOperator(" in src
    assert "score__batches = ParallelRunBatchOperator.partial(" in src
    assert ").expand(batches=score__split.output)" in src
    assert "score = ParallelRunGatherOperator(" in src
    assert "score__split >> score__batches" in src and "score__batches >> score" in src
    compile(src, "prs.py", "exec")


def test_contrib_module_and_amlcompile_names(project):
    header = "from azureml.contrib.pipeline.steps import ParallelRunStep as Old\n"
    header += "assert Old is ParallelRunStep\n"
    (compiled,) = check([write(project, header=header)])
    import amlcompile

    assert amlcompile.ParallelRunStep.__name__ == "ParallelRunStep"
    assert compiled.pipeline.steps[0].kind == "parallel_run"


def test_mini_batch_size_as_text_and_as_a_pipeline_parameter(project):
    (compiled,) = check([write(project, size="'20'")])
    assert compiled.pipeline.steps[0].parallel_run.mini_batch_size == 20
    (compiled,) = check([write(project, size='PipelineParameter("batch_size", 7)')])
    spec = compiled.pipeline.steps[0].parallel_run
    assert (spec.mini_batch_size, spec.mini_batch_param) == (7, "batch_size")
    assert [p.name for p in compiled.pipeline.parameters] == ["batch_size"]


@pytest.mark.parametrize(
    ("kw", "needle", "message"),
    [
        ({"size": "0"}, "ParallelRunConfig(", "mini_batch_size must be a whole number"),
        ({"size": "'ten'"}, "ParallelRunConfig(", "mini_batch_size must be a whole number"),
        ({"action": "'append'"}, "ParallelRunConfig(", "output_action must be one of"),
        ({"nodes": "0"}, "ParallelRunConfig(", "node_count must be a whole number"),
        ({"entry": "'missing.py'"}, "ParallelRunStep(", "entry_script 'missing.py' not found"),
    ],
)
def test_bad_values_are_reported_with_file_and_line(project, kw, needle, message):
    found = problems(project, **kw)
    line = line_of(project, needle)
    assert any(message in p and f"pipe.py:{line}" in p for p in found), found


# The ParallelRunStep cells of Azure/MachineLearningNotebooks
# how-to-use-azureml/machine-learning-pipelines/parallel-run/file-dataset-image-inference-mnist
# (model download and registration left out; the default datastore for the blob container).
MNIST = """\
import os
from azureml.core import Workspace, Environment, Experiment
from azureml.core.compute import AmlCompute, ComputeTarget
from azureml.core.dataset import Dataset
from azureml.core.runconfig import CondaDependencies, DEFAULT_CPU_IMAGE
from azureml.data.dataset_consumption_config import DatasetConsumptionConfig
from azureml.pipeline.core import Pipeline, PipelineData, PipelineParameter
from azureml.pipeline.steps import ParallelRunStep, ParallelRunConfig

ws = Workspace.from_config()
provisioning_config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2",
                                                            min_nodes=0, max_nodes=4)
compute_target = ComputeTarget.create(ws, "cpu-cluster", provisioning_config)
def_data_store = ws.get_default_datastore()
path_on_datastore = def_data_store.path('mnist')
input_mnist_ds = Dataset.File.from_files(path=path_on_datastore, validate=False)
pipeline_param = PipelineParameter(name="mnist_param", default_value=input_mnist_ds)
input_mnist_ds_consumption = DatasetConsumptionConfig("minist_param_config",
                                                      pipeline_param).as_mount()
output_dir = PipelineData(name="inferences", datastore=def_data_store)
scripts_folder = "Code"
script_file = "digit_identification.py"
batch_conda_deps = CondaDependencies.create(python_version="3.8",
                                            conda_packages=['pip==20.2.4'],
                                            pip_packages=["tensorflow==2.13.0", "pillow"])
batch_env = Environment(name="batch_environment")
batch_env.python.conda_dependencies = batch_conda_deps
batch_env.docker.base_image = DEFAULT_CPU_IMAGE
parallel_run_config = ParallelRunConfig(
    source_directory=scripts_folder,
    entry_script=script_file,
    mini_batch_size=PipelineParameter(name="batch_size_param", default_value="5"),
    error_threshold=10,
    output_action="append_row",
    append_row_file_name="mnist_outputs.txt",
    environment=batch_env,
    compute_target=compute_target,
    process_count_per_node=PipelineParameter(name="process_count_param", default_value=2),
    node_count=2
)
parallelrun_step = ParallelRunStep(
    name="predict-digits-mnist",
    parallel_run_config=parallel_run_config,
    inputs=[ input_mnist_ds_consumption ],
    output=output_dir,
    allow_reuse=False
)
pipeline = Pipeline(workspace=ws, steps=[parallelrun_step])
experiment = Experiment(ws, 'digit_identification')
pipeline_run = experiment.submit(pipeline)
"""


def test_the_mnist_notebook_sample_builds_for_local_runs(project):
    project.write(
        "Code/digit_identification.py", "def init():\n    pass\n\ndef run(b):\n    return b\n"
    )
    project.write(".amlcompile/datastores/workspaceblobstore/mnist/0.png", "")
    project.write("mnist.py", MNIST)
    (compiled,) = check([project.root / "mnist.py"])
    (step,) = compiled.pipeline.steps
    spec = step.parallel_run
    assert (spec.mini_batch_size, spec.mini_batch_param) == (5, "batch_size_param")
    assert (spec.node_count, spec.process_count_per_node) == (2, 2)
    assert spec.process_count_param == "process_count_param"
    assert spec.append_row_file_name == "mnist_outputs.txt" and not step.allow_reuse
    assert {p.name for p in compiled.pipeline.parameters} >= {"batch_size_param", "mnist_param"}
    files, _ = render_files([compiled], force_local=True)
    src = files[f"{compiled.pipeline.name}.py"][0].decode()
    compile(src, "mnist.py", "exec")
    assert "ParallelRunBatchOperator.partial(" in src
    # Without --local, on AmlCompute: the mapped task is a pod per worker process group; with
    # process_count_per_node a pipeline parameter there is no static bound but the split's.
    files, _ = render_files([compiled])
    src = files[f"{compiled.pipeline.name}.py"][0].decode()
    compile(src, "mnist.py", "exec")
    assert "ParallelRunBatchPodOperator.partial(" in src
    assert "ParallelRunSplitOperator(" in src and "ParallelRunGatherOperator(" in src
    assert "max_active_tis_per_dagrun" not in src
    assert "'pool': 'amlcompile-cpu-cluster'" in src


def test_tabular_inputs_take_sizes_in_bytes(project):
    header = 'files = Dataset.Tabular.from_delimited_files(path=(ds, "inputs/files/*.txt"))\n'
    (compiled,) = check([write(project, size="'10MB'", header=header)])
    spec = compiled.pipeline.steps[0].parallel_run
    assert (spec.mini_batch_size, spec.mini_batch_bytes) == (10 << 20, True)
    (compiled,) = check([write(project, size="None", header=header)])
    assert compiled.pipeline.steps[0].parallel_run.mini_batch_size == 1 << 20  # SDK default
    found = problems(project, size="'lots'", header=header)
    assert any("mini_batch_size must be a size of at least 1 byte" in p for p in found), found
    # A file dataset takes files, not bytes.
    found = problems(project, size="'1MB'")
    assert any("'1MB' are for tabular datasets" in p for p in found), found


# The ParallelRunStep cells of tabular-dataset-inference-iris (the same repository), the
# model's blob container and registration left out.
IRIS = """\
import os
from azureml.core import Workspace, Environment, Experiment
from azureml.core.compute import AmlCompute, ComputeTarget
from azureml.core.dataset import Dataset
from azureml.core.runconfig import CondaDependencies
from azureml.pipeline.core import Pipeline, PipelineData
from azureml.pipeline.steps import ParallelRunStep, ParallelRunConfig

ws = Workspace.from_config()
compute_target = ComputeTarget.create(
    ws, "cpu-cluster", AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2"))
iris_data = ws.get_default_datastore()
iris_ds_name = 'iris_data'
path_on_datastore = iris_data.path('iris/')
input_iris_ds = Dataset.Tabular.from_delimited_files(path=path_on_datastore, validate=False)
named_iris_ds = input_iris_ds.as_named_input(iris_ds_name)
datastore = ws.get_default_datastore()
output_folder = PipelineData(name='inferences', datastore=datastore)
scripts_folder = "Code"
script_file = "iris_score.py"
predict_conda_deps = CondaDependencies.create(python_version="3.8",
                                              conda_packages=['pip==20.2.4'],
                                              pin_sdk_version=False,
                                              pip_packages=["numpy==1.19.5", "pandas==1.4.4"])
predict_env = Environment(name="predict_environment")
predict_env.python.conda_dependencies = predict_conda_deps
predict_env.spark.precache_packages = False
parallel_run_config = ParallelRunConfig(
    source_directory=scripts_folder,
    entry_script=script_file,  # the user script to run against each input
    mini_batch_size='1KB',
    error_threshold=5,
    output_action='append_row',
    append_row_file_name="iris_outputs.txt",
    environment=predict_env,
    compute_target=compute_target,
    node_count=2,
    run_invocation_timeout=600
)
distributed_csv_iris_step = ParallelRunStep(
    name='example-iris',
    inputs=[named_iris_ds],
    output=output_folder,
    parallel_run_config=parallel_run_config,
    arguments=['--model_name', 'iris-prs'],
    allow_reuse=False
)
pipeline = Pipeline(workspace=ws, steps=[distributed_csv_iris_step])
pipeline_run = Experiment(ws, 'iris-prs').submit(pipeline)
"""


def test_the_iris_tabular_notebook_sample_builds_for_local_runs(project):
    project.write("Code/iris_score.py", "def init():\n    pass\n\ndef run(df):\n    return df\n")
    project.write(".amlcompile/datastores/workspaceblobstore/iris/iris.csv", "a,b\n1,2\n")
    project.write("iris.py", IRIS)
    (compiled,) = check([project.root / "iris.py"])
    spec = compiled.pipeline.steps[0].parallel_run
    assert (spec.mini_batch_size, spec.mini_batch_bytes) == (1024, True)
    assert (spec.error_threshold, spec.run_invocation_timeout, spec.node_count) == (5, 600, 2)
    files, _ = render_files([compiled], force_local=True)
    compile(files[f"{compiled.pipeline.name}.py"][0].decode(), "iris.py", "exec")


def test_a_step_named_like_a_task_of_another_step_is_refused_at_its_line(project):
    """`score__split` is the task id of the ParallelRunStep `score`'s split: a step of that
    name would be a second task with that id (Airflow refuses the file at import)."""
    from amlcompile.compiler import build

    clash = (
        "from azureml.pipeline.steps import PythonScriptStep\n"
        "other = PythonScriptStep('score.py', name='score__split', source_directory='scripts',"
        " inputs=[out])\n"
    )
    path = write(project)
    source = path.read_text().replace(
        "prs = Pipeline(ws, steps=[step])", clash + "prs = Pipeline(ws, steps=[step, other])"
    )
    path.write_text(source)
    with pytest.raises(BuildError) as info:
        build([path], out_dir=project.root / "dags_out")
    (problem,) = info.value.problems
    assert str(problem).startswith(
        f"{path.name}:{line_of(project, 'name=' + chr(39) + 'score__split')}:"
    )
    assert "'score__split'" in str(problem) and "step 'score'" in str(problem)
    assert not (project.root / "dags_out" / "prs.py").exists()
