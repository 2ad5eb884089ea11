"""Shared fixtures: throwaway projects written as source text."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


class Project:
    """A temporary project root (has a pyproject.toml) holding pipeline files and scripts."""

    def __init__(self, root: Path):
        self.root = root
        (root / "pyproject.toml").write_text("[project]\nname = 'tmp-project'\n")

    def write(self, rel: str, text: str = "", mode: int | None = None) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        if mode is not None:
            path.chmod(mode)
        return path

    def script(self, rel: str, body: str = "import sys\nprint(sys.argv[1:])\n") -> Path:
        return self.write(rel, body)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path)


def amlcompile_cli(*args, cwd=None, env=None):
    """Run the CLI in a subprocess (what a user sees: exit code, stdout, stderr)."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "amlcompile.cli", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


# Azurite, the Databricks Jobs API stand-in and the `az` stand-in (tests/support/).
pytest_plugins = ["tests.support.fixtures"]
# Hypothesis: bounded example counts are set per test; CI runs derandomized (the same examples
# every time, so a red build is reproducible) with HYPOTHESIS_PROFILE=ci (set by .ci/run).
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
