"""Exceptions with the SDK v1 names, so `except ComputeTargetException:` keeps working."""


class AmlCompileError(Exception):
    """Base class for errors raised by amlcompile."""


class ComputeTargetException(AmlCompileError):
    """Raised when a compute target does not exist (as `azureml.exceptions` did)."""


class UserErrorException(AmlCompileError):
    """Raised on invalid use of the DSL."""


class BuildError(AmlCompileError):
    """A pipeline could not be compiled. `problems` holds every problem found."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class DatastoreNotFoundError(UserErrorException):
    """`Datastore.get(ws, name)` of a name the workspace lacks. Scripts written for the SDK
    catch it as `msrest.exceptions.HttpOperationError` too (the build's import hook maps
    that name here when msrest is not installed)."""
