"""Which SDK v1 (`azureml.*`) names amlcompile provides, and what to do about the others."""

from __future__ import annotations

from dataclasses import dataclass

# Where a translated name is imported from.
AMLCOMPILE = "amlcompile"
STEP_RUN = "amlcompile_run"  # the step-side module shipped with the runtime (Run.get_context)
EXCEPTIONS = "amlcompile.exceptions"

# The SDK v1 surface of SPEC 2.1, exported by `amlcompile` (some by modules merged beside this
# one: Databricks/ADLA/transfer steps, datasets and environments, schedules).
SPEC_NAMES = frozenset(
    {
        "Workspace",
        "Experiment",
        "Datastore",
        "ComputeTarget",
        "AmlCompute",
        "DatabricksCompute",
        "AdlaCompute",
        "DataFactoryCompute",
        "ComputeTargetException",
        "Pipeline",
        "PipelineData",
        "PipelineParameter",
        "StepSequence",
        "PublishedPipeline",
        "PipelineEndpoint",
        "PipelineRun",
        "Schedule",
        "ScheduleRecurrence",
        "DataReference",
        "DataPath",
        "DataPathComputeBinding",
        "PythonScriptStep",
        "CommandStep",
        "DatabricksStep",
        "AdlaStep",
        "DataTransferStep",
        "Dataset",
        "OutputFileDatasetConfig",
        "RunConfiguration",
        "Environment",
        "CondaDependencies",
    }
)

EXCEPTION_NAMES = frozenset({"UserErrorException"})

# Sign-in objects: amlcompile signs in nowhere (credentials are Airflow connections), so a call
# that builds one becomes None, which every `auth=` argument accepts.
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

_HYPERDRIVE = (
    "no amlcompile equivalent: run the search inside a PythonScriptStep (for example with"
    " Optuna) or as one step per trial, and pick the best run in a following step"
)
_AUTOML = (
    "no amlcompile equivalent: train in a PythonScriptStep with your own model search"
    " (scikit-learn, FLAML, ...)"
)
_PARALLEL = (
    "no amlcompile equivalent: split the input in a PythonScriptStep, or run one step per"
    " partition; on Kubernetes a step's script can start its own worker pool"
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
_TABULAR = (
    "tabular datasets are not translated: use Dataset.File.from_files(...) and read the files"
    " with pandas in the step script"
)
_DEPLOY = "deployment (web services) is outside amlcompile: deploy the model with your own tooling"

# name → what to do, for names that stay on azureml (the import is left as it is).
ADVICE = {
    "HyperDriveStep": _HYPERDRIVE,
    "HyperDriveStepRun": _HYPERDRIVE,
    "HyperDriveConfig": _HYPERDRIVE,
    "AutoMLStep": _AUTOML,
    "AutoMLStepRun": _AUTOML,
    "AutoMLConfig": _AUTOML,
    "ParallelRunStep": _PARALLEL,
    "ParallelRunConfig": _PARALLEL,
    "EstimatorStep": _ESTIMATOR,
    "Estimator": _ESTIMATOR,
    "TensorFlow": _ESTIMATOR,
    "PyTorch": _ESTIMATOR,
    "SKLearn": _ESTIMATOR,
    "MpiStep": _ESTIMATOR,
    "ModuleStep": _MODULE,
    "Module": _MODULE,
    "ModuleVersion": _MODULE,
    "AzureBatchStep": "no amlcompile equivalent: run the batch job from a CommandStep",
    "KustoStep": "no amlcompile equivalent: query Kusto from a PythonScriptStep",
    "SynapseSparkStep": "no amlcompile equivalent: use a DatabricksStep or a PythonScriptStep",
    "Model": _MODEL,
    "TabularDataset": _TABULAR,
    "ScriptRunConfig": (
        "ScriptRunConfig is for single runs: put the script in a PythonScriptStep (or CommandStep)"
        " with its compute_target, arguments and runconfig"
    ),
    "InferenceConfig": _DEPLOY,
    "Webservice": _DEPLOY,
    "AciWebservice": _DEPLOY,
    "AksWebservice": _DEPLOY,
}

DEFAULT_ADVICE = (
    "no amlcompile equivalent yet: the import stays on azureml; rewrite this part by hand"
    " (docs/migrating.md)"
)

# Attribute uses reported wherever they appear: (dotted suffix, advice).
ATTRIBUTE_ADVICE = (
    ("Dataset.Tabular", _TABULAR),
    ("Model.register", _MODEL),
    (".register_model", _MODEL),
    (".to_pandas_dataframe", _TABULAR),
    (".to_spark_dataframe", _TABULAR),
)


@dataclass(frozen=True)
class Target:
    """Where a name goes: `module` is None when it stays on azureml (see `advice`)."""

    module: str | None
    name: str
    advice: str = ""
    kind: str = "import"  # import | auth | widget | version


def target_for(name: str, exported: frozenset[str]) -> Target:
    """`exported`: what the installed amlcompile exports (anything it adds later is used too)."""
    if name == "Run":
        return Target(STEP_RUN, "Run")
    if name == "VERSION":
        return Target(AMLCOMPILE, "__version__", kind="version")
    if name in AUTH_NAMES:
        return Target(None, name, kind="auth")
    if name in WIDGET_NAMES:
        return Target(None, name, kind="widget")
    if name in EXCEPTION_NAMES:
        return Target(EXCEPTIONS, name)
    if name in SPEC_NAMES or (name in exported and name not in ADVICE):
        return Target(AMLCOMPILE, name)
    return Target(None, name, ADVICE.get(name, DEFAULT_ADVICE))


def installed_exports() -> frozenset[str]:
    import amlcompile

    return frozenset(n for n in amlcompile.__all__ if not n.startswith("_"))
