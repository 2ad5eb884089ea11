"""The authoring surface: SDK v1 names and the decorator form."""

from .adla import AdlaStep
from .compute import (
    AdlaCompute,
    AmlCompute,
    ComputeTarget,
    DatabricksCompute,
    DataFactoryCompute,
    LocalCompute,
)
from .data import DataPath, DataPathComputeBinding, DataReference, PipelineData, PipelineParameter
from .databricks import (
    DatabricksStep,
    EggLibrary,
    JarLibrary,
    MavenLibrary,
    PyPiLibrary,
    RCranLibrary,
)
from .dataset import Dataset, DatasetConsumptionConfig, FileDataset, OutputFileDatasetConfig
from .decorators import Input, Output, pipeline, step
from .environment import (
    CondaDependencies,
    DockerConfiguration,
    Environment,
    MpiConfiguration,
    PyTorchConfiguration,
    RunConfiguration,
    ScriptRunConfig,
    TensorflowConfiguration,
)
from .hyperdrive import (
    BanditPolicy,
    BayesianParameterSampling,
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveStep,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    PrimaryMetricGoal,
    RandomParameterSampling,
    TrainingOutput,
    TruncationSelectionPolicy,
)
from .parallel_run import ParallelRunConfig, ParallelRunStep
from .pipeline import Pipeline
from .schedule import Schedule, ScheduleRecurrence
from .steps import CommandStep, MpiStep, PythonScriptStep, StepSequence
from .tabular import PromoteHeadersBehavior, TabularDataset
from .transfer import DataTransferStep
from .workspace import Datastore, Workspace

__all__ = [
    "BanditPolicy",
    "BayesianParameterSampling",
    "GridParameterSampling",
    "HyperDriveConfig",
    "HyperDriveStep",
    "MedianStoppingPolicy",
    "NoTerminationPolicy",
    "PrimaryMetricGoal",
    "RandomParameterSampling",
    "TrainingOutput",
    "TruncationSelectionPolicy",
    "RunConfiguration",
    "ScriptRunConfig",
    "MpiConfiguration",
    "PyTorchConfiguration",
    "TensorflowConfiguration",
    "MpiStep",
    "OutputFileDatasetConfig",
    "FileDataset",
    "TabularDataset",
    "PromoteHeadersBehavior",
    "Environment",
    "DatasetConsumptionConfig",
    "DockerConfiguration",
    "Dataset",
    "CondaDependencies",
    "AdlaCompute",
    "AdlaStep",
    "DataTransferStep",
    "DatabricksStep",
    "EggLibrary",
    "JarLibrary",
    "MavenLibrary",
    "PyPiLibrary",
    "RCranLibrary",
    "AmlCompute",
    "CommandStep",
    "ComputeTarget",
    "DataFactoryCompute",
    "DataPath",
    "DataPathComputeBinding",
    "DataReference",
    "DatabricksCompute",
    "Datastore",
    "Input",
    "LocalCompute",
    "Output",
    "ParallelRunConfig",
    "ParallelRunStep",
    "Pipeline",
    "PipelineData",
    "PipelineParameter",
    "PythonScriptStep",
    "StepSequence",
    "Workspace",
    "pipeline",
    "step",
    "Schedule",
    "ScheduleRecurrence",
]
