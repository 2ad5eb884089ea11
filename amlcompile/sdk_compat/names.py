"""Which SDK v1 (`azureml.*`) names amlcompile provides, and what to do about the others.

Read by the build-time import hook (`hook.py`) and by `amlcompile migrate`.
"""

from __future__ import annotations

# SDK v1's image constants (azureml.core.runconfig): the images Azure ML used by default.
# A step with no image of its own uses the project's `default_image`; these keep scripts that
# name them working and say what they meant.
CONSTANTS = {
    "DEFAULT_CPU_IMAGE": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
    "DEFAULT_GPU_IMAGE": "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04",
    "DEFAULT_CPU_IMAGE_NAME": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
}

# Sign-in objects. amlcompile signs in to Airflow, never to Azure: these give Airflow
# credentials (`get_authentication_header()`), from the project config and environment.
AUTH_NAMES = frozenset(
    {
        "InteractiveLoginAuthentication",
        "ServicePrincipalAuthentication",
        "MsiAuthentication",
        "AzureCliAuthentication",
        "TokenAuthentication",
    }
)

# `RunDetails(run).show()` (a notebook widget) → `run.wait_for_completion(show_output=True)`.
WIDGET_NAMES = frozenset({"RunDetails"})

_HYPERDRIVE_RUN = (
    "HyperDriveStep runs in Airflow: its trials are the step's mapped tasks; read each trial's"
    " hyperparameters and metric with `amlcompile status` or the step's metrics_output"
)
_AUTOML = (
    "no amlcompile equivalent: train in a PythonScriptStep with your own model search"
    " (scikit-learn, FLAML, ...)"
)
_ESTIMATOR = (
    "estimators are retired in SDK v1 itself: use a PythonScriptStep with a RunConfiguration"
    " (or Environment) for the image and packages"
)
_MODULE = "modules have no amlcompile equivalent: use the step the module wraps directly"
_MODEL = (
    "model registration has no amlcompile equivalent: write the model to a PipelineData or"
    " OutputFileDatasetConfig output, or register it with MLflow from the script"
)
_SQL = (
    "SQL datastores have no amlcompile equivalent: read the database from a PythonScriptStep"
    " through an Airflow connection, or export the table to a Blob datastore first"
)
_SPARK = (
    "no Spark on the worker: use to_pandas_dataframe() (pandas in the step's environment), or"
    " a DatabricksStep reading the files"
)
_DEPLOY = "deployment (web services) is outside amlcompile: deploy the model with your own tooling"

# name → what to do, for names amlcompile does not provide.
ADVICE = {
    "HyperDriveStepRun": _HYPERDRIVE_RUN,
    "AutoMLStep": _AUTOML,
    "AutoMLStepRun": _AUTOML,
    "AutoMLConfig": _AUTOML,
    "EstimatorStep": _ESTIMATOR,
    "Estimator": _ESTIMATOR,
    "TensorFlow": _ESTIMATOR,
    "PyTorch": _ESTIMATOR,
    "SKLearn": _ESTIMATOR,
    "ModuleStep": _MODULE,
    "Module": _MODULE,
    "ModuleVersion": _MODULE,
    "AzureBatchStep": "no amlcompile equivalent: run the batch job from a CommandStep",
    "KustoStep": "no amlcompile equivalent: query Kusto from a PythonScriptStep",
    "SynapseSparkStep": "no amlcompile equivalent: use a DatabricksStep or a PythonScriptStep",
    "NotebookRunnerStep": "no amlcompile equivalent: run the notebook with papermill in a"
    " CommandStep, or use a DatabricksStep with notebook_path",
    "Model": _MODEL,
    "SqlDataReference": _SQL,
    "InferenceConfig": _DEPLOY,
    "Webservice": _DEPLOY,
    "AciWebservice": _DEPLOY,
    "AksWebservice": _DEPLOY,
}

DEFAULT_ADVICE = "no amlcompile equivalent yet; rewrite this part by hand (docs/migrating.md)"

# Attribute uses `amlcompile migrate` reports wherever they appear: (dotted suffix, advice).
ATTRIBUTE_ADVICE = (
    (".to_spark_dataframe", _SPARK),
    ("Model.register", _MODEL),
    (".register_model", _MODEL),
    ("register_azure_sql_database", _SQL),
    ("register_azure_postgre_sql", _SQL),
    ("register_azure_my_sql", _SQL),
)


def advice_for(name: str) -> str:
    return ADVICE.get(name, DEFAULT_ADVICE)
