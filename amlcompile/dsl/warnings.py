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


class UnavailableNameWarning(UserWarning):
    """An SDK v1 name amlcompile does not provide was called during a build."""


class AzureOnlyAttributeWarning(UserWarning):
    """An attribute that only means something on Azure was read; it has a neutral value."""


_messages: set[str] = set()


def warn_once(message: str, category=UnavailableNameWarning) -> None:
    """Warn once per message, attributed to the user's line."""
    if message in _messages:
        return
    _messages.add(message)
    file, line = caller_location()
    warnings.warn_explicit(message, category, file, line)


def azure_only_attribute(owner: str, name: str, value):
    """`compute.provisioning_state`, `cluster_resource_id`, ...: warn once, answer `value`."""
    warn_once(
        f"{owner}.{name} only has a meaning on Azure; amlcompile answers {value!r}",
        AzureOnlyAttributeWarning,
    )
    return value


class UnorderedValueWarning(UserWarning):
    """A set was given where order matters; amlcompile sorted it so every build is the same."""


_unordered_seen: set[tuple[str, int, str]] = set()


def _sorted(values) -> list:
    try:
        return sorted(values)
    except TypeError:  # mixed types: by type name, then text
        return sorted(values, key=lambda v: (type(v).__name__, repr(v)))


def _warn_unordered(owner: str, what: str, where) -> None:
    file, line = where or caller_location()
    if (file, line, what) in _unordered_seen:
        return
    _unordered_seen.add((file, line, what))
    warnings.warn_explicit(
        f"{owner}: {what} is a set, whose order changes from one Python process to the next;"
        " amlcompile sorted it so that every build gives the same DAG (use a list to choose"
        " the order)",
        UnorderedValueWarning,
        file,
        line,
    )


def ordered(value, owner: str, what: str, where=None):
    """`value` as given, or sorted into a list when it is a set or frozenset (one warning)."""
    if isinstance(value, (set, frozenset)):
        _warn_unordered(owner, what, where)
        return _sorted(value)
    return value


def set_text(value, owner: str, what: str, where=None) -> str:
    """A set used as one value: its text as str() gives it, with the items sorted."""
    _warn_unordered(owner, what, where)
    items = ", ".join(repr(v) for v in _sorted(value))
    if isinstance(value, frozenset):
        return f"frozenset({{{items}}})" if value else "frozenset()"
    return f"{{{items}}}" if value else "set()"
