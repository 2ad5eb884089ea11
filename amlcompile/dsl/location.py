"""Where in the user's code a DSL object was created, for error messages and doc_md."""

from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


def caller_location() -> tuple[str, int]:
    """The first stack frame outside the amlcompile package: (absolute file, line)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not str(Path(filename).resolve()).startswith(_PACKAGE_DIR) or "/tests/" in filename:
            return str(Path(filename).resolve()), frame.f_lineno
        frame = frame.f_back
    return "<unknown>", 0
