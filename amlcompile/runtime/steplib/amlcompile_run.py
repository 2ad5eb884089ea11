"""`Run.get_context()` for step scripts: the part of Azure ML SDK v1's `azureml.core.Run` that
pipeline step scripts commonly use, with the standard library only.

Shipped inside the runtime package (dags_out/_amlcompile/runtime_<hash>/steplib/); the
operator that runs a step puts this folder on the step's PYTHONPATH, so a script imports it as
`from amlcompile_run import Run` (what `amlcompile migrate` writes for `from azureml.core import
Run`). Nothing of amlcompile or Airflow needs to be installed where the step runs.

Inside a step, the operator sets:
  AMLCOMPILE_METRICS_FILE    metrics, lists, rows, tables and tags are appended as JSON lines;
                             the operator reads them after the step (XCom `amlcompile_metrics`,
                             `amlcompile run` output, the reuse record)
  AMLCOMPILE_INPUT_DATASETS  JSON {input name: local path} for `run.input_datasets`
  AZUREML_RUN_ID, AMLCOMPILE_STEP, AMLCOMPILE_DAG_ID
Without them (a script run by hand) `Run.get_context()` returns an offline run that prints
what it logs, as SDK v1's offline run did.
"""

from __future__ import annotations

import json
import os
import sys
import uuid

METRICS_FILE_ENV = "AMLCOMPILE_METRICS_FILE"
INPUT_DATASETS_ENV = "AMLCOMPILE_INPUT_DATASETS"

__all__ = ["Run", "summarize"]


class _Experiment:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r})"


class Run:
    """A step's run (or, as `run.parent`, the pipeline run it belongs to)."""

    def __init__(self, run_id: str, experiment_name: str, sink, scope: str = "step"):
        self.id = run_id
        self.experiment = _Experiment(experiment_name)
        self._sink = sink
        self._scope = scope
        self._metrics: list[dict] = []
        self._tags: dict = {}
        self._properties: dict = {}
        self._parent: Run | None = None
        self.input_datasets: dict[str, str] = {}

    # ---- getting one ----
    @classmethod
    def get_context(cls, allow_offline=True, used_for_context_manager=False, **kwargs) -> Run:
        metrics_file = os.environ.get(METRICS_FILE_ENV)
        if not metrics_file:
            if not allow_offline:
                raise RuntimeError(
                    "Run.get_context(allow_offline=False): not running inside an amlcompile step"
                )
            return _offline()
        run_id = os.environ.get("AZUREML_RUN_ID") or os.environ.get("AMLCOMPILE_STEP", "step")
        dag_id = os.environ.get("AMLCOMPILE_DAG_ID", "pipeline")
        sink = _FileSink(metrics_file)
        run = cls(run_id, dag_id, sink)
        run.input_datasets = _input_datasets()
        parent = cls(run_id.rsplit("/", 1)[0], dag_id, sink, scope="parent")
        run._parent = parent
        return run

    @property
    def parent(self) -> Run | None:
        return self._parent

    @property
    def name(self) -> str:
        return self.id

    # ---- metrics ----
    def log(self, name, value, description="", step=None):
        self._record("metric", name, value)

    def log_metric(self, name, value, description="", step=None):
        self._record("metric", name, value)

    def log_list(self, name, value, description=""):
        self._record("list", name, list(value))

    def log_row(self, name, description=None, **kwargs):
        self._record("row", name, dict(kwargs))

    def log_table(self, name, value, description=""):
        self._record("table", name, {k: list(v) for k, v in dict(value).items()})

    def log_image(self, name, path=None, plot=None, description=""):
        if path is None:
            raise ValueError("log_image: give path= (plots are not stored outside Azure ML)")
        self._record("image", name, str(path))

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False):
        summary = summarize(self._metrics)["metrics"]
        return {name: summary[name]} if name is not None and name in summary else summary

    # ---- tags and properties ----
    def tag(self, key, value=None):
        self._record("tag", key, "" if value is None else str(value))

    def set_tags(self, tags):
        for key, value in dict(tags).items():
            self.tag(key, value)

    def get_tags(self):
        return dict(self._tags)

    def add_properties(self, properties):
        self._properties.update(properties)

    def get_properties(self):
        return dict(self._properties)

    # ---- status (the operator decides the real one from the exit code) ----
    def get_status(self):
        return "Running"

    def complete(self, _set_status=True):
        self._flush()

    def fail(self, error_details=None, error_code=None, _set_status=True):
        self._flush()

    def flush(self, timeout_seconds=300):
        self._flush()

    def _flush(self):
        flush = getattr(self._sink, "flush", None)
        if flush is not None:
            flush()

    def _record(self, kind: str, name, value) -> None:
        entry = {"scope": self._scope, "kind": kind, "name": str(name), "value": value}
        if kind == "tag":
            self._tags[entry["name"]] = value
        else:
            self._metrics.append(entry)
        self._sink.write(entry)

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, experiment={self.experiment.name!r})"


class _FileSink:
    """Appends one JSON line per call, opened each time: a crash loses nothing logged before."""

    def __init__(self, path: str):
        self.path = path

    def write(self, entry: dict) -> None:
        line = json.dumps(entry, default=str)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class _PrintSink:
    def write(self, entry: dict) -> None:
        who = "parent run" if entry["scope"] == "parent" else "offline run"
        print(
            f"[{who}] {entry['kind']} {entry['name']}: {json.dumps(entry['value'], default=str)}",
            file=sys.stderr,
        )


def _offline() -> Run:
    run_id = f"OfflineRun_{uuid.uuid4()}"
    sink = _PrintSink()
    run = Run(run_id, "offline", sink)
    run._parent = Run(run_id, "offline", sink, scope="parent")
    run.input_datasets = _input_datasets()
    return run


def _input_datasets() -> dict[str, str]:
    text = os.environ.get(INPUT_DATASETS_ENV)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def summarize(entries) -> dict:
    """JSON-line entries → {"metrics", "tags", "parent": {"metrics", "tags"}} as SDK v1 shows
    them: a name logged once is a value, logged again a list; rows and tables are columns."""
    out = {"metrics": {}, "tags": {}, "parent": {"metrics": {}, "tags": {}}}
    counts: dict[tuple[str, str], int] = {}
    for e in entries:
        if not isinstance(e, dict) or "name" not in e:
            continue
        target = out["parent"] if e.get("scope") == "parent" else out
        name, value, kind = e["name"], e.get("value"), e.get("kind")
        metrics = target["metrics"]
        if kind == "tag":
            target["tags"][name] = value
        elif kind in ("metric", "image"):
            key = (e.get("scope", "step"), name)
            counts[key] = counts.get(key, 0) + 1
            if counts[key] == 1:
                metrics[name] = value
            elif counts[key] == 2:
                metrics[name] = [metrics[name], value]
            else:
                metrics[name].append(value)
        elif kind == "list":
            metrics[name] = value
        elif kind in ("row", "table"):
            table = metrics.setdefault(name, {})
            if not isinstance(table, dict):
                table = metrics[name] = {}
            for column, cell in (value or {}).items():
                cells = cell if kind == "table" else [cell]
                table.setdefault(column, []).extend(cells)
    if not out["parent"]["metrics"] and not out["parent"]["tags"]:
        del out["parent"]
    return out


def read_metrics_file(path) -> dict:
    """The summary of a metrics file; a torn or foreign line is skipped, not fatal."""
    entries = []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    return summarize(entries)
