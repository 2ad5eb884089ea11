"""amlcompile: Azure ML SDK v1-style pipelines compiled to static Apache Airflow 3 DAGs.

The SDK v1 names are imported on first use (`from amlcompile import Pipeline`, `import *`,
`amlcompile.Workspace`), so a command that needs none of them (`--version`, `status`,
`logs`) does not pay for them, and a build imports only what it uses: the REST client and the
run objects (`PipelineRun`, ...) only when a pipeline file names them.
"""

__version__ = "0.1.0"

# Where each name that is not the DSL's lives (module relative to this package); every other
# public name is one of `amlcompile.dsl.__all__`.
_LAZY = {
    "Experiment": ".client.experiment",
    "PipelineEndpoint": ".client.runs",
    "PipelineRun": ".client.runs",
    "PublishedPipeline": ".client.runs",
    "AzureCliAuthentication": ".client.auth",
    "InteractiveLoginAuthentication": ".client.auth",
    "MsiAuthentication": ".client.auth",
    "ServicePrincipalAuthentication": ".client.auth",
    "TokenAuthentication": ".client.auth",
    "BuildError": ".exceptions",
    "ComputeTargetException": ".exceptions",
    "UserErrorException": ".exceptions",
}
_CONSTANT_NAMES = ("DEFAULT_CPU_IMAGE", "DEFAULT_GPU_IMAGE")


def _dsl():
    """The DSL, with the client layer's publish/submit installed into it (dsl/ never imports
    the client layer: importing a DSL name through this package installs them)."""
    from . import dsl
    from .client import actions  # noqa: F401  (installs publish/submit)

    return dsl


def _all() -> list[str]:
    return [*_dsl().__all__, *_LAZY, *_CONSTANT_NAMES, "__version__"]


def _is_submodule(name: str) -> bool:
    import os

    folder = os.path.join(__path__[0], name)
    return os.path.isdir(folder) or os.path.isfile(folder + ".py")


def __getattr__(name: str):
    if name == "__all__":
        value = _all()
    elif name in _LAZY:
        import importlib

        _dsl()  # any SDK name makes publish/submit work, as importing the package did
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif name in _CONSTANT_NAMES:
        from .sdk_compat.names import CONSTANTS

        value = CONSTANTS[name]
    elif name.startswith("_") or _is_submodule(name):  # `from . import snapshot` asks first
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    else:
        dsl = _dsl()
        if name not in dsl.__all__:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(dsl, name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_all()})
