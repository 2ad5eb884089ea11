"""One pipeline on all five compute targets, written as SDK v1 code.

    copy_raw   DataTransferStep   (DataFactoryCompute)  → a copy on the Airflow worker
    prep       PythonScriptStep   (LocalCompute)        → a subprocess on the worker
    train      PythonScriptStep   (AmlCompute, GPU)     → a Kubernetes pod on an NC6s_v3 node
    score      DatabricksStep     (DatabricksCompute)   → a one-time Databricks run
    summarize  AdlaStep           (AdlaCompute)         → `az dla job submit`, then wait

Build it with `amlcompile build examples/`. `amlcompile run examples/mixed_compute/pipeline.py
--local` runs the script steps on this machine; the Databricks and ADLA steps need their
Airflow connection (`databricks_default`) and the Azure CLI (see README.md).
"""

from amlcompile import (
    AdlaCompute,
    AdlaStep,
    AmlCompute,
    ComputeTarget,
    DatabricksCompute,
    DatabricksStep,
    DataFactoryCompute,
    DataReference,
    Datastore,
    DataTransferStep,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PyPiLibrary,
    PythonScriptStep,
    Workspace,
)

ws = Workspace.from_config()
blob_store = Datastore(ws, "workspaceblobstore")
blob_store.upload_files(["./data/raw.csv"], target_path="mixed/raw", overwrite=True)

# Compute targets are recorded, not provisioned.
gpu_cluster = ComputeTarget.create(
    ws,
    "gpu-cluster",
    AmlCompute.provisioning_configuration(vm_size="Standard_NC6s_v3", max_nodes=2),
)
databricks = ComputeTarget.attach(
    ws,
    "databricks",
    DatabricksCompute.attach_configuration(resource_group="ml-rg", workspace_name="ml-dbx"),
)
adla = ComputeTarget.attach(
    ws, "adla", AdlaCompute.attach_configuration(resource_group="ml-rg", account_name="mladla")
)
data_factory = ComputeTarget.attach(
    ws, "adf", DataFactoryCompute.attach_configuration(resource_group="ml-rg", factory_name="adf")
)

raw = DataReference(datastore=blob_store, data_reference_name="raw", path_on_datastore="mixed/raw")
raw_copy = PipelineData("raw_copy", datastore=blob_store)
features = PipelineData("features", datastore=blob_store)
model = PipelineData("model", datastore=blob_store)
scores = PipelineData("scores", datastore=blob_store)
report = PipelineData("report", datastore=blob_store)
epochs = PipelineParameter("epochs", default_value=3)

copy_raw = DataTransferStep(
    name="copy_raw",
    source_data_reference=raw,
    destination_data_reference=raw_copy,
    compute_target=data_factory,
    source_reference_type="directory",
)
prep = PythonScriptStep(
    name="prep",
    script_name="prep.py",
    arguments=["--raw", raw_copy, "--features", features],
    inputs=[raw_copy],
    outputs=[features],
    source_directory="scripts",
)
train = PythonScriptStep(
    name="train",
    script_name="train.py",
    arguments=["--features", features, "--model", model, "--epochs", epochs],
    inputs=[features],
    outputs=[model],
    compute_target=gpu_cluster,
    source_directory="scripts",
)
score = DatabricksStep(
    name="score",
    inputs=[model],
    outputs=[scores],
    python_script_name="score.py",
    python_script_params=["--epochs", epochs],
    source_directory="databricks",
    spark_version="13.3.x-scala2.12",
    node_type="Standard_DS3_v2",
    num_workers=2,
    pypi_libraries=[PyPiLibrary("scikit-learn")],
    compute_target=databricks,
)
summarize = AdlaStep(
    name="summarize",
    script_name="summarize.usql",
    inputs=[scores],
    outputs=[report],
    params={"threshold": "0.5", "epochs": epochs},
    degree_of_parallelism=4,
    source_directory="usql",
    compute_target=adla,
)

mixed_pipeline = Pipeline(
    workspace=ws,
    steps=[summarize],
    description="One pipeline on all five compute targets",
    name="Mixed_Compute",
)
