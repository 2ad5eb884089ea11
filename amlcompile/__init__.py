"""amlcompile: Azure ML SDK v1-style pipelines compiled to static Apache Airflow 3 DAGs."""

__version__ = "0.1.0"

from .client import actions as _actions  # noqa: E402,F401  (installs publish/submit)
from .client.auth import (  # noqa: E402
    AzureCliAuthentication,
    InteractiveLoginAuthentication,
    MsiAuthentication,
    ServicePrincipalAuthentication,
    TokenAuthentication,
)
from .client.experiment import Experiment  # noqa: E402
from .client.runs import PipelineEndpoint, PipelineRun, PublishedPipeline  # noqa: E402
from .dsl import *  # noqa: E402,F403
from .dsl import __all__ as _dsl_all  # noqa: E402
from .exceptions import BuildError, ComputeTargetException, UserErrorException  # noqa: E402
from .sdk_compat.names import CONSTANTS as _CONSTANTS  # noqa: E402

DEFAULT_CPU_IMAGE = _CONSTANTS["DEFAULT_CPU_IMAGE"]
DEFAULT_GPU_IMAGE = _CONSTANTS["DEFAULT_GPU_IMAGE"]

__all__ = [
    *_dsl_all,
    "Experiment",
    "PipelineEndpoint",
    "PipelineRun",
    "PublishedPipeline",
    "AzureCliAuthentication",
    "InteractiveLoginAuthentication",
    "MsiAuthentication",
    "ServicePrincipalAuthentication",
    "TokenAuthentication",
    "DEFAULT_CPU_IMAGE",
    "DEFAULT_GPU_IMAGE",
    "BuildError",
    "ComputeTargetException",
    "UserErrorException",
    "__version__",
]
