"""While a build imports user code, `azureml.*` imports resolve to amlcompile's names.

Every `azureml` module path imports (`azureml.core`, `azureml.pipeline.steps`,
`azureml.data.data_reference`, ...) as a module whose attributes are looked up by name: a name
amlcompile provides is amlcompile's object; the SDK's constants and sign-in classes are ours
too; any other name is a placeholder (`Unavailable`) that imports fine and warns, with the
user's file and line, only where it is called. What a placeholder call returns is unusable in
a pipeline: a step built from one is refused by the build with that same location and what to
use instead. So unmodified SDK v1 scripts build as far as amlcompile can take them, and the
error is where the unsupported thing is used, not where it is imported.

The hook is installed only for the duration of a build (`installed()`); it hides any real
`azureml` package meanwhile and restores it after.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
import types

from ..dsl.location import caller_location
from ..dsl.warnings import warn_once
from . import names

ROOT = "azureml"
# Azure's REST layer, whose HttpOperationError SDK scripts catch around lookups; stood in for
# only when it is not installed.
MSREST = "msrest"

# Where a few SDK names live in amlcompile outside the top-level package.
_SPECIAL = {
    "Run": ("amlcompile_run", "Run"),  # the step-side run (offline at build time)
    "UserErrorException": ("amlcompile.exceptions", "UserErrorException"),
    "ComputeTargetException": ("amlcompile.exceptions", "ComputeTargetException"),
}


class Unavailable:
    """An SDK v1 name amlcompile does not provide (a class, function or constant)."""

    def __init__(self, module: str, name: str, path: str | None = None):
        self._module = module
        self._name = name
        self._path = path or name  # dotted uses: `Model.register` → "Model.register"

    @property
    def advice(self) -> str:
        return names.advice_for(self._path.split(".")[0])

    def __call__(self, *args, **kwargs):
        where = caller_location()
        warn_once(
            f"{where[0]}:{where[1]}: {self._path} ({self._module}) is not available in"
            f" amlcompile: {self.advice}; this call does nothing in a build",
        )
        return UnavailableResult(self, where)

    def __getattr__(self, item):
        if item.startswith("__"):
            raise AttributeError(item)
        return Unavailable(self._module, self._name, f"{self._path}.{item}")

    # `isinstance(step, AutoMLStep)` and `issubclass(...)` work as with a class: true only
    # for what this name made (Python asks the type of the second argument for these).
    def __instancecheck__(self, obj) -> bool:
        return isinstance(obj, UnavailableResult) and obj._origin._path == self._path

    def __subclasscheck__(self, cls) -> bool:
        return isinstance(cls, type) and self._base() in cls.__mro__

    def _base(self) -> type:
        """The one stand-in class a user's `class MyStep(<this name>)` derives from."""
        base = _BASES.get(self._path)
        if base is None:
            base = _BASES[self._path] = type(self._name, (UnavailableResult,), {})
            base._unavailable = self
        return base

    def __mro_entries__(self, bases):
        # `class MyStep(HyperDriveStep)`: a class of the user's that fails where it is used.
        return (self._base(),)

    def __repr__(self) -> str:
        return f"<{self._module}.{self._path}: not available in amlcompile>"


_BASES: dict[str, type] = {}


class UnavailableResult:
    """What calling an `Unavailable` returns: absorbs what a script does with it at build
    time; `dsl/capture.py` refuses it as a step or data, naming where it was made."""

    def __init__(self, origin=None, where=None, *args, **kwargs):
        if not isinstance(origin, Unavailable):  # made through a user subclass
            base = getattr(type(self), "_unavailable", None)
            origin = base or Unavailable("azureml", type(self).__name__)
            where = caller_location()
        self._origin = origin
        self._where = where

    def unavailable_problem(self) -> tuple[str, tuple[str, int]]:
        o = self._origin
        return f"{o._path} ({o._module}) is not available in amlcompile: {o.advice}", self._where

    def __getattr__(self, item):
        if item.startswith("__"):
            raise AttributeError(item)
        return _Absorbing(self)

    def __iter__(self):
        return iter(())

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<result of {self._origin._path}: not available in amlcompile>"


class _Absorbing:
    """An attribute of an unavailable result: callable, and absorbing again."""

    def __init__(self, result):
        self._result = result

    def __call__(self, *args, **kwargs):
        return self._result

    def __getattr__(self, item):
        if item.startswith("__"):
            raise AttributeError(item)
        return self

    def __iter__(self):
        return iter(())

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return repr(self._result)


def _exception(module: str, name: str) -> type:
    from ..exceptions import AmlCompileError

    return type(name, (AmlCompileError,), {"__module__": module})


class SdkModule(types.ModuleType):
    """`azureml.<anything>`: attributes are resolved by name (see the module docstring)."""

    def __getattr__(self, item):
        if item.startswith("__"):
            raise AttributeError(item)
        value = resolve(self.__name__, item)
        setattr(self, item, value)  # one object per name and module, as a real module has
        return value


def resolve(module: str, name: str):
    import amlcompile

    if module == "azureml.train.hyperdrive" or module.startswith("azureml.train.hyperdrive."):
        from ..dsl import hyperdrive  # the parameter expressions: choice, uniform, ...

        if name in hyperdrive.EXPRESSIONS:
            return hyperdrive.EXPRESSIONS[name]
    if name in _SPECIAL:
        where, attr = _SPECIAL[name]
        return getattr(__import__(where, fromlist=[attr]), attr)
    if name in names.CONSTANTS:
        return names.CONSTANTS[name]
    if name == "VERSION":
        return amlcompile.__version__
    if name in amlcompile.__all__ and name not in names.ADVICE:
        return getattr(amlcompile, name)
    if name in names.AUTH_NAMES or name in names.WIDGET_NAMES:
        from ..client import auth

        return getattr(auth, name)
    if name == "HttpOperationError":  # what Datastore.get raised for an unknown name
        from ..exceptions import DatastoreNotFoundError

        return DatastoreNotFoundError
    if name.endswith(("Exception", "Error")):
        return _exception(module, name)
    return Unavailable(module, name)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    roots: tuple[str, ...] = (ROOT,)

    def find_spec(self, fullname, path=None, target=None):
        if any(fullname == r or fullname.startswith(r + ".") for r in self.roots):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = SdkModule(spec.name)
        module.__path__ = []  # a package: every submodule path imports
        module.__all__ = []  # `from azureml.core import *` brings nothing unexpected
        return module

    def exec_module(self, module):
        return None


_FINDER = _Finder()


@contextlib.contextmanager
def installed():
    """`azureml.*` resolves to amlcompile inside the block; a real SDK comes back after."""
    if _FINDER in sys.meta_path:  # nested builds share the outer hook
        yield
        return
    import importlib.util

    _FINDER.roots = (ROOT,) if importlib.util.find_spec(MSREST) else (ROOT, MSREST)
    hidden = {k: sys.modules.pop(k) for k in list(sys.modules) if _is_sdk(k)}
    sys.meta_path.insert(0, _FINDER)
    try:
        yield
    finally:
        sys.meta_path.remove(_FINDER)
        for k in [k for k in sys.modules if _is_sdk(k)]:
            del sys.modules[k]
        sys.modules.update(hidden)


def _is_sdk(module_name: str) -> bool:
    return any(module_name == r or module_name.startswith(r + ".") for r in _FINDER.roots)
