"""Which SDK v1 (`azureml.*`) names amlcompile provides, and what to do about the others."""

from __future__ import annotations

from dataclasses import dataclass

from ..sdk_compat.names import (  # noqa: F401  (re-exported for the codemod and tests)
    ADVICE,
    ATTRIBUTE_ADVICE,
    AUTH_NAMES,
    DEFAULT_ADVICE,
    WIDGET_NAMES,
)

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
        "ParallelRunStep",
        "ParallelRunConfig",
        "Dataset",
        "OutputFileDatasetConfig",
        "RunConfiguration",
        "Environment",
        "CondaDependencies",
        "ScriptRunConfig",
        "InteractiveLoginAuthentication",
        "ServicePrincipalAuthentication",
        "MsiAuthentication",
        "AzureCliAuthentication",
        "TokenAuthentication",
    }
)

EXCEPTION_NAMES = frozenset({"UserErrorException"})
HYPERDRIVE = "amlcompile.hyperdrive"
HYPERDRIVE_EXPRESSIONS = frozenset(
    {
        "choice",
        "randint",
        "uniform",
        "quniform",
        "loguniform",
        "qloguniform",
        "normal",
        "qnormal",
        "lognormal",
        "qlognormal",
    }
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
    if name in AUTH_NAMES:  # amlcompile's sign-in classes give Airflow credentials
        return Target(AMLCOMPILE, name)
    if name in WIDGET_NAMES:
        return Target(None, name, kind="widget")
    if name in EXCEPTION_NAMES:
        return Target(EXCEPTIONS, name)
    if name in HYPERDRIVE_EXPRESSIONS:  # azureml.train.hyperdrive's choice, uniform, ...
        return Target(HYPERDRIVE, name)
    if name in SPEC_NAMES or (name in exported and name not in ADVICE):
        return Target(AMLCOMPILE, name)
    return Target(None, name, ADVICE.get(name, DEFAULT_ADVICE))


def installed_exports() -> frozenset[str]:
    import amlcompile

    return frozenset(n for n in amlcompile.__all__ if not n.startswith("_"))
