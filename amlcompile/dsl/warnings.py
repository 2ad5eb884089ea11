"""One warning per argument that is accepted and ignored: Azure-only, or not supported yet."""

from __future__ import annotations

import inspect
import warnings

from .location import caller_location

_seen: set[tuple[str, str]] = set()


class IgnoredArgumentWarning(UserWarning):
    pass


class AzureOnlyArgumentWarning(IgnoredArgumentWarning):
    pass


class UnsupportedArgumentWarning(IgnoredArgumentWarning):
    pass


def _meaningful(value) -> bool:
    return value not in (None, False, "", [], {}, "NotSpecified")


def _warn(owner, name, message, category) -> None:
    if (owner, name) in _seen:
        return
    _seen.add((owner, name))
    # Attributed to the user's line, however deep inside amlcompile the check runs.
    file, line = caller_location()
    warnings.warn_explicit(f"{owner}: argument {name!r} {message}", category, file, line)


def followed_from_dag(owner: str) -> None:
    """Publishing a deployed DAG cannot change continue_on_step_failure's default."""
    _warn(
        owner,
        "continue_on_step_failure",
        "sets the DAG's default when the DAG is built; publishing a deployed DAG cannot"
        " change it (give it per run: submit(..., continue_on_step_failure=...))",
        UnsupportedArgumentWarning,
    )


def ignored(owner: str, **kwargs) -> None:
    """Warn once per (owner, argument) for arguments set to something meaningful."""
    for name, value in kwargs.items():
        if _meaningful(value):
            _warn(
                owner, name, "only has a meaning on Azure and is ignored", AzureOnlyArgumentWarning
            )


def unsupported(owner: str, **kwargs) -> None:
    """Like ignored(), for arguments that would change behaviour but amlcompile lacks yet."""
    for name, value in kwargs.items():
        if _meaningful(value):
            _warn(
                owner,
                name,
                "is not supported by amlcompile and is ignored",
                UnsupportedArgumentWarning,
            )


def non_default(func, values: dict, *names: str) -> dict:
    """The named arguments whose value differs from `func`'s default (others become None)."""
    params = inspect.signature(func).parameters
    changed = {n: values[n] for n in names if values[n] != params[n].default}
    # A change to a falsy value (False, 0) is still a change worth a warning.
    return {n: v if _meaningful(v) else repr(v) for n, v in changed.items()}
