"""`azureml.train.hyperdrive` (and its `parameter_expressions`) in amlcompile: the samplers,
policies, goal, configuration and the parameter expressions (`choice`, `uniform`, ...).

    from amlcompile.hyperdrive import GridParameterSampling, choice

The classes are also exported by `amlcompile`; the expressions only here (their short names
would shadow others under `from amlcompile import *`). See docs/hyperdrive.md.
"""

from .dsl.hyperdrive import *  # noqa: F403
from .dsl.hyperdrive import __all__  # noqa: F401
