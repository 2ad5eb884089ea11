"""Where in the user's code a DSL object was created, for error messages and doc_md."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


def caller_location() -> tuple[str, int]:
    """The first stack frame outside the amlcompile package: (absolute file, line)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        resolved = _resolved(filename)
        if not resolved.startswith(_PACKAGE_DIR) or "/tests/" in filename:
            return resolved, frame.f_lineno
        frame = frame.f_back
    return "<unknown>", 0


@functools.lru_cache(maxsize=256)
def _resolved(filename: str) -> str:
    # Called for every DSL object created: resolving (realpath, a stat per path part) each
    # time was a seventh of a 10,000-step build. A source file's path does not move mid-build.
    return str(Path(filename).resolve())
