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
  AMLCOMPILE_TABULAR_DATASETS  JSON {input name: how to read it} for the inputs that are
                             tabular datasets: `run.input_datasets[name]` is then a
                             TabularDataset (`to_pandas_dataframe()`, pandas on the worker)
  AZUREML_RUN_ID, AMLCOMPILE_STEP, AMLCOMPILE_DAG_ID
Without them (a script run by hand) `Run.get_context()` returns an offline run that prints
what it logs, as SDK v1's offline run did.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

METRICS_FILE_ENV = "AMLCOMPILE_METRICS_FILE"
INPUT_DATASETS_ENV = "AMLCOMPILE_INPUT_DATASETS"
TABULAR_DATASETS_ENV = "AMLCOMPILE_TABULAR_DATASETS"

__all__ = ["Run", "TabularDataset", "summarize"]


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
        self.input_datasets: dict[str, str | TabularDataset] = {}

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


def _json_env(name: str) -> dict:
    text = os.environ.get(name)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _input_datasets() -> dict:
    """{input name: its local path, or a TabularDataset for a tabular input}."""
    paths = {str(k): str(v) for k, v in _json_env(INPUT_DATASETS_ENV).items()}
    for name, spec in _json_env(TABULAR_DATASETS_ENV).items():
        if name in paths and isinstance(spec, dict):
            paths[name] = TabularDataset(name, paths[name], spec)
    return paths


class TabularDataset:
    """A tabular dataset input as the step sees it (SDK v1's TabularDataset, the part step
    scripts use): files and how to read them. `to_pandas_dataframe()` needs pandas in the
    step's environment (and pyarrow for parquet); nothing is read before it is called."""

    def __init__(self, name: str, path: str, spec: dict, transforms=None):
        self.name = name
        self._path = path
        self._spec = dict(spec)
        self._transforms = list(spec.get("transforms") or []) if transforms is None else transforms

    # ---- transformations, applied when read ----
    def _with(self, op: str, arg) -> TabularDataset:
        return TabularDataset(self.name, self._path, self._spec, [*self._transforms, [op, arg]])

    def take(self, count: int) -> TabularDataset:
        return self._with("take", int(count))

    def skip(self, count: int) -> TabularDataset:
        return self._with("skip", int(count))

    def keep_columns(self, columns, validate=False) -> TabularDataset:
        return self._with("keep_columns", [columns] if isinstance(columns, str) else list(columns))

    def drop_columns(self, columns) -> TabularDataset:
        return self._with("drop_columns", [columns] if isinstance(columns, str) else list(columns))

    # ---- reading ----
    def files(self) -> list[Path]:
        """The files of the table, in reading order."""
        base = Path(self._path)
        if base.is_file():
            return [base]
        out: list[Path] = []
        for pattern in self._spec.get("files") or [""]:
            if any(c in pattern for c in "*?["):
                matches = sorted(base.glob(pattern))
            else:
                matches = [base / pattern] if pattern else [base]
            for match in matches:
                out += [match] if match.is_file() else _files_under(match)
        if not out:
            raise FileNotFoundError(f"tabular dataset {self.name!r}: no files in {base}")
        return out

    def to_pandas_dataframe(self, on_error="null", out_of_range_datetime="null"):
        try:
            import pandas
        except ImportError:
            raise ModuleNotFoundError(
                f"input {self.name!r}: TabularDataset.to_pandas_dataframe() needs pandas in the"
                " step's environment; add it to the step's packages (CondaDependencies /"
                " Environment) or its image"
            ) from None
        base = Path(self._path)
        frames = []
        for i, path in enumerate(self.files()):
            frame = self._read(pandas, path, i, base)
            if i and self._spec.get("header") == "first_file":  # the first file's names
                frame.columns = frames[0].columns[: len(frame.columns)]
            frames.append(frame)
        frame = frames[0] if len(frames) == 1 else pandas.concat(frames, ignore_index=True)
        for op, arg in self._transforms:
            if op == "take":
                frame = frame.head(arg)
            elif op == "skip":
                frame = frame.iloc[arg:]
            elif op == "keep_columns":
                frame = frame[list(arg)]
            elif op == "drop_columns":
                frame = frame.drop(columns=list(arg))
        return frame.reset_index(drop=True)

    def _read(self, pandas, path: Path, index: int, base: Path):
        spec = self._spec
        fmt = spec.get("format", "delimited")
        if fmt == "parquet":
            frame = pandas.read_parquet(path)
        elif fmt == "json_lines":
            frame = pandas.read_json(path, lines=True, encoding=spec.get("encoding", "utf8"))
        else:
            header = spec.get("header", "all_files")
            has_header = header in ("all_files", "combine") or (
                header == "first_file" and index == 0
            )
            separator = spec.get("separator", ",")
            kwargs = {
                "sep": separator,
                "header": 0 if has_header else None,
                "encoding": spec.get("encoding", "utf8"),
                "engine": "c" if len(separator) == 1 else "python",
            }
            if not spec.get("infer_column_types", True):
                kwargs["dtype"] = str
            if spec.get("empty_as_string"):
                kwargs["keep_default_na"] = False
            frame = pandas.read_csv(path, **kwargs)
            if not has_header:  # SDK v1 names headerless columns Column1, Column2, ...
                frame.columns = [f"Column{i + 1}" for i in range(len(frame.columns))]
        if spec.get("include_path"):
            rel = path.name if path == base else path.relative_to(base).as_posix()
            frame.insert(0, "Path", "/" + rel)
        return frame

    def __repr__(self) -> str:
        return f"TabularDataset(name={self.name!r}, path={self._path!r})"


def _files_under(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in sorted(files) if not f.startswith(".")]
    return found


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
