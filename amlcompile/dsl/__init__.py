"""The authoring surface: SDK v1 names and the decorator form."""

from .compute import (
    AdlaCompute,
    AmlCompute,
    ComputeTarget,
    DatabricksCompute,
    DataFactoryCompute,
    LocalCompute,
)
from .data import DataPath, DataPathComputeBinding, DataReference, PipelineData, PipelineParameter
from .decorators import Input, Output, pipeline, step
from .pipeline import Pipeline
from .runs import PipelineEndpoint, PipelineRun, PublishedPipeline
from .schedule import Schedule, ScheduleRecurrence
from .steps import CommandStep, PythonScriptStep, StepSequence
from .workspace import Datastore, Experiment, Workspace

__all__ = [
    "AdlaCompute",
    "AmlCompute",
    "CommandStep",
    "ComputeTarget",
    "DataFactoryCompute",
    "DataPath",
    "DataPathComputeBinding",
    "DataReference",
    "DatabricksCompute",
    "Datastore",
    "Experiment",
    "Input",
    "LocalCompute",
    "Output",
    "Pipeline",
    "PipelineData",
    "PipelineParameter",
    "PythonScriptStep",
    "StepSequence",
    "Workspace",
    "pipeline",
    "step",
    "PipelineEndpoint",
    "PipelineRun",
    "PublishedPipeline",
    "Schedule",
    "ScheduleRecurrence",
]
