"""Model search with HyperDriveStep, in the form of the Azure ML hyperdrive notebook.

A grid of learning rates and epoch counts is searched for the model with the lowest
validation loss. Each trial is a mapped Airflow task; a BanditPolicy stops trials that fall
behind the best one while they run; the best trial's model goes to a downstream step.
Only the imports differ from SDK v1 code (azureml.* → amlcompile).

    amlcompile run examples/model_search/pipeline.py

Run it again: every trial is reused. Add a value to a choice() and run again: only the new
trials run.
"""

from amlcompile import (
    BanditPolicy,
    Experiment,
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveStep,
    Pipeline,
    PipelineData,
    PrimaryMetricGoal,
    PythonScriptStep,
    ScriptRunConfig,
    TrainingOutput,
    Workspace,
)
from amlcompile.hyperdrive import choice

ws = Workspace.from_config()
datastore = ws.get_default_datastore()

src = ScriptRunConfig(
    source_directory="scripts",
    script="train.py",
    arguments=["--seed", 7],
    compute_target=None,  # the Airflow worker; on an AmlCompute target each trial is a pod
)

param_sampling = GridParameterSampling(
    {
        "--learning-rate": choice(0.02, 0.1, 0.4, 1.2),
        "--epochs": choice(10, 30),
    }
)

hd_config = HyperDriveConfig(
    run_config=src,
    hyperparameter_sampling=param_sampling,
    policy=BanditPolicy(evaluation_interval=2, slack_factor=1.0, delay_evaluation=6),
    primary_metric_name="val_loss",
    primary_metric_goal=PrimaryMetricGoal.MINIMIZE,
    max_total_runs=8,
    max_concurrent_runs=2,
)

metrics_data = PipelineData(
    "metrics_data", datastore=datastore, training_output=TrainingOutput("Metrics")
)
saved_model = PipelineData(
    "saved_model",
    datastore=datastore,
    training_output=TrainingOutput("Model", model_file="outputs/model.json"),
)

hd_step = HyperDriveStep(
    name="search",
    hyperdrive_config=hd_config,
    outputs=[saved_model],
    metrics_output=metrics_data,
)

report_step = PythonScriptStep(
    name="report",
    script_name="report.py",
    arguments=["--model", saved_model, "--metrics", metrics_data],
    inputs=[saved_model, metrics_data],
    source_directory="scripts",
)

pipeline = Pipeline(workspace=ws, steps=[hd_step, report_step])
pipeline_run = Experiment(ws, "model_search").submit(pipeline)
