"""One warning per Azure-only argument that is accepted and ignored."""

from __future__ import annotations

import warnings

_seen: set[tuple[str, str]] = set()


class AzureOnlyArgumentWarning(UserWarning):
    pass


def ignored(owner: str, **kwargs) -> None:
    """Warn once per (owner, argument) for arguments set to something meaningful."""
    for name, value in kwargs.items():
        if value in (None, False, "", [], {}, "NotSpecified"):
            continue
        if (owner, name) in _seen:
            continue
        _seen.add((owner, name))
        warnings.warn(
            f"{owner}: argument {name!r} only has a meaning on Azure and is ignored",
            AzureOnlyArgumentWarning,
            stacklevel=3,
        )
