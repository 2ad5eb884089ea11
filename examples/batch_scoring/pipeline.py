"""Batch scoring with ParallelRunStep, as the Azure ML parallel-run notebooks write it.

Forty review files are scored in mini-batches of `batch_size` files: each mini-batch is a
mapped Airflow task that calls the entry script's `init()` once and `run(mini_batch)` per
batch; the results are appended, in batch order, to `scores.txt`; a last step summarises them.
Only the imports differ from SDK v1 code (azureml.* → amlcompile).

    amlcompile run examples/batch_scoring/pipeline.py --param batch_size=5

Run it twice: the second run reuses every mini-batch. Add a file under data/reviews/ and run
again: only the new file's mini-batch is scored.
"""

from amlcompile import (
    Dataset,
    Environment,
    Experiment,
    ParallelRunConfig,
    ParallelRunStep,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
    Workspace,
)

ws = Workspace.from_config()
datastore = ws.get_default_datastore()

# The reviews travel to the datastore with `amlcompile run` / `amlcompile deploy`.
datastore.upload(src_dir="data/reviews", target_path="reviews", overwrite=True)
reviews = Dataset.File.from_files(path=(datastore, "reviews/"))

scores = PipelineData("scores", datastore=datastore)
summary = PipelineData("summary", datastore=datastore)

parallel_run_config = ParallelRunConfig(
    source_directory="scripts",
    entry_script="score.py",
    mini_batch_size=PipelineParameter(name="batch_size", default_value="10"),
    error_threshold=2,
    output_action="append_row",
    append_row_file_name="scores.txt",
    environment=Environment(name="scoring"),
    compute_target=None,  # the Airflow worker; an AmlCompute target runs pods
    process_count_per_node=2,
    node_count=1,
)

score_step = ParallelRunStep(
    name="score-reviews",
    parallel_run_config=parallel_run_config,
    inputs=[reviews.as_named_input("reviews")],
    output=scores,
    arguments=["--positive-words", "great,lovely,excellent,fine,superb,enjoyable"],
)

summarize_step = PythonScriptStep(
    name="summarize",
    script_name="summarize.py",
    arguments=["--scores", scores, "--summary", summary],
    inputs=[scores],
    outputs=[summary],
    source_directory="scripts",
)

pipeline = Pipeline(workspace=ws, steps=[summarize_step])
pipeline_run = Experiment(ws, "batch_scoring").submit(pipeline)
