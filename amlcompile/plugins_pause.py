"""Making amlcompile's own pydantic models without looking for pydantic plugins.

Pydantic looks for plugins (validation instrumentation such as logfire) when the first
model class of a process is made, by reading the entry points of every installed
distribution: 40-70 ms with Airflow and its providers installed, a twentieth of a
1,000-step build. Our models need none, so the two modules that define them make their
classes with pydantic's own switch (`PYDANTIC_DISABLE_PLUGINS`) set, and put it back as it
was when they are done: a model the user's code makes later still gets its plugins.
"""

from __future__ import annotations

import os

_SWITCH = "PYDANTIC_DISABLE_PLUGINS"


class PluginsPaused:
    """Started where a models module starts; `end()` at its end."""

    def __init__(self) -> None:
        self._before = os.environ.get(_SWITCH)
        os.environ[_SWITCH] = "__all__"

    def end(self) -> None:
        if self._before is None:
            os.environ.pop(_SWITCH, None)
        else:
            os.environ[_SWITCH] = self._before
