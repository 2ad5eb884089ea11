"""Small wording helpers for messages: counts with the right plural, "did you mean"."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def plural(count: int, word: str, many: str | None = None) -> str:
    """`plural(1, "step")` → "1 step"; `plural(2, "step")` → "2 steps"."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """ " (did you mean 'x'?)" for the closest of `choices`, or "" when none is close."""
    close = difflib.get_close_matches(str(word), sorted(set(map(str, choices))), 1, cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unexpected_arguments(what: str, given, accepted) -> str:
    """ "PythonScriptStep got unexpected arguments: source_directry (did you mean
    'source_directory'?)" """
    accepted = [a for a in accepted if not a.startswith("_")]
    names = ", ".join(f"{g}{did_you_mean(g, accepted)}" for g in given)
    return f"{what} got unexpected arguments: {names}"


def parameter_names(fn) -> list[str]:
    """The keyword-passable parameters of a function or class (not self, *args, **kwargs)."""
    import inspect

    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [n for n, p in signature.parameters.items() if p.kind in kinds and n != "self"]


def did_you_mean_file(folder, name: str, limit: int = 20000) -> str:
    """ " (did you mean 'train.py'?)" for a file name close to `name` under `folder` (paths
    relative to it; at most `limit` files looked at, hidden folders skipped)."""
    import os

    if folder is None or not os.path.isdir(folder):
        return ""
    found: list[str] = []
    for path, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        rel = os.path.relpath(path, folder).replace(os.sep, "/")
        found += [n if rel == "." else f"{rel}/{n}" for n in names]
        if len(found) >= limit:
            break
    return did_you_mean(name, found)
