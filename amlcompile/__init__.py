"""amlcompile: Azure ML SDK v1-style pipelines compiled to static Apache Airflow 3 DAGs."""

__version__ = "0.1.0"

from .dsl import *  # noqa: E402,F403
from .dsl import __all__ as _dsl_all  # noqa: E402
from .exceptions import BuildError, ComputeTargetException  # noqa: E402

__all__ = [*_dsl_all, "BuildError", "ComputeTargetException", "__version__"]
