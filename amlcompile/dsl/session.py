"""Process-wide state while user code is imported for a build.

During `amlcompile build` the user's script is imported with a BuildSession active: calls
that would act on Airflow (submit, publish, wait_for_completion) only register the pipeline,
and `upload_files` is recorded (into dags_out/_amlcompile/uploads.json, see uploads.py) for
`amlcompile deploy` and `amlcompile run` to make, instead of copying anything.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Upload:
    datastore: str
    files: list[tuple[str, str]]  # (absolute source, path on datastore)
    overwrite: bool


@dataclass
class BuildSession:
    registered: list[tuple[Any, str | None]] = field(default_factory=list)  # (pipeline, name)
    uploads: list[Upload] = field(default_factory=list)
    # What the client layer registered (published pipelines, endpoints, schedules), so the
    # script's lookups answer within the build.
    client: dict[str, Any] = field(default_factory=dict)
    _rank: dict[int, int] = field(default_factory=dict)

    def register(self, pipeline, name: str | None = None, published: bool = False) -> None:
        # A published name beats an experiment name: it is what users trigger by.
        rank = 2 if published else 1 if name else 0
        for i, (p, _existing) in enumerate(self.registered):
            if p is pipeline:
                if rank > self._rank.get(id(p), 0):
                    self.registered[i] = (p, name)
                    self._rank[id(p)] = rank
                return
        self.registered.append((pipeline, name))
        self._rank[id(pipeline)] = rank


_current: BuildSession | None = None
# Steps created while a @pipeline body runs are collected here (innermost body last).
_capture_stack: list[list] = []


_sequence = 0


def next_sequence() -> int:
    """A process-wide counter ordering `run_after` calls and `Pipeline(...)` constructions."""
    global _sequence
    _sequence += 1
    return _sequence


def current() -> BuildSession | None:
    return _current


@contextlib.contextmanager
def build_session():
    global _current
    previous, _current = _current, BuildSession()
    try:
        yield _current
    finally:
        _current = previous


def note_step(step) -> None:
    if _capture_stack:
        _capture_stack[-1].append(step)


@contextlib.contextmanager
def capturing_steps():
    bucket: list = []
    _capture_stack.append(bucket)
    try:
        yield bucket
    finally:
        _capture_stack.pop()


# The SDK v1 client layer (amlcompile/client/) installs what `Pipeline.publish`/`submit` do;
# dsl/ never imports it, so the layers stay one-way.
_actions = None


def install_actions(actions) -> None:
    global _actions
    _actions = actions


def actions():
    if _actions is None:
        # The package (amlcompile/__init__.py, always loaded before this module) imports the
        # client layer on first use of an SDK name; a program that imported only dsl/ modules
        # gets it here, through the package, so dsl/ still names nothing above it.
        sys.modules[__name__.split(".")[0]]._dsl()
    assert _actions is not None, "amlcompile.client was not imported"
    return _actions
