"""Distributed training (MpiStep, ScriptRunConfig(distributed_job_config=), RunConfiguration
node_count / mpi / pytorch / tensorflow): DSL → IR, fingerprints, and bad input refused at
build with file:line."""

from __future__ import annotations

import pytest

from amlcompile.compiler import check, render_files
from amlcompile.exceptions import BuildError, UserErrorException

HEADER = """\
from azureml.core import Workspace, ScriptRunConfig
from azureml.core.compute import ComputeTarget, AmlCompute, DatabricksCompute
from azureml.core.runconfig import (MpiConfiguration, PyTorchConfiguration,
                                    TensorflowConfiguration, RunConfiguration)
from azureml.pipeline.core import Pipeline, PipelineParameter
from azureml.pipeline.steps import CommandStep, DatabricksStep, MpiStep, PythonScriptStep
ws = Workspace.from_config()
gpu = ComputeTarget.create(ws, "gpu", AmlCompute.provisioning_configuration(
    vm_size="STANDARD_NC6S_V3", max_nodes=4))
dbx = ComputeTarget.attach(ws, "dbx", DatabricksCompute.attach_configuration(
    resource_group="rg", workspace_name="w"))
"""

CONFIG = """
[compute.dbx]
kind = "databricks"
conn_id = "dbx_conn"
"""


def write(project, body: str):
    project.write("amlcompile.toml", CONFIG)
    project.script("src/train.py")
    project.write("pipe.py", HEADER + body)
    return project.root / "pipe.py"


def compile_one(project, body: str):
    (compiled,) = check([write(project, body)])
    return compiled


def problems_of(project, body: str) -> list[str]:
    with pytest.raises(BuildError) as info:
        render_files(check([write(project, body)]))
    return [str(p) for p in info.value.problems]


def line_of(project, needle: str) -> int:
    lines = (project.root / "pipe.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_each_sdk_form_becomes_a_distributed_spec(project):
    compiled = compile_one(
        project,
        """
mpi = MpiStep(name="mpi", source_directory="src", script_name="train.py", arguments=["-v"],
              compute_target=gpu, node_count=2, process_count_per_node=4,
              pip_packages=["horovod"], custom_docker_image="horovod/horovod:0.28.1")
src = ScriptRunConfig("src", script="train.py", compute_target=gpu,
                      distributed_job_config=PyTorchConfiguration(process_count=8, node_count=2))
torch = CommandStep(name="torch", runconfig=src)
tf = CommandStep(name="tf", runconfig=ScriptRunConfig("src", script="train.py",
                 compute_target=gpu, distributed_job_config=TensorflowConfiguration(3, 1)))
rc = RunConfiguration()
rc.node_count = 2
rc.communicator = "IntelMpi"
rc.mpi.process_count_per_node = 2
plain = PythonScriptStep("train.py", name="rc", source_directory="src", compute_target=gpu,
                         runconfig=rc)
one = CommandStep(name="one", runconfig=ScriptRunConfig("src", script="train.py",
                  compute_target=gpu, distributed_job_config=MpiConfiguration()))
p = Pipeline(ws, steps=[mpi, torch, tf, plain, one])
""",
    )
    steps = {s.name: s for s in compiled.pipeline.steps}
    d = {name: s.distributed for name, s in steps.items()}
    assert (d["mpi"].kind, d["mpi"].node_count, d["mpi"].process_count_per_node) == ("mpi", 2, 4)
    assert steps["mpi"].image == "horovod/horovod:0.28.1"
    assert "pip:horovod" in steps["mpi"].packages
    assert steps["mpi"].kind == "python_script" and steps["mpi"].script == "train.py"
    assert (d["torch"].kind, d["torch"].node_count, d["torch"].process_count_per_node) == (
        "pytorch",
        2,
        4,
    )
    assert d["torch"].backend == "nccl"
    assert (d["tf"].kind, d["tf"].node_count, d["tf"].parameter_server_count) == (
        "tensorflow",
        4,
        1,
    )
    assert (d["rc"].kind, d["rc"].world_size) == ("mpi", 4)
    assert d["one"] is None  # one process: an ordinary step


def _fingerprint(project, config: str) -> str:
    from amlcompile.targets.base import static_fingerprint

    compiled = compile_one(
        project,
        f"""
src = ScriptRunConfig("src", script="train.py", compute_target=gpu,
                      distributed_job_config={config})
p = Pipeline(ws, steps=[CommandStep(name="s", runconfig=src)])
""",
    )
    return static_fingerprint(compiled.pipeline.step("s"))


def test_node_count_is_scheduling_but_the_kind_is_not(project):
    base = _fingerprint(project, "MpiConfiguration(2, 2)")
    assert _fingerprint(project, "MpiConfiguration(1, 4)") == base
    assert _fingerprint(project, "MpiConfiguration(4, 1)") == base
    assert _fingerprint(project, "PyTorchConfiguration(node_count=4)") != base
    gloo = _fingerprint(project, "PyTorchConfiguration('Gloo', node_count=4)")
    assert gloo != _fingerprint(project, "PyTorchConfiguration(node_count=4)")
    single = _fingerprint(project, "None")
    assert _fingerprint(project, "MpiConfiguration()") == single


@pytest.mark.parametrize(
    ("body", "needle", "message"),
    [
        (
            's = MpiStep(name="s", source_directory="src", script_name="train.py",'
            " compute_target=gpu, node_count=0)",
            "MpiStep(",
            "MpiConfiguration node_count must be a positive int, got 0",
        ),
        (
            's = MpiStep(name="s", source_directory="src", script_name="train.py",'
            ' compute_target=gpu, node_count=2, process_count_per_node="4")',
            "MpiStep(",
            "MpiConfiguration process_count_per_node must be a positive int, got '4'",
        ),
        (
            "cfg = PyTorchConfiguration(process_count=-2, node_count=1)\n"
            's = CommandStep(name="s", runconfig=ScriptRunConfig("src", script="train.py",'
            " compute_target=gpu, distributed_job_config=cfg))",
            "cfg = PyTorchConfiguration(",
            "PyTorchConfiguration process_count must be a positive int, got -2",
        ),
        (
            "cfg = PyTorchConfiguration(process_count=3, node_count=2)\n"
            's = CommandStep(name="s", runconfig=ScriptRunConfig("src", script="train.py",'
            " compute_target=gpu, distributed_job_config=cfg))",
            "cfg = PyTorchConfiguration(",
            "process_count 3 is not a multiple of node_count 2",
        ),
        (
            "cfg = PyTorchConfiguration('Mpi', node_count=2)\n"
            's = CommandStep(name="s", runconfig=ScriptRunConfig("src", script="train.py",'
            " compute_target=gpu, distributed_job_config=cfg))",
            "cfg = PyTorchConfiguration(",
            "communication_backend must be 'Nccl' or 'Gloo', got 'Mpi'",
        ),
        (
            "cfg = TensorflowConfiguration(worker_count=2.5)\n"
            's = CommandStep(name="s", runconfig=ScriptRunConfig("src", script="train.py",'
            " compute_target=gpu, distributed_job_config=cfg))",
            "cfg = TensorflowConfiguration(",
            "TensorflowConfiguration worker_count must be a positive int, got 2.5",
        ),
        (
            's = MpiStep(name="s", source_directory="src", script_name="train.py",'
            ' compute_target=gpu, node_count=PipelineParameter("n", default_value=2))',
            "MpiStep(",
            "a PipelineParameter cannot size a step",
        ),
        (
            's = MpiStep(name="s", source_directory="src", script_name="train.py",'
            " compute_target=gpu, node_count=8)",
            "s = MpiStep(",
            "runs on 8 nodes at once but compute target 'gpu' has max_nodes 4",
        ),
        (
            's = MpiStep(name="s", source_directory="src", script_name="train.py",'
            " compute_target=dbx, node_count=2)",
            "s = MpiStep(",
            "distributed training (mpi) needs an AmlCompute or local compute target, not 'dbx'",
        ),
        (
            "rc = RunConfiguration()\nrc.node_count = 2\n"
            's = DatabricksStep("nb", notebook_path="/nb", existing_cluster_id="c",'
            " compute_target=dbx, runconfig=rc)",
            "s = DatabricksStep(",
            "a databricks step cannot be distributed (mpi, 2 processes)",
        ),
    ],
)
def test_bad_distribution_is_a_build_error_with_location(project, body, needle, message):
    probs = problems_of(project, f"{body}\np = Pipeline(ws, steps=[s])\n")
    line = line_of(project, needle)
    assert any(message in p and f"pipe.py:{line}:" in p for p in probs), probs


def test_mpi_step_takes_the_sdk_arguments_by_position(project):
    from amlcompile import MpiStep

    step = MpiStep("s", "src", "train.py", ["--lr", 1], None, 2, 3)
    assert (step.name, step.source_directory, step.script_name) == ("s", "src", "train.py")
    assert step.arguments == ["--lr", 1]
    assert (step.node_count, step.process_count_per_node) == (2, 3)
    assert step.runconfig.mpi.node_count == 2
    with pytest.raises(TypeError, match="nodes"):
        MpiStep("s", "src", "train.py", nodes=2)


def test_max_run_duration_is_the_tasks_timeout(project):
    compiled = compile_one(
        project,
        """
src = ScriptRunConfig("src", script="train.py", max_run_duration_seconds=600)
p = Pipeline(ws, steps=[CommandStep(name="s", runconfig=src)])
""",
    )
    assert compiled.pipeline.step("s").settings.execution_timeout == 600


def test_generated_dag_is_ruff_clean(project):
    import os
    import shutil
    import subprocess
    import sys

    from amlcompile.compiler import build

    write(
        project,
        """
mpi = MpiStep(name="mpi", source_directory="src", script_name="train.py", compute_target=gpu,
              node_count=2, process_count_per_node=2)
tf = CommandStep(name="tf", runconfig=ScriptRunConfig("src", script="train.py",
                 distributed_job_config=TensorflowConfiguration(2, 1)))
p = Pipeline(ws, steps=[mpi, tf], name="dist")
""",
    )
    out = project.root / "dags_out"
    build([project.root / "pipe.py"], out_dir=out)
    (dag,) = out.glob("*.py")
    text = dag.read_text()
    assert "AmlJobOperator(" in text and "LocalStepOperator(" in text
    ruff = shutil.which("ruff") or os.path.join(os.path.dirname(sys.executable), "ruff")
    result = subprocess.run(
        [ruff, "check", "--isolated", "--select", "E,F,W,I,B,UP", "--line-length", "100", dag],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_mpi_step_environment_keywords_are_honoured_or_warned(project, monkeypatch):
    from amlcompile.dsl import warnings as warn_mod

    monkeypatch.setattr(warn_mod, "_seen", set())
    with pytest.warns(warn_mod.AzureOnlyArgumentWarning, match="use_gpu"):
        compiled = compile_one(
            project,
            """
s = MpiStep(name="s", source_directory="src", script_name="train.py", compute_target=gpu,
            node_count=2, environment_variables={"NCCL_DEBUG": "INFO"}, use_gpu=True,
            conda_packages=["numpy"])
p = Pipeline(ws, steps=[s])
""",
        )
    step = compiled.pipeline.step("s")
    assert ("NCCL_DEBUG", "INFO") in [(k, v.value) for k, v in step.environment_variables]
    assert "conda:numpy" in step.packages
    with pytest.raises(UserErrorException, match="distributed_backend must be 'mpi'"):
        from amlcompile import MpiStep

        MpiStep("s", "src", "train.py", distributed_backend="nccl")
