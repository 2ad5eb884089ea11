"""The later SDK v1 data classes: file datasets over datastore paths, and output datasets.

A `Dataset.File` input becomes a datastore input port (as a DataReference does); an
`OutputFileDatasetConfig` is intermediate data (a PipelineData), so consumers get a data edge.
Tabular datasets (dsl/tabular.py) bind the same way and tell the step how to read the files.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from ..exceptions import UserErrorException
from .data import DataPath, DataReference, PipelineData
from .location import caller_location
from .warnings import ignored, unsupported

_GLOB = set("*?[")


def _pairs(path) -> list[tuple[object, str]]:
    """(datastore, path) pairs from a tuple, a DataPath or a list of either."""
    items = path if isinstance(path, list) else [path]
    pairs = []
    for item in items:
        if isinstance(item, DataPath):
            pairs.append((item.datastore, str(item.path_on_datastore or "")))
        elif isinstance(item, DataReference):  # datastore.path('folder'), as the SDK took it
            pairs.append((item.datastore, str(item.path_on_datastore or "")))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], str):
            pairs.append(item)
        elif isinstance(item, tuple) and len(item) == 1:
            pairs.append((item[0], ""))
        else:
            raise UserErrorException(
                "Dataset.File.from_files takes (datastore, 'path/on/datastore') tuples, DataPath"
                f" objects, http(s) URLs or a list of them; got {item!r} (local paths are not"
                " supported: upload the files to a datastore first)"
            )
    if not pairs:
        raise UserErrorException("Dataset.File.from_files needs at least one path")
    return pairs


def _folder(path: str) -> str:
    """The folder a glob lives in (`in/*.csv` → `in`); other paths stay as they are."""
    parts = PurePosixPath(path.strip("/")).parts
    kept = []
    for part in parts:
        if _GLOB & set(part):
            break
        kept.append(part)
    return "/".join(kept)


class FileDataset:
    """Files on one datastore. Several paths are read through their common folder."""

    def __init__(self, pairs, location):
        datastores = {getattr(ds, "name", ds) for ds, _ in pairs}
        if len(datastores) > 1:
            raise UserErrorException(
                "a file dataset must stay on one datastore; got "
                + ", ".join(sorted(map(str, datastores)))
            )
        self.datastore = pairs[0][0]
        folders = [_folder(p) for _, p in pairs]
        common = PurePosixPath(folders[0]).parts
        for f in folders[1:]:
            parts = PurePosixPath(f).parts
            n = 0
            while n < min(len(common), len(parts)) and common[n] == parts[n]:
                n += 1
            common = common[:n]
        self.path = "/".join(common)
        self.paths = [p for _, p in pairs]
        self._location = location

    def as_named_input(self, name):
        return DatasetConsumptionConfig(name, self)

    def as_mount(self, path_on_compute=None):
        return DatasetConsumptionConfig(None, self).as_mount(path_on_compute)

    def as_download(self, path_on_compute=None):
        return DatasetConsumptionConfig(None, self).as_download(path_on_compute)

    def register(self, workspace, name, description=None, tags=None, create_new_version=False):
        # Registration is a catalogue entry on Azure; the dataset itself is unchanged. It is
        # listed in `ws.datasets` for the rest of the script.
        ignored("FileDataset.register", name=name)
        self.name, self.version = name, 1
        getattr(workspace, "datasets", {})[name] = self
        return self

    # SDK attributes scripts read: a stable id from the dataset's definition (the same on
    # every build), the registered name and version.
    name = None
    version = None

    @property
    def id(self) -> str:
        import uuid

        return str(uuid.uuid5(uuid.NAMESPACE_URL, "amlcompile-dataset:" + repr(self)))

    def __repr__(self) -> str:
        store = getattr(self.datastore, "name", self.datastore)
        return f"FileDataset(datastore={store!r}, path={self.path!r})"


class _TabularFactory:
    """`Dataset.Tabular`: tabular datasets (dsl/tabular.py), read by the step script."""

    @staticmethod
    def from_delimited_files(*args, **kwargs):
        from . import tabular

        return tabular.from_delimited_files(*args, **kwargs)

    @staticmethod
    def from_parquet_files(*args, **kwargs):
        from . import tabular

        return tabular.from_parquet_files(*args, **kwargs)

    @staticmethod
    def from_json_lines_files(*args, **kwargs):
        from . import tabular

        return tabular.from_json_lines_files(*args, **kwargs)

    @staticmethod
    def from_sql_query(*args, **kwargs):
        from . import tabular

        return tabular.from_sql_query(*args, **kwargs)


class _FileFactory:
    @staticmethod
    def from_files(path, validate=True, partition_format=None, is_file=False):
        location = caller_location()
        ignored("Dataset.File.from_files", validate=not validate, is_file=is_file)
        unsupported("Dataset.File.from_files", partition_format=partition_format)
        from . import url_dataset

        if url_dataset.is_url_path(path):  # downloaded when the step runs (dsl/url_dataset.py)
            urls = url_dataset.check_urls(path, "Dataset.File.from_files")
            return url_dataset.UrlFileDataset(urls, location)
        return FileDataset(_pairs(path), location)


class Dataset:
    File = _FileFactory
    Tabular = _TabularFactory

    @staticmethod
    def get_by_name(workspace, name, version="latest"):
        raise UserErrorException(
            f"registered dataset {name!r} cannot be looked up outside Azure; use"
            " Dataset.File.from_files((datastore, 'path')) instead"
        )


class DatasetConsumptionConfig:
    """`dataset.as_named_input(name)`: how a step reads a dataset (mount unless download).

    `dataset` may be a `PipelineParameter` whose default is a FileDataset: the dataset is then
    chosen at trigger time, as a DataPath parameter's path is (a string Param holding the path
    on the default dataset's datastore)."""

    def __init__(self, name, dataset, mode="mount", path_on_compute=None):
        self.name = name
        self.dataset = dataset
        self.mode = mode
        self.path_on_compute = path_on_compute
        self._reference = None
        self._location = caller_location()
        from .data import PipelineParameter

        if isinstance(dataset, PipelineParameter) and not isinstance(
            dataset.default_value, FileDataset
        ):
            raise UserErrorException(
                f"DatasetConsumptionConfig({name!r}, PipelineParameter({dataset.name!r}, ...)):"
                " the parameter's default_value must be a file dataset"
                " (Dataset.File.from_files(...)), got"
                f" {type(dataset.default_value).__name__}"
            )

    def as_mount(self, path_on_compute=None):
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute=None):
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def as_reference(self):
        raise UserErrorException(
            "as_reference() passes a URL the step opens itself; use as_mount() or as_download()"
        )

    def to_data_reference(self) -> DataReference:
        """The datastore reference this input binds as (one per config: one port per step)."""
        if self._reference is None:
            from .data import PipelineParameter

            parameter = self.dataset if isinstance(self.dataset, PipelineParameter) else None
            d = parameter.default_value if parameter is not None else self.dataset
            from .url_dataset import UrlFileDataset, UrlReference, url_file_name

            if isinstance(d, UrlFileDataset):  # a URL default: the URLs chosen at trigger time
                name = self.name or url_file_name(d.urls[0]).split(".")[0] or "dataset"
                self._reference = UrlReference(
                    name, d.urls, self.mode, self.path_on_compute, d._location, d._tabular
                )
                self._reference._dataset_param = parameter
                return self._reference
            self._reference = DataReference(
                d.datastore,
                self.name or PurePosixPath(d.path).name or "dataset",
                d.path,
                self.mode,
                self.path_on_compute,
            )
            self._reference._location = d._location
            # Capture makes the parameter a string Param choosing the path at trigger time.
            self._reference._dataset_param = parameter
            if parameter is not None and hasattr(d, "tabular_spec"):  # read as a table
                self._reference._tabular = d.tabular_spec()
        return self._reference


class OutputFileDatasetConfig(PipelineData):
    """Output data of a step; `destination=(datastore, path)` picks the datastore.

    The output folder itself is chosen per run by amlcompile (reuse depends on it), so a
    destination path is warned about rather than honoured.
    """

    def __init__(self, name=None, destination=None, source=None, partition_format=None):
        datastore = None
        if destination is not None:
            if not (isinstance(destination, tuple) and len(destination) in (1, 2)):
                raise UserErrorException(
                    "OutputFileDatasetConfig destination must be (datastore, 'path'), got"
                    f" {destination!r}"
                )
            datastore = destination[0]
            if len(destination) == 2:
                unsupported("OutputFileDatasetConfig", destination_path=destination[1])
        unsupported("OutputFileDatasetConfig", source=source, partition_format=partition_format)
        super().__init__(name or "output", datastore=datastore)
        self._location = caller_location()
        self.destination = destination

    def as_upload(self, overwrite=False, source_globs=None):
        ignored("OutputFileDatasetConfig.as_upload", overwrite=overwrite)
        unsupported("OutputFileDatasetConfig.as_upload", source_globs=source_globs)
        self.output_mode = "upload"
        return self

    def as_mount(self, disable_metadata_cache=False):
        self.output_mode = "mount"
        return self

    def as_input(self, name=None):
        return super().as_input(name)

    def register_on_complete(self, name, description=None, tags=None):
        ignored("OutputFileDatasetConfig.register_on_complete", name=name)
        return self

    def read_delimited_files(
        self,
        include_path=False,
        separator=",",
        header=True,
        partition_format=None,
        path_glob=None,
        set_column_types=None,
    ):
        """The output read as a table by the consuming step (dsl/tabular.py)."""
        from .tabular import OutputTabularView, delimited_reading

        what = "OutputFileDatasetConfig.read_delimited_files"
        return OutputTabularView(
            self,
            delimited_reading(
                what,
                include_path,
                separator,
                header,
                partition_format,
                set_column_types,
                path_glob,
            ),
        )

    def read_parquet_files(
        self, include_path=False, partition_format=None, path_glob=None, set_column_types=None
    ):
        from .tabular import OutputTabularView, parquet_reading

        what = "OutputFileDatasetConfig.read_parquet_files"
        return OutputTabularView(
            self,
            parquet_reading(what, include_path, partition_format, set_column_types, path_glob),
        )

    def __repr__(self) -> str:
        return f"OutputFileDatasetConfig(name={self.name!r})"


DATASET_INPUTS = (FileDataset, DatasetConsumptionConfig)


def dataset_reference(item):
    """A dataset input as the DataReference capture binds, or None for anything else."""
    if isinstance(item, FileDataset):
        # The same bare dataset in inputs and arguments is one port.
        item = item.__dict__.setdefault("_bare", item.as_named_input(None))
    if isinstance(item, DatasetConsumptionConfig):
        return item.to_data_reference()
    return None


def trigger_value(value):
    """A pipeline parameter's value as the DAG's Param takes it: a DataPath or a datastore
    dataset as its path on the datastore, a URL dataset as its URL(s) separated by spaces,
    anything else as given (what `pipeline_parameters={...}` may hold in SDK code)."""
    from .url_dataset import UrlFileDataset

    if isinstance(value, UrlFileDataset):
        return " ".join(value.urls)
    if isinstance(value, DataPath):
        return value.path_on_datastore
    if isinstance(value, FileDataset):
        return value.path
    return value
