"""The seed document's pipeline ("Create and run machine learning pipelines"), on amlcompile.

The code follows the how-to step by step; only the imports differ (azureml.* → amlcompile).
Build it with `amlcompile build examples/`, run it with
`amlcompile run examples/seed_compare_models/pipeline.py --param pipeline_arg=20`.
"""

from amlcompile import (
    DataReference,
    Datastore,
    Experiment,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
    Workspace,
)

ws = Workspace.from_config()

# Default datastore
def_data_store = ws.get_default_datastore()

# Get the blob storage associated with the workspace
def_blob_store = Datastore(ws, "workspaceblobstore")

# Get file storage associated with the workspace
def_file_store = Datastore(ws, "workspacefilestore")

def_blob_store.upload_files(
    ["./data/20news.pkl"],
    target_path="20newsgroups",
    overwrite=True)

blob_input_data = DataReference(
    datastore=def_blob_store,
    data_reference_name="test_data",
    path_on_datastore="20newsgroups/20news.pkl")

prepared_data = PipelineData("prepared_data", datastore=def_blob_store)
output_data1 = PipelineData(
    "output_data1",
    datastore=def_blob_store,
    output_name="output_data1")
comp_data1 = PipelineData("comp_data1", datastore=def_blob_store)
comp_data2 = output_data1.as_input("comp_data2")
out_data3 = PipelineData("out_data3", datastore=def_blob_store)

# No compute target is configured: steps run on the Airflow worker (LocalCompute).
compute_target = None
project_folder = "scripts"

pipeline_param = PipelineParameter(
    name="pipeline_arg",
    default_value=10)

prepStep = PythonScriptStep(
    name="prep",
    script_name="prep.py",
    arguments=["--input", blob_input_data, "--output", prepared_data],
    inputs=[blob_input_data],
    outputs=[prepared_data],
    compute_target=compute_target,
    source_directory=project_folder,
)

trainStep = PythonScriptStep(
    script_name="train.py",
    arguments=["--input", prepared_data, "--output", output_data1],
    inputs=[prepared_data],
    outputs=[output_data1],
    compute_target=compute_target,
    source_directory=project_folder
)

extractStep = PythonScriptStep(
    script_name="extract.py",
    arguments=["--input", output_data1, "--output", comp_data1],
    inputs=[output_data1],
    outputs=[comp_data1],
    compute_target=compute_target,
    source_directory=project_folder,
)

compareStep = PythonScriptStep(
    script_name="compare.py",
    arguments=["--comp_data1", comp_data1, "--comp_data2", comp_data2,
               "--test_data", prepared_data,
               "--output_data", out_data3, "--param1", pipeline_param],
    inputs=[comp_data1, comp_data2, prepared_data],
    outputs=[out_data3],
    target=compute_target,
    source_directory=project_folder)

# list of steps to run
compareModels = [trainStep, extractStep, compareStep]

# Build the pipeline (prepStep is found through prepared_data: resolve_closure)
pipeline1 = Pipeline(workspace=ws, steps=[compareModels])

# Submit the pipeline to be run
pipeline_run1 = Experiment(ws, 'Compare_Models_Exp').submit(pipeline1)
pipeline_run1.wait_for_completion()

published_pipeline1 = pipeline_run1.publish_pipeline(
    name="My_Published_Pipeline",
    description="My Published Pipeline Description",
    version="1.0")
