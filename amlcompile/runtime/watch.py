"""The datastore-change trigger: find files added or changed under a datastore path.

A watch DAG (generated beside the pipeline's DAG) runs this every `polling_interval` minutes;
each change becomes the conf of one pipeline run (TriggerDagRunOperator, mapped). The first
poll records what is there and starts nothing, as Azure ML's schedules only reacted to
changes after they were created. The last-seen listing lives on the datastore, beside the
reuse records, so it survives Airflow restarts and needs no metadata-database access.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from airflow.sdk import BaseOperator

from .reuse import REUSE_DIR

WATCH_DIR = str(Path(REUSE_DIR).parent / "_watch")
MAX_RUNS_PER_POLL = 50


def listing(root: Path, path: str) -> dict[str, list[int]]:
    """Every file under root/path → [size, mtime_ns], keyed by its path on the datastore."""
    base = root / path
    found: dict[str, list[int]] = {}
    if base.is_file():
        st = base.stat()
        return {path: [st.st_size, st.st_mtime_ns]}
    for folder, dirs, files in os.walk(base):
        dirs.sort()
        for name in sorted(files):
            full = Path(folder) / name
            st = full.stat()
            found[full.relative_to(root).as_posix()] = [st.st_size, st.st_mtime_ns]
    return found


def changes(before: dict | None, now: dict) -> list[str]:
    if before is None:
        return []
    return sorted(p for p, sig in now.items() if before.get(p) != sig)


class DatastoreChangeOperator(BaseOperator):
    """Returns one conf dict per changed file (at most MAX_RUNS_PER_POLL, oldest name first)."""

    def __init__(
        self, *, kind: str, root: str, path: str, parameter: str | None, watch_id: str, **kw
    ):
        super().__init__(**kw)
        self.kind = kind
        self.root = root
        self.path = path
        self.parameter = parameter
        self.watch_id = watch_id

    def execute(self, context):
        if self.kind != "local":
            raise RuntimeError(f"watching a {self.kind} datastore is not supported")
        root = Path(self.root)
        state = root / WATCH_DIR / f"{self.watch_id}.json"
        try:
            before = json.loads(state.read_text())
        except (OSError, ValueError):
            before = None
        now = listing(root, self.path)
        changed = changes(before, now)
        state.parent.mkdir(parents=True, exist_ok=True)
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps(now, sort_keys=True))
        os.replace(tmp, state)
        if before is None:
            self.log.info("first poll: %d files under %s recorded", len(now), self.path)
        for p in changed:
            self.log.info("changed: %s", p)
        changed = changed[:MAX_RUNS_PER_POLL]
        if self.parameter is None:
            return [{}] if changed else []
        return [{self.parameter: p} for p in changed]
