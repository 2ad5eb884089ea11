"""`azureml.*` inside a step: unmodified SDK v1 step scripts keep `from azureml.core import Run`.

The operator puts steplib/ first on the step's PYTHONPATH, so this package shadows a real
Azure ML SDK installed in the step's image (which could not reach Azure from here anyway).
Every `azureml.<anything>` module imports (a meta-path finder for the `azureml.` prefix):

- `Run` (`azureml.core.Run`, `azureml.core.run.Run`, ...) is `amlcompile_run.Run`;
- `TabularDataset` is the step-side tabular dataset of `amlcompile_run` (what
  `run.input_datasets[name]` is for a tabular input);
- any other name is a placeholder class that imports, annotates and `isinstance`-checks
  fine, and raises `AzureMLNotAvailable` naming itself and what to do only when it is used
  (called, or an attribute of it read).

Standard library only: nothing of amlcompile or Airflow is installed where a step runs.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

ROOT = __name__  # "azureml"

# name → (module of steplib, attribute)
_PROVIDED = {
    "Run": ("amlcompile_run", "Run"),
    "TabularDataset": ("amlcompile_run", "TabularDataset"),
}

_ADVICE = {
    "Workspace": "a step has no workspace; pass what it needs as arguments or inputs",
    "Dataset": "pass the dataset as a step input and read `Run.get_context().input_datasets`",
    "Datastore": "pass the data as a step input (DataReference, Dataset, PipelineData)",
    "Model": "write the model to an output of the step (PipelineData / OutputFileDatasetConfig)",
    "Experiment": "`Run.get_context().experiment.name` is the pipeline's DAG id",
}
_DEFAULT_ADVICE = (
    "only `Run.get_context()` (log, tag, input_datasets, parent) is available to step scripts;"
    " see docs/migrating.md"
)


class AzureMLNotAvailable(RuntimeError):
    """An SDK v1 name a step script used that amlcompile does not provide on the worker."""


def _fail(path: str, module: str):
    advice = _ADVICE.get(path.split(".")[0], _DEFAULT_ADVICE)
    raise AzureMLNotAvailable(
        f"{module}.{path} is not available in an amlcompile step (the step runs on Airflow,"
        f" not Azure ML): {advice}"
    )


class _Missing(type):
    """The metaclass of placeholders: using the class (or an attribute of it) raises."""

    def __call__(cls, *args, **kwargs):
        _fail(cls.__qualname__, cls.__module__)

    def __getattr__(cls, item):
        if item.startswith("__"):
            raise AttributeError(item)
        _fail(f"{cls.__qualname__}.{item}", cls.__module__)

    def __repr__(cls) -> str:
        return f"<{cls.__module__}.{cls.__qualname__}: not available in an amlcompile step>"


def placeholder(module: str, name: str) -> type:
    return _Missing(name, (), {"__module__": module, "__qualname__": name})


def resolve(module: str, name: str):
    if name in _PROVIDED:
        where, attr = _PROVIDED[name]
        return getattr(__import__(where), attr)
    if name.endswith(("Exception", "Error")):  # `except UserErrorException:` keeps working
        return type(name, (Exception,), {"__module__": module})
    return placeholder(module, name)


class _SdkModule(types.ModuleType):
    def __getattr__(self, item):
        if item.startswith("__"):
            raise AttributeError(item)
        value = resolve(self.__name__, item)
        setattr(self, item, value)  # one object per name and module
        return value


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(ROOT + "."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _SdkModule(spec.name)
        module.__path__ = []  # a package: every submodule path imports
        module.__all__ = []  # `from azureml.core import *` brings nothing unexpected
        return module

    def exec_module(self, module):
        return None


if not any(isinstance(f, _Finder) for f in sys.meta_path):
    sys.meta_path.insert(0, _Finder())

__path__ = []  # submodules come from the finder only, never from another `azureml` folder


def __getattr__(item):
    if item.startswith("__"):
        raise AttributeError(item)
    value = resolve(ROOT, item)
    globals()[item] = value
    return value
