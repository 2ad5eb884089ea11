"""The regression corpus: real, public Azure ML SDK v1 pipeline code, and the graph each describes.

Each sample is read from a pinned commit of its public repository (see README.md in this
folder: where, which commit, which licence) and written to a temporary folder with its original
relative layout. EXPECTED is the ORIGINAL graph, read from the notebook or script by hand
(not from amlcompile's output): DAG id by the README rule ("Pipeline(..., name=...), the name
given to publish, the experiment name given to submit, the module variable, the file name"),
task ids (step names through amlcompile's id rule: characters other than letters, digits, `_`,
`.`, `-` become `_`, ends stripped; a step without a name is named after its script's stem),
edges (data and run_after), parameters with their defaults, and the operator each step's compute
gets (local → LocalStepOperator, amlcompute → AmlPodOperator or, for several nodes,
AmlJobOperator, databricks → AmlDatabricksOperator, adla → AdlaJobOperator, DataTransferStep →
AmlDataTransferOperator).
"""

from __future__ import annotations

NOTEBOOKS = "Azure/MachineLearningNotebooks"
MLOPS = "microsoft/MLOpsPython"

REPOS = {
    NOTEBOOKS: {
        "mirror": "/work/.mirror/Azure+MachineLearningNotebooks/repo",
        "commit": "f1aff553c475be391acb2e5d4e4094867b5963c0",
        "licence": "MIT (LICENSE at the repository root)",
    },
    MLOPS: {
        "mirror": "/work/.mirror/microsoft+MLOpsPython/repo",
        "commit": "98a610ff1afe29d026fcdffcb8fdc39edbef0f67",
        "licence": "MIT (LICENSE at the repository root); the step scripts under"
        " diabetes_regression/ carry their own Microsoft header (use, copy, modify;"
        " no sublicensing)",
    },
}

INTRO = "how-to-use-azureml/machine-learning-pipelines/intro-to-pipelines"
NYC = "how-to-use-azureml/machine-learning-pipelines/nyc-taxi-data-regression-model-building"

# Operators, by compute kind.
POD = "AmlPodOperator"
JOB = "AmlJobOperator"  # amlcompute, node_count > 1: an indexed Job of N pods
LOCAL = "LocalStepOperator"
DATABRICKS = "AmlDatabricksOperator"
ADLA = "AdlaJobOperator"
TRANSFER = "AmlDataTransferOperator"

# A DAG id that is a regular expression (the sample names its pipeline after the clock).
TIMESTAMPED = r"re:^\d{2}-\d{2}-\d{4}-\d{2}-\d{2}-Pipeline$"


def _dag(tasks: dict[str, str], edges=(), params=None, notes: str = "") -> dict:
    """tasks: task id → operator."""
    return {
        "tasks": dict(sorted(tasks.items())),
        "edges": sorted([list(e) for e in edges]),
        "params": dict(params or {}),
        "notes": notes,
    }


def _watch_dag() -> dict:
    """The second DAG amlcompile makes for `Schedule.create(datastore=...)`: it polls the
    datastore and starts the pipeline (docs/lifecycle.md)."""
    return {
        "tasks": {
            "detect_changes": "DatastoreChangeOperator",
            "record_listing": "RecordListingOperator",
            "start_pipeline": "MappedOperator",  # StartPipelineOperator.partial().expand_kwargs()
        },
        "edges": [["detect_changes", "start_pipeline"], ["start_pipeline", "record_listing"]],
        "params": {},
        "notes": "",
        "planner": False,
    }


SAMPLES: dict[str, dict] = {}

# ---------------------------------------------------------------------------------------------
# aml-pipelines-getting-started: three PythonScriptSteps on AmlCompute "cpu-cluster" (get-or-create,
# STANDARD_D2_V2, max_nodes 4). pipeline1 = Pipeline(steps=[s1, s2, s3]) has no edges and is
# submitted to "Hello_World1"; run_after is called AFTER pipeline1 is built (train→compare→
# extract) and pipeline2 = Pipeline(steps=[step3]) (closure over run_after) goes to
# "Hello_World2". The SDK takes the graph when Pipeline(...) is constructed, so Hello_World1
# stays edgeless. Build-time network: requests.get of Titanic.csv (answered offline by the
# harness's shim), then upload to workspaceblobstore/titanic.
SAMPLES["aml-pipelines-getting-started"] = {
    "repo": NOTEBOOKS,
    "base": INTRO,
    "files": [
        "aml-pipelines-getting-started.ipynb",
        "train/train.py",
        "compare/compare.py",
        "extract/extract.py",
    ],
    "entry": "aml-pipelines-getting-started.ipynb",
    "dags": {
        "Hello_World1": _dag({"train_step": POD, "compare_step": POD, "extract_step": POD}),
        "Hello_World2": _dag(
            {"train_step": POD, "compare_step": POD, "extract_step": POD},
            [("train_step", "compare_step"), ("compare_step", "extract_step")],
        ),
    },
    "run_local": ["Hello_World2"],
}

# aml-pipelines-with-data-dependency-steps: train.py → extract.py → compare.py through
# PipelineData (is_directory=True) on workspaceblobstore; compare also mounts a DataPath
# PipelineParameter "compare_data" (default titanic/Titanic.csv, uploaded by the getting-started
# notebook: the harness seeds it). Steps have no name: the SDK names them "train.py", ...
# (the notebook later calls find_step_run('train.py')); amlcompile's task id is the stem.
SAMPLES["aml-pipelines-with-data-dependency-steps"] = {
    "repo": NOTEBOOKS,
    "base": INTRO,
    "files": [
        "aml-pipelines-with-data-dependency-steps.ipynb",
        "data_dependency_run_train/train.py",
        "data_dependency_run_extract/extract.py",
        "data_dependency_run_compare/compare.py",
    ],
    "entry": "aml-pipelines-with-data-dependency-steps.ipynb",
    "dags": {
        "Data_dependency_sample": _dag(
            {"train": POD, "extract": POD, "compare": POD},
            [("train", "extract"), ("extract", "compare")],
            {"compare_data": "titanic/Titanic.csv"},
        ),
    },
    "seed_datastore": {"workspaceblobstore/titanic/Titanic.csv": "TITANIC"},
    "run_local": ["Data_dependency_sample"],
}

# aml-pipelines-publish-and-run-using-rest-endpoint: train (input: FileDataset from an https URL,
# as_mount) → extract → compare through OutputFileDatasetConfig (processed_data3 is
# register_on_complete("compare_result")); compare reads processed_data1 too; PipelineParameter
# pipeline_arg=10. pipeline1.publish(name="My_New_Pipeline") comes first (DAG id), then
# submit to "Pipeline_experiment_sample" and run.publish_pipeline("My_New_Pipeline2") of the same
# graph; PublishedPipeline.get(ws, id); InteractiveLoginAuthentication().get_authentication_header()
# and requests.post(endpoint, json={"ExperimentName": ..., "ParameterAssignments": ...}).
SAMPLES["aml-pipelines-publish-and-run-using-rest-endpoint"] = {
    "repo": NOTEBOOKS,
    "base": INTRO,
    "files": [
        "aml-pipelines-publish-and-run-using-rest-endpoint.ipynb",
        "publish_run_train/train.py",
        "publish_run_extract/extract.py",
        "publish_run_compare/compare.py",
    ],
    "entry": "aml-pipelines-publish-and-run-using-rest-endpoint.ipynb",
    "dags": {
        "My_New_Pipeline": _dag(
            {"train": POD, "extract": POD, "compare": POD},
            [("train", "extract"), ("train", "compare"), ("extract", "compare")],
            {"pipeline_arg": 10},
            notes="run.publish_pipeline('My_New_Pipeline2') publishes the same graph again",
        ),
    },
}

# aml-pipelines-setup-schedule-for-a-published-pipeline: one step "Training_Step"
# (compute_target given as the string "cpu-cluster", created just before). Published as
# "<%m-%d-%Y-%H-%M>-Pipeline" (the DAG id depends on the clock), and through
# PipelineEndpoint.publish("ScheduledPipelineEndpoint"). Schedules: "My_Schedule" (Day, interval
# 2, 22:30) later updated to "My_Updated_Schedule" (Hour, interval 2); a datastore schedule on
# workspaceblobstore without path; "My_Endpoint_Schedule" for the endpoint (Day/2 22:30).
# Uses PublishedPipeline.list, Schedule.list/get/disable/enable/update,
# Schedule.get_schedules_for_pipeline_endpoint_id. publish_run_train/train.py opens
# --input_data, which this pipeline never passes: its script fails when run (on Azure too).
SAMPLES["aml-pipelines-setup-schedule-for-a-published-pipeline"] = {
    "repo": NOTEBOOKS,
    "base": INTRO,
    "files": [
        "aml-pipelines-setup-schedule-for-a-published-pipeline.ipynb",
        "publish_run_train/train.py",
    ],
    "entry": "aml-pipelines-setup-schedule-for-a-published-pipeline.ipynb",
    "dags": {
        TIMESTAMPED: _dag({"Training_Step": POD}),
        TIMESTAMPED[:-1] + "__datastore_watch$": _watch_dag(),
    },
}

# aml-pipelines-setup-versioned-pipeline-endpoints: the same one-step pipeline, published as
# "<timestamp>-Pipeline" and as PipelineEndpoint "PipelineEndpointTest" (later set_name("NewName"));
# get by name and id, list, get_default_version, set_default_version, get_pipeline, add,
# set_default, list_versions, list_pipelines, submit, Experiment.submit(endpoint,
# pipeline_version="0"), and a REST POST with "ParameterAssignments".
SAMPLES["aml-pipelines-setup-versioned-pipeline-endpoints"] = {
    "repo": NOTEBOOKS,
    "base": INTRO,
    "files": [
        "aml-pipelines-setup-versioned-pipeline-endpoints.ipynb",
        "publish_run_train/train.py",
    ],
    "entry": "aml-pipelines-setup-versioned-pipeline-endpoints.ipynb",
    "dags": {TIMESTAMPED: _dag({"Training_Step": POD})},
}

# aml-pipelines-showcasing-datapath-and-pipelineparameter: train_with_datapath.py is written by a
# %%writefile cell; one step "train_step" with a string PipelineParameter input_string
# ("sample_string1") and a DataPath PipelineParameter input_datapath (workspaceblobstore
# "sample_datapath1", mounted). Compute: `if name in ws.compute_targets and cts[name].type ==
# 'AmlCompute'` else create STANDARD_D2_V2. Submitted to experiment "showcasing-datapath", then
# published as "DataPath_Pipeline" (DAG id: the publish name wins over the experiment); a
# datastore-triggered Schedule with path_on_datastore and data_path_parameter_name.
SAMPLES["aml-pipelines-showcasing-datapath-and-pipelineparameter"] = {
    "repo": NOTEBOOKS,
    "base": INTRO,
    "files": ["aml-pipelines-showcasing-datapath-and-pipelineparameter.ipynb"],
    "entry": "aml-pipelines-showcasing-datapath-and-pipelineparameter.ipynb",
    "dags": {
        "DataPath_Pipeline": _dag(
            {"train_step": POD},
            params={"input_datapath": "sample_datapath1", "input_string": "sample_string1"},
        ),
        # The notebook's datastore-triggered Schedule.
        "DataPath_Pipeline__datastore_watch": _watch_dag(),
    },
    "seed_datastore": {"workspaceblobstore/sample_datapath1/sample.txt": "hello"},
    "run_local": ["DataPath_Pipeline"],
}

# aml-pipelines-showcasing-dataset-and-pipelineparameter: train_with_dataset.py (%%writefile) reads
# Run.get_context().input_datasets['file_dataset'] (a mounted FileDataset) and
# ['tabular_dataset'].to_pandas_dataframe(). Two dataset PipelineParameters whose defaults are
# datasets from an https URL (file_ds_param, tabular_ds_param), consumed through
# DatasetConsumptionConfig. RunConfiguration(conda_dependencies=...pandas). Published as
# "Dataset_Pipeline"; published_pipeline.submit(ws, experiment_name=..., pipeline_parameters=...).
TITANIC_URL = "https://dprepdata.blob.core.windows.net/demo/Titanic.csv"
SAMPLES["aml-pipelines-showcasing-dataset-and-pipelineparameter"] = {
    "repo": NOTEBOOKS,
    "base": INTRO,
    "files": ["aml-pipelines-showcasing-dataset-and-pipelineparameter.ipynb"],
    "entry": "aml-pipelines-showcasing-dataset-and-pipelineparameter.ipynb",
    "dags": {
        "Dataset_Pipeline": _dag(
            {"train_step": POD},
            params={"file_ds_param": TITANIC_URL, "tabular_ds_param": TITANIC_URL},
            notes="dataset parameter defaults: how a dataset default shows as an Airflow Param"
            " is amlcompile's choice; the URL is what the notebook gives",
        ),
    },
}

# aml-pipelines-use-databricks-as-compute-target: DatabricksCompute get-or-attach (names from
# environment variables, set by the harness as a user would), six one-step pipelines, each
# submitted to its own experiment. notebook_params / python_script_params / jar_params use the
# PipelineParameter my_pipeline_param ("pipeline_param1"); python_script_params and jar_params
# are Python SETS ({'arg1', pipeline_param, 'arg2'}: order changes with the hash seed).
# Datastore.register_dbfs ("dbfs_datastore") for the last two; upload of testdata.txt to
# workspaceblobstore/dbtest.
SAMPLES["aml-pipelines-use-databricks-as-compute-target"] = {
    "repo": NOTEBOOKS,
    "base": INTRO,
    "files": [
        "aml-pipelines-use-databricks-as-compute-target.ipynb",
        "databricks_train/train-db-local.py",
        "testdata.txt",
    ],
    "entry": "aml-pipelines-use-databricks-as-compute-target.ipynb",
    "env": {
        "DATABRICKS_COMPUTE_NAME": "mydatabricks",
        "DATABRICKS_RESOURCE_GROUP": "my-rg",
        "DATABRICKS_WORKSPACE_NAME": "my-databricks-ws",
        "DATABRICKS_ACCESS_TOKEN": "dapi-not-a-real-token",
        "DATABRICKS_NOTEBOOK_PATH": "/Users/someone@example.com/my-notebook",
        "DATABRICKS_PYTHON_SCRIPT_PATH": "dbfs:/scripts/train.py",
        "DATABRICKS_JAR_LIB_PATH": "dbfs:/jars/main.jar",
    },
    "dags": {
        "DB_Notebook_demo": _dag(
            {"DBNotebookInWS": DATABRICKS}, params={"my_pipeline_param": "pipeline_param1"}
        ),
        "DB_Python_demo": _dag(
            {"DBPythonInDBFS": DATABRICKS}, params={"my_pipeline_param": "pipeline_param1"}
        ),
        "DB_Python_Local_demo": _dag({"DBPythonInLocalMachine": DATABRICKS}),
        "DB_JAR_demo": _dag(
            {"DBJarInDBFS": DATABRICKS}, params={"my_pipeline_param": "pipeline_param1"}
        ),
        "DBFS_Reference_With_Existing": _dag(
            {"DBFSReferenceWithExisting": DATABRICKS},
            params={"my_pipeline_param": "pipeline_param1"},
        ),
        "DB_Python_Local_existing_demo": _dag({"DBPythonInLocalMachineWithExisting": DATABRICKS}),
    },
}

# aml-pipelines-use-adla-as-compute-target: AdlaCompute get-or-attach ("testadl"), prints
# cluster_resource_id / provisioning_state / provisioning_errors; ADLS Gen1 datastore
# "MyAdlsDatastore" via Datastore.get ... except msrest's HttpOperationError:
# register_azure_data_lake; `%%writefile $sample_folder/...` writes the input CSV and the U-SQL
# script; one AdlaStep "extract_employee_names" with a DataReference input and PipelineData
# output, submitted to "adla_sample".
SAMPLES["aml-pipelines-use-adla-as-compute-target"] = {
    "repo": NOTEBOOKS,
    "base": INTRO,
    "files": ["aml-pipelines-use-adla-as-compute-target.ipynb"],
    "entry": "aml-pipelines-use-adla-as-compute-target.ipynb",
    "dags": {"adla_sample": _dag({"extract_employee_names": ADLA})},
}

# aml-pipelines-with-commandstep: ComputeTarget(ws, "gpu-cluster") get-or-create with
# Standard_NC6s_v3 (1 V100 GPU); Environment.get(ws, 'AzureML-TensorFlow-2.3-GPU') (a curated
# environment); ScriptRunConfig(command=['python train.py --epochs 30'], MpiConfiguration
# node_count=2) as CommandStep(name='train-mnist', runconfig=src); submitted to
# "train-commandstep-pipeline" (two nodes: an indexed Job). The script needs TensorFlow + Horovod:
# not run here.
SAMPLES["aml-pipelines-with-commandstep"] = {
    "repo": NOTEBOOKS,
    "base": INTRO,
    "files": [
        "aml-pipelines-with-commandstep.ipynb",
        "commandstep_train/train.py",
        "commandstep_train/conda_dependencies.yml",
    ],
    "entry": "aml-pipelines-with-commandstep.ipynb",
    "dags": {
        "train-commandstep-pipeline": _dag(
            {"train-mnist": JOB}, notes="GPU: 1 (NC6s_v3) per node, 2 nodes (MpiConfiguration)"
        )
    },
    # The user's decision: Azure's curated environment becomes an image they choose.
    "config": (
        '[environments."AzureML-TensorFlow-2.3-GPU"]\n'
        'image = "tensorflow/tensorflow:2.3.0-gpu"\n'
        'pip_packages = ["azureml-defaults"]\n'
    ),
}

# aml-pipelines-data-transfer: BROKEN AS PUBLISHED. DataTransferSteps from ADLS Gen2 and from
# Azure SQL / PostgreSQL / MySQL (SqlDataReference: no equivalent) into `blob_data_ref` through
# `data_factory_compute`, but both names are only defined in commented-out cells, and the
# `except UserErrorException:` clauses use a name the notebook never imports: it fails with
# NameError on Azure too. Intended graph: DAG "Data_Transfer_example_02" with transfer_sql_to_blob,
# transfer_psql_to_blob, transfer_adlsgen2_to_blob, no edges. Expected outcome here: the build
# fails with one error naming the notebook cell/line (no internal error, exit 2).
SAMPLES["aml-pipelines-data-transfer"] = {
    "repo": NOTEBOOKS,
    "base": INTRO,
    "files": ["aml-pipelines-data-transfer.ipynb"],
    "entry": "aml-pipelines-data-transfer.ipynb",
    "dags": {},
    "intended_dags": {
        "Data_Transfer_example_02": _dag(
            {
                "transfer_sql_to_blob": TRANSFER,
                "transfer_psql_to_blob": TRANSFER,
                "transfer_adlsgen2_to_blob": TRANSFER,
            }
        ),
    },
    "build_fails_with": ["aml-pipelines-data-transfer.ipynb"],
    # ...and names the real cause: the SQL reference, or the undefined names.
    "build_fails_any": ["SqlDataReference", "UserErrorException", "blob_data_ref"],
}

# nyc-taxi-data-regression-model-building: data from azureml.opendatasets (network; falls back
# to the inline DataFrames only if the call returns None) written to data/, uploaded, registered
# as tabular datasets; 7 PythonScriptSteps on AmlCompute "cpu-cluster" (STANDARD_DS12_V2) through
# PipelineData(...).as_dataset() / .parse_parquet_files(), ending in an AutoMLStep (no
# equivalent) whose training data is the split step's output; Pipeline(steps=[automl]) submitted
# to "NYCTaxi_Tutorial_Pipelines". Intended graph below; see build_fails_with for where it stops.
SAMPLES["nyc-taxi-data-regression-model-building"] = {
    "repo": NOTEBOOKS,
    "base": NYC,
    "files": [
        "nyc-taxi-data-regression-model-building.ipynb",
        "scripts/prepdata/cleanse.py",
        "scripts/prepdata/filter.py",
        "scripts/prepdata/merge.py",
        "scripts/prepdata/normalize.py",
        "scripts/prepdata/transform.py",
        "scripts/trainmodel/train_test_split.py",
    ],
    "entry": "nyc-taxi-data-regression-model-building.ipynb",
    "dags": {},
    "intended_dags": {
        "NYCTaxi_Tutorial_Pipelines": _dag(
            {
                "Cleanse_Green_Taxi_Data": POD,
                "Cleanse_Yellow_Taxi_Data": POD,
                "Merge_Taxi_Data": POD,
                "Filter_Taxi_Data": POD,
                "Normalize_Taxi_Data": POD,
                "Transform_Taxi_Data": POD,
                "Train_Test_Data_Split": POD,
                "AutoML_Regression": "AutoMLStep (no equivalent)",
            },
            [
                ("Cleanse_Green_Taxi_Data", "Merge_Taxi_Data"),
                ("Cleanse_Yellow_Taxi_Data", "Merge_Taxi_Data"),
                ("Merge_Taxi_Data", "Filter_Taxi_Data"),
                ("Filter_Taxi_Data", "Normalize_Taxi_Data"),
                ("Normalize_Taxi_Data", "Transform_Taxi_Data"),
                ("Transform_Taxi_Data", "Train_Test_Data_Split"),
                ("Train_Test_Data_Split", "AutoML_Regression"),
            ],
        ),
    },
    # As published it stops before its pipeline: cell 6 calls DataFrame.append, which pandas 2
    # removed (the SDK on pandas 2 stops there too). The build says so at the cell and line,
    # as a user error; past it, the AutoMLStep would be refused (no equivalent).
    "build_fails_with": [
        "nyc-taxi-data-regression-model-building.ipynb:cell 6:24",
        "'DataFrame' object has no attribute 'append'",
    ],
}

PRS = "how-to-use-azureml/machine-learning-pipelines/parallel-run"
PRS_REFUSAL = (
    "a ParallelRunStep on AmlCompute reads and writes mini-batches on local datastores"
    " (volumes shared by the worker and the pods) only so far"
)


def _prs_dag(step: str, params: dict) -> dict:
    """A ParallelRunStep's three tasks: split, the mapped mini-batch task, the step's own."""
    split, batches = f"{step}__split", f"{step}__batches"
    return _dag(
        {
            split: "ParallelRunSplitOperator",
            batches: "MappedOperator",
            step: "ParallelRunGatherOperator",
        },
        [(split, batches), (batches, step)],
        params,
    )


# parallel-run/file-dataset-image-inference-mnist: ParallelRunStep "predict-digits-mnist" on
# AmlCompute "cpu-cluster" (STANDARD_D2_V2, 0..4 nodes), node_count=2, process_count_per_node
# PipelineParameter "process_count_param" (2), mini_batch_size PipelineParameter
# "batch_size_param" ("5"), input: a FileDataset on the blob datastore "mnist_datastore"
# (account pipelinedata, container sampledata, path mnist) given as PipelineParameter
# "mnist_param"; output PipelineData "inferences" (append_row mnist_outputs.txt);
# allow_reuse=False; submitted to "digit_identification". Build-time network: urlretrieve of
# the model tarball (answered offline by the harness's shim), then Model.register (no
# equivalent; a placeholder outside the pipeline). The cells after the submit read the run's
# output (a warning in a build). Intended graph below; the build stops at the step: its data is
# on blob, which the pod variant does not reach yet (docs/parallel-run.md, limits).
SAMPLES["parallel-run-file-dataset-image-inference-mnist"] = {
    "repo": NOTEBOOKS,
    "base": PRS,
    "files": ["file-dataset-image-inference-mnist.ipynb", "Code/digit_identification.py"],
    "entry": "file-dataset-image-inference-mnist.ipynb",
    "dags": {},
    "intended_dags": {
        "digit_identification": _prs_dag(
            "predict-digits-mnist",
            {"mnist_param": "mnist", "batch_size_param": "5", "process_count_param": 2},
        )
    },
    "build_fails_with": [
        "file-dataset-image-inference-mnist.ipynb:cell 31:1: step 'predict-digits-mnist'",
        PRS_REFUSAL,
        "datastore 'mnist_datastore' is azure_blob",
    ],
}

# parallel-run/tabular-dataset-inference-iris: ParallelRunStep "example-iris" on AmlCompute
# "cpu-cluster", node_count=2, mini_batch_size "1KB" over a TabularDataset (delimited files on
# the blob datastore "iris_datastore_data", path iris/) named "iris_data"; output PipelineData
# "inferences" (append_row iris_outputs.txt); arguments --model_name iris-prs; submitted to
# "iris-prs". Build time: model_datastore.download (a remote datastore: not fetched in a build,
# a warning) and Model.register (a placeholder). Refused like the mnist sample, for its blob data.
SAMPLES["parallel-run-tabular-dataset-inference-iris"] = {
    "repo": NOTEBOOKS,
    "base": PRS,
    "files": ["tabular-dataset-inference-iris.ipynb", "Code/iris_score.py"],
    "entry": "tabular-dataset-inference-iris.ipynb",
    "dags": {},
    "intended_dags": {"iris-prs": _prs_dag("example-iris", {})},
    "build_fails_with": [
        "tabular-dataset-inference-iris.ipynb:cell 26:1: step 'example-iris'",
        PRS_REFUSAL,
        "datastore 'iris_datastore_data' is azure_blob",
    ],
}

# MLOpsPython: ml_service/pipelines/diabetes_regression_build_train_pipeline.py builds its
# pipeline in main() under `if __name__ == "__main__":` and imports the project's own packages
# (ml_service.util.*, ml_service.pipelines.load_sample_data); it is run from the project root
# (`python -m ml_service.pipelines.diabetes_regression_build_train_pipeline`). Settings come from
# the Env dataclass: os.environ after python-dotenv's load_dotenv() (a .env copied from
# .env.example); the harness sets the .env.example values as environment variables instead.
# Workspace.get(name=..., subscription_id=..., resource_group=...); get_compute: `if name in
# ws.compute_targets` else AmlCompute.provisioning_configuration(STANDARD_DS2_V2, lowpriority,
# 0..4 nodes); get_environment: Environment.list(ws), Environment.from_conda_specification(name,
# diabetes_regression/conda_dependencies.yml), .register(ws); `if dataset_name not in
# ws.datasets`: create_sample_data_csv() (pandas + scikit-learn), Datastore.get, upload,
# Dataset.Tabular.from_delimited_files(path=(datastore, path)).register(...). Steps "Train Model"
# → "Evaluate Model " → "Register Model " (run_after, plus PipelineData train → register), all
# on the cluster with a RunConfiguration whose environment gets DATASTORE_NAME. Published as
# e.pipeline_name = "Training Pipeline" with version = BUILD_BUILDID.
MLOPS_ENV = {
    "BUILD_BUILDID": "001",
    "WORKSPACE_NAME": "mlops-aml-ws",
    "RESOURCE_GROUP": "mlops-RG",
    "SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
    "EXPERIMENT_NAME": "mlopspython",
    "AML_ENV_NAME": "diabetes_regression_training_env",
    "AML_ENV_TRAIN_CONDA_DEP_FILE": "conda_dependencies.yml",
    "AML_COMPUTE_CLUSTER_NAME": "train-cluster",
    "AML_COMPUTE_CLUSTER_CPU_SKU": "STANDARD_DS2_V2",
    "AML_CLUSTER_MAX_NODES": "4",
    "AML_CLUSTER_MIN_NODES": "0",
    "AML_CLUSTER_PRIORITY": "lowpriority",
    "MODEL_NAME": "diabetes_regression_model.pkl",
    "MODEL_VERSION": "1",
    "TRAIN_SCRIPT_PATH": "training/train_aml.py",
    "TRAINING_PIPELINE_NAME": "Training Pipeline",
    "EVALUATE_SCRIPT_PATH": "evaluate/evaluate_model.py",
    "REGISTER_SCRIPT_PATH": "register/register_model.py",
    "SOURCES_DIR_TRAIN": "diabetes_regression",
    "DATASET_NAME": "diabetes_ds",
    "DATASET_VERSION": "latest",
    "DATASTORE_NAME": "",
    "SCORE_SCRIPT": "scoring/score.py",
    "RUN_EVALUATION": "true",
    "ALLOW_RUN_CANCEL": "true",
    "AML_REBUILD_ENVIRONMENT": "false",
}
SAMPLES["mlopspython-diabetes-train"] = {
    "repo": MLOPS,
    "base": "",
    "files": [
        ".env.example",
        "ml_service/__init__.py",
        "ml_service/pipelines/__init__.py",
        "ml_service/pipelines/diabetes_regression_build_train_pipeline.py",
        "ml_service/pipelines/load_sample_data.py",
        "ml_service/util/__init__.py",
        "ml_service/util/attach_compute.py",
        "ml_service/util/env_variables.py",
        "ml_service/util/manage_environment.py",
        "diabetes_regression/.amlignore",
        "diabetes_regression/conda_dependencies.yml",
        "diabetes_regression/parameters.json",
        "diabetes_regression/training/train_aml.py",
        "diabetes_regression/training/train.py",
        "diabetes_regression/evaluate/evaluate_model.py",
        "diabetes_regression/register/register_model.py",
        "diabetes_regression/util/__init__.py",
        "diabetes_regression/util/model_helper.py",
    ],
    "entry": "ml_service/pipelines/diabetes_regression_build_train_pipeline.py",
    "env": MLOPS_ENV,
    "dags": {
        "Training_Pipeline": _dag(
            {"Train_Model": POD, "Evaluate_Model": POD, "Register_Model": POD},
            [
                ("Train_Model", "Evaluate_Model"),
                ("Evaluate_Model", "Register_Model"),
                ("Train_Model", "Register_Model"),
            ],
            {
                "model_name": "diabetes_regression_model.pkl",
                "dataset_version": "latest",
                "data_file_path": "none",
                "caller_run_id": "none",
            },
            notes="publish name 'Training Pipeline' → DAG id with '_'",
        ),
    },
}

# Skipped (their pipeline is only a step kind with no equivalent, or an unsupported compute):
SKIPPED = {
    "aml-pipelines-with-automated-machine-learning-step": "AutoMLStep only",
    "aml-pipelines-parameter-tuning-with-hyperdrive": "HyperDriveStep only",
    "aml-pipelines-how-to-use-modulestep": "ModuleStep only",
    "aml-pipelines-use-kusto-as-compute-target": "KustoStep only",
    "aml-pipelines-how-to-use-azurebatch-to-run-a-windows-executable": "AzureBatchStep only",
    "aml-pipelines-with-notebook-runner-step": "NotebookRunnerStep only",
    "aml-pipelines-with-commandstep-r": "same shape as with-commandstep, R in a custom Dockerfile",
    "aml-pipelines-how-to-use-pipeline-drafts": "PipelineDraft management around one step",
    "MLOpsPython parallel batch-score pipeline": "ParallelRunStep over registered models: not"
    " vendored yet",
}

# Samples that do not build yet, each with the first thing in the way (measured 2026-11-27).
# strict xfail: a sample that starts passing fails the suite until it is taken off this list.
_NOT_YET: dict[str, str] = {}
KNOWN_FAILING: dict[tuple[str, str], str] = {
    (name, mode): why for name, why in _NOT_YET.items() for mode in ("unmodified", "migrated")
}
