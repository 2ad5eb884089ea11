"""Distributed training as SDK v1 writes it: a ScriptRunConfig with a PyTorchConfiguration in a
CommandStep. Every rank gets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (torch.distributed's
`env://`); on an AmlCompute target the step is an indexed Kubernetes Job of `node_count` pods,
on the Airflow worker (this example) the ranks are local processes.

The script needs no torch: its ranks meet over a socket at MASTER_ADDR:MASTER_PORT and average
their gradients by hand, which is what `torch.distributed.all_reduce` does for a real model.

    amlcompile run examples/distributed_training/pipeline.py --param epochs=300
"""

from amlcompile import (
    CommandStep,
    Experiment,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PyTorchConfiguration,
    ScriptRunConfig,
    Workspace,
)

ws = Workspace.from_config()
datastore = ws.get_default_datastore()

model = PipelineData("model", datastore=datastore)
epochs = PipelineParameter(name="epochs", default_value=150)

src = ScriptRunConfig(
    source_directory="scripts",
    script="train.py",
    arguments=["--epochs", epochs, "--model", model],
    compute_target=None,  # the Airflow worker; an AmlCompute target gets an indexed Job
    distributed_job_config=PyTorchConfiguration(communication_backend="Gloo", process_count=2),
)

train = CommandStep(name="train", runconfig=src, outputs=[model])

pipeline = Pipeline(workspace=ws, steps=[train])
pipeline_run = Experiment(ws, "distributed_training").submit(pipeline)
