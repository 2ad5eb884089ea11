"""`from amlcompile_run import Run` where amlcompile is installed (a step script run by hand):
the same module the runtime ships to steps (amlcompile/runtime/steplib/amlcompile_run.py)."""

from amlcompile.runtime.steplib.amlcompile_run import Run, summarize

__all__ = ["Run", "summarize"]
