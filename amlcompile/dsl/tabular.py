"""Tabular datasets: `Dataset.Tabular.from_delimited_files/from_parquet_files/...`.

A tabular dataset is files on a datastore plus how to read them. As a step input it binds like
a file dataset (one datastore input port), and the port carries the reading instructions
(`ir.TabularSpec`); in the step script, `Run.get_context().input_datasets[name]` is then a
TabularDataset whose `to_pandas_dataframe()` reads the files with pandas on the worker
(runtime/steplib/amlcompile_run.py). Nothing is read at build time.
"""

from __future__ import annotations

import enum
from pathlib import PurePosixPath

from ..exceptions import UserErrorException
from .data import PipelineDataInput
from .dataset import DatasetConsumptionConfig, FileDataset, _pairs
from .location import caller_location
from .url_dataset import UrlFileDataset, check_urls, is_url_path
from .warnings import ignored, unsupported


class PromoteHeadersBehavior(enum.IntEnum):
    """SDK v1's header modes of `from_delimited_files(header=...)`
    (azureml.data.dataset_type_definitions)."""

    NO_HEADERS = 0
    ONLY_FIRST_FILE_HAS_HEADERS = 1
    COMBINE_ALL_FILES_HEADERS = 2
    ALL_FILES_HAVE_SAME_HEADERS = 3


_HEADERS = {
    PromoteHeadersBehavior.NO_HEADERS: "no_headers",
    PromoteHeadersBehavior.ONLY_FIRST_FILE_HAS_HEADERS: "first_file",
    PromoteHeadersBehavior.COMBINE_ALL_FILES_HEADERS: "combine",
    PromoteHeadersBehavior.ALL_FILES_HAVE_SAME_HEADERS: "all_files",
}


def _header(value) -> str:
    if value is True:
        return "all_files"
    if value is False:
        return "no_headers"
    if isinstance(value, (str, enum.Enum)):  # a member, or its name
        key = (value.name if isinstance(value, enum.Enum) else value).rsplit(".", 1)[-1]
        if key.upper() in PromoteHeadersBehavior.__members__:
            return _HEADERS[PromoteHeadersBehavior[key.upper()]]
    elif isinstance(value, int) and value in set(PromoteHeadersBehavior):
        return _HEADERS[PromoteHeadersBehavior(value)]
    raise UserErrorException(
        f"from_delimited_files(header={value!r}): give True, False or a PromoteHeadersBehavior"
    )


class _Transforms:
    """The SDK's row and column transformations of a tabular dataset: recorded (each returns
    a new object through the class's own `_with`), applied when the step reads the table."""

    def take(self, count):
        return self._with("take", _count("take", count))

    def skip(self, count):
        return self._with("skip", _count("skip", count))

    def keep_columns(self, columns, validate=False):
        return self._with("keep_columns", _columns("keep_columns", columns))

    def drop_columns(self, columns):
        return self._with("drop_columns", _columns("drop_columns", columns))


class TabularDataset(_Transforms, FileDataset):
    """Files on one datastore read as one table. Transformations (`take`, `skip`,
    `keep_columns`, `drop_columns`) are recorded and applied when the step reads it."""

    def __init__(self, pairs, location, reading: dict, transforms=()):
        super().__init__(pairs, location)
        base = PurePosixPath(self.path)
        files = []
        for p in self.paths:
            rel = PurePosixPath(p.strip("/"))
            rel_text = "" if rel == base else rel.relative_to(base).as_posix()
            files.append("" if rel_text == "." else rel_text)
        # One entry naming the whole input reads all of it.
        self._reading = {**reading, "files": () if "" in files else tuple(files)}
        self._transforms = tuple(transforms)

    def tabular_spec(self) -> dict:
        """The port's `ir.TabularSpec` fields."""
        return {**self._reading, "transforms": self._transforms}

    def _with(self, op: str, arg) -> TabularDataset:
        new = object.__new__(TabularDataset)
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k != "_bare"})
        new._transforms = (*self._transforms, (op, arg))
        new._location = caller_location()
        return new

    def as_named_input(self, name):
        return TabularConsumptionConfig(name, self)

    def register(self, workspace, name, description=None, tags=None, create_new_version=False):
        # Registration is a catalogue entry on Azure; the dataset itself is unchanged.
        ignored("TabularDataset.register", name=name)
        self.name, self.version = name, 1
        getattr(workspace, "datasets", {})[name] = self
        return self

    def as_mount(self, path_on_compute=None):
        raise UserErrorException(_NOT_FILES.format(how="as_mount"))

    def as_download(self, path_on_compute=None):
        raise UserErrorException(_NOT_FILES.format(how="as_download"))

    def to_pandas_dataframe(self, *args, **kwargs):
        raise UserErrorException(
            "TabularDataset.to_pandas_dataframe() reads the data in a step script"
            " (`Run.get_context().input_datasets[name].to_pandas_dataframe()`); a build reads"
            " no data"
        )

    to_spark_dataframe = to_pandas_dataframe

    def __repr__(self) -> str:
        store = getattr(self.datastore, "name", self.datastore)
        return f"TabularDataset(datastore={store!r}, path={self.path!r})"


_NOT_FILES = (
    "TabularDataset.{how}(): only file datasets are mounted or downloaded; give"
    " tabular.as_named_input(name) in the step's inputs and read it with"
    " Run.get_context().input_datasets[name].to_pandas_dataframe()"
)


def _count(op: str, count) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UserErrorException(f"TabularDataset.{op}: a count of rows, got {count!r}")
    return count


def _columns(op: str, columns) -> tuple[str, ...]:
    items = [columns] if isinstance(columns, str) else list(columns)
    if not all(isinstance(c, str) for c in items):
        raise UserErrorException(f"TabularDataset.{op}: column names, got {columns!r}")
    return tuple(items)


class TabularConsumptionConfig(DatasetConsumptionConfig):
    """`tabular.as_named_input(name)`: read as a table in the step (no mount or download)."""

    def as_mount(self, path_on_compute=None):
        raise UserErrorException(_NOT_FILES.format(how="as_named_input(...).as_mount"))

    def as_download(self, path_on_compute=None):
        raise UserErrorException(_NOT_FILES.format(how="as_named_input(...).as_download"))

    def to_data_reference(self):
        ref = super().to_data_reference()
        ref._tabular = self.dataset.tabular_spec()
        return ref


def _dataset(path, location, reading: dict):
    if is_url_path(path):  # downloaded when the step runs, then read as a table
        urls = check_urls(path, "Dataset.Tabular")
        return UrlFileDataset(urls, location, tabular={**reading, "files": (), "transforms": ()})
    return TabularDataset(_pairs(path), location, reading)


def from_delimited_files(
    path,
    validate=True,
    include_path=False,
    infer_column_types=True,
    set_column_types=None,
    separator=",",
    header=True,
    partition_format=None,
    support_multi_line=False,
    empty_as_string=False,
    encoding="utf8",
):
    location = caller_location()
    ignored("Dataset.Tabular.from_delimited_files", validate=not validate)
    # pandas reads quoted line breaks anyway; column types are pandas' own inference.
    ignored("Dataset.Tabular.from_delimited_files", support_multi_line=support_multi_line)
    unsupported(
        "Dataset.Tabular.from_delimited_files",
        set_column_types=set_column_types,
        partition_format=partition_format,
    )
    if not isinstance(separator, str) or not separator:
        raise UserErrorException(f"from_delimited_files: separator must be text, got {separator!r}")
    reading = {
        "format": "delimited",
        "separator": separator,
        "header": _header(header),
        "encoding": str(encoding),
        "include_path": bool(include_path),
        "infer_column_types": bool(infer_column_types),
        "empty_as_string": bool(empty_as_string),
    }
    return _dataset(path, location, reading)


def from_parquet_files(
    path, validate=True, include_path=False, set_column_types=None, partition_format=None
):
    location = caller_location()
    ignored("Dataset.Tabular.from_parquet_files", validate=not validate)
    unsupported(
        "Dataset.Tabular.from_parquet_files",
        set_column_types=set_column_types,
        partition_format=partition_format,
    )
    reading = {"format": "parquet", "include_path": bool(include_path)}
    return _dataset(path, location, reading)


def from_json_lines_files(
    path,
    validate=True,
    include_path=False,
    set_column_types=None,
    partition_format=None,
    invalid_lines="error",
    encoding="utf8",
):
    location = caller_location()
    ignored("Dataset.Tabular.from_json_lines_files", validate=not validate)
    unsupported(
        "Dataset.Tabular.from_json_lines_files",
        set_column_types=set_column_types,
        partition_format=partition_format,
        invalid_lines=None if invalid_lines == "error" else invalid_lines,
    )
    reading = {
        "format": "json_lines",
        "encoding": str(encoding),
        "include_path": bool(include_path),
    }
    return _dataset(path, location, reading)


def from_sql_query(query, validate=True, set_column_types=None, query_timeout=30):
    raise UserErrorException(
        "Dataset.Tabular.from_sql_query: SQL datastores have no amlcompile equivalent; query"
        " the database from a PythonScriptStep through an Airflow connection, or export the"
        " table to files on a datastore and use from_delimited_files/from_parquet_files"
    )


class OutputTabularView(_Transforms, PipelineDataInput):
    """A step's output read as a table by the step that consumes it:
    `OutputFileDatasetConfig.read_delimited_files()` / `read_parquet_files()` and
    `PipelineData.as_dataset().parse_delimited_files()` / `parse_parquet_files()`. As an
    input (itself, or `.as_input(name)`), the consumer reads it with
    `Run.get_context().input_datasets[name].to_pandas_dataframe()`."""

    def __init__(self, data, reading: dict, transforms=(), name=None):
        super().__init__(data, name or data.name, "mount")
        self._reading = dict(reading)
        self._transforms = tuple(transforms)
        self.tabular = {**self._reading, "transforms": self._transforms}

    def _with(self, op: str, arg) -> OutputTabularView:
        return OutputTabularView(
            self.data, self._reading, (*self._transforms, (op, arg)), self.name
        )

    def as_input(self, name=None):
        return OutputTabularView(self.data, self._reading, self._transforms, name or self.name)

    as_named_input = as_input

    # Read as files and as a table: the folder is bound in the mode asked, and
    # `input_datasets[name].to_pandas_dataframe()` still reads it as a table.
    def as_mount(self, *args, **kwargs):
        view = self.as_input()
        view.mode = "mount"
        return view

    def as_download(self, path_on_compute=None, *args, **kwargs):
        view = self.as_input()
        view.mode, view.path_on_compute = "download", path_on_compute
        return view

    def __repr__(self) -> str:
        return (
            f"OutputTabularDataset(output={self.data.name!r}, format={self._reading['format']!r})"
        )


def delimited_reading(
    what: str,
    include_path=False,
    separator=",",
    header=True,
    partition_format=None,
    set_column_types=None,
    path_glob=None,
    file_extension="",
) -> dict:
    """How a step output's delimited files are read (the SDK's read_/parse_delimited_files)."""
    unsupported(what, set_column_types=set_column_types, partition_format=partition_format)
    if not isinstance(separator, str) or not separator:
        raise UserErrorException(f"{what}: separator must be text, got {separator!r}")
    return {
        "format": "delimited",
        "separator": separator,
        "header": _header(True if header is None else header),
        "include_path": bool(include_path),
        "files": _glob(what, path_glob, file_extension),
    }


def parquet_reading(
    what: str,
    include_path=False,
    partition_format=None,
    set_column_types=None,
    path_glob=None,
    file_extension="",
) -> dict:
    unsupported(what, set_column_types=set_column_types, partition_format=partition_format)
    return {
        "format": "parquet",
        "include_path": bool(include_path),
        "files": _glob(what, path_glob, file_extension),
    }


def _glob(what: str, path_glob, file_extension) -> tuple[str, ...]:
    if path_glob is not None:
        if not isinstance(path_glob, str) or not path_glob.strip():
            raise UserErrorException(f"{what}: path_glob must be a glob, got {path_glob!r}")
        return (path_glob.strip().lstrip("/"),)
    if file_extension:
        return (f"**/*{file_extension}",)
    return ()
