"""The `az` stand-in (tests/support/bin/az) installed in a temporary bin folder on PATH."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "bin" / "az"
RESULTS = ("Succeeded", "Failed")


class FakeAz:
    def __init__(self, folder: Path, running_shows: int = 1):
        self.bin_dir = folder / "bin"
        self.log_path = folder / "az-calls.jsonl"
        self._config_path = self.bin_dir / "fake_az.json"
        self._config = {
            "log_path": str(self.log_path),
            "jobs_path": str(folder / "az-jobs.json"),
            "result": "Succeeded",
            "running_shows": running_shows,  # `show` answers Running this many times first
            "baseline_env": {},
        }
        self.bin_dir.mkdir(parents=True)
        text = SCRIPT.read_text().split("\n", 1)[1]  # run by this interpreter, whatever PATH says
        executable = self.bin_dir / "az"
        executable.write_text(f"#!{sys.executable}\n{text}")
        executable.chmod(0o755)
        self._save()

    def snapshot_env(self) -> None:
        """From now on a call records only the environment variables that differ from ours."""
        self._config["baseline_env"] = dict(os.environ)
        self._save()

    def _save(self) -> None:
        self._config_path.write_text(json.dumps(self._config))

    def set_result(self, state: str) -> None:
        if state not in RESULTS:
            raise ValueError(f"fake az result must be one of {RESULTS}, not {state!r}")
        self._config["result"] = state
        self._save()

    def calls(self) -> list[dict]:
        """Every invocation so far: {"argv", "env", "cwd", "script_text"?}."""
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]
