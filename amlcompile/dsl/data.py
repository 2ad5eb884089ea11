"""Data references, intermediate data and pipeline parameters (SDK v1 signatures)."""

from __future__ import annotations

from .location import caller_location
from .warnings import ignored


class PipelineParameter:
    def __init__(self, name, default_value):
        self.name = name
        self.default_value = default_value
        self._location = caller_location()

    def __repr__(self) -> str:
        return f"PipelineParameter(name={self.name!r}, default_value={self.default_value!r})"


class DataReference:
    """Data that already lives on a datastore."""

    def __init__(
        self,
        datastore,
        data_reference_name=None,
        path_on_datastore=None,
        mode="mount",
        path_on_compute=None,
        overwrite=False,
    ):
        self.datastore = datastore
        self.data_reference_name = data_reference_name or getattr(datastore, "name", "data")
        self.path_on_datastore = path_on_datastore
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite
        ignored("DataReference", overwrite=overwrite)
        self._location = caller_location()

    def _with_mode(self, mode, path_on_compute=None, overwrite=None):
        ref = DataReference(
            self.datastore,
            self.data_reference_name,
            self.path_on_datastore,
            mode,
            path_on_compute or self.path_on_compute,
            self.overwrite if overwrite is None else overwrite,
        )
        ref._location = self._location
        ref._origin = getattr(self, "_origin", self)
        return ref

    def as_mount(self):
        return self._with_mode("mount")

    def as_download(self, path_on_compute=None, overwrite=False):
        return self._with_mode("download", path_on_compute, overwrite)

    def as_upload(self, path_on_compute=None, overwrite=False):
        return self._with_mode("upload", path_on_compute, overwrite)

    def path(self, path=None, data_reference_name=None):
        base = (self.path_on_datastore or "").rstrip("/")
        joined = f"{base}/{path}" if base and path else (path or base)
        return DataReference(
            self.datastore,
            data_reference_name or self.data_reference_name,
            joined,
            self.mode,
            self.path_on_compute,
            self.overwrite,
        )

    def __repr__(self) -> str:
        return (
            f"DataReference(name={self.data_reference_name!r},"
            f" path_on_datastore={self.path_on_datastore!r})"
        )


class PipelineData:
    """Intermediate data: written by one step, read by later ones; creates the edge."""

    def __init__(
        self,
        name,
        datastore=None,
        output_name=None,
        output_mode="mount",
        output_path_on_compute=None,
        output_overwrite=None,
        data_type=None,
        is_directory=None,
        pipeline_output_name=None,
        training_output=None,
    ):
        self.name = name
        self.datastore = datastore
        self.output_name = output_name or name
        self.output_mode = output_mode
        self.output_path_on_compute = output_path_on_compute
        self.output_overwrite = output_overwrite
        self.data_type = data_type
        self.is_directory = is_directory
        self.pipeline_output_name = pipeline_output_name
        self.training_output = training_output
        # Outputs are bound to a directory the runtime picks and passed to the script.
        ignored(
            "PipelineData",
            output_path_on_compute=output_path_on_compute,
            output_overwrite=output_overwrite,
            data_type=data_type,
            is_directory=is_directory,
            pipeline_output_name=pipeline_output_name,
        )
        self._location = caller_location()

    def as_input(self, input_name=None):
        return PipelineDataInput(self, input_name or self.name, "mount")

    def as_mount(self, input_name=None):
        return PipelineDataInput(self, input_name or self.name, "mount")

    def as_download(self, input_name=None, path_on_compute=None, overwrite=None):
        return PipelineDataInput(self, input_name or self.name, "download", path_on_compute)

    # The SDK's dataset views of intermediate data. Steps read them as files: the same
    # PipelineData (so producer and consumer still meet), parsed by the step script.
    def as_dataset(self):
        return self

    def parse_parquet_files(self, file_extension=".parquet"):
        """The output read as a table by the consuming step (dsl/tabular.py)."""
        from .tabular import OutputTabularView, parquet_reading

        what = "PipelineData.parse_parquet_files"
        return OutputTabularView(self, parquet_reading(what, file_extension=file_extension))

    def parse_delimited_files(
        self,
        include_path=False,
        separator=",",
        header=None,
        partition_format=None,
        file_extension="",
        set_column_types=None,
        quoted_line_breaks=False,
    ):
        from .tabular import OutputTabularView, delimited_reading

        # pandas reads quoted line breaks anyway
        reading = delimited_reading(
            "PipelineData.parse_delimited_files",
            include_path,
            separator,
            header,
            partition_format,
            set_column_types,
            file_extension=file_extension,
        )
        return OutputTabularView(self, reading)

    def as_named_input(self, name):
        return PipelineDataInput(self, name, "mount")

    def __repr__(self) -> str:
        return f"PipelineData(name={self.name!r})"


class PipelineDataInput:
    """`PipelineData.as_input()`: the consumer's side of a PipelineData."""

    def __init__(self, data: PipelineData, name: str, mode: str, path_on_compute=None):
        self.data = data
        self.name = name
        self.mode = mode
        self.path_on_compute = path_on_compute

    def as_mount(self):
        return PipelineDataInput(self.data, self.name, "mount", self.path_on_compute)

    def as_download(self, path_on_compute=None):
        return PipelineDataInput(
            self.data, self.name, "download", path_on_compute or self.path_on_compute
        )


class DataPath:
    def __init__(self, datastore=None, path_on_datastore=None, name=None):
        self.datastore = datastore
        self.path_on_datastore = path_on_datastore
        self.name = name
        self._location = caller_location()

    def create_data_reference(self, data_reference_name=None, datapath_compute_binding=None):
        mode = getattr(datapath_compute_binding, "mode", "mount")
        return DataReference(
            self.datastore,
            data_reference_name or self.name,
            self.path_on_datastore,
            mode,
            getattr(datapath_compute_binding, "path_on_compute", None),
        )


class DataPathComputeBinding:
    def __init__(self, mode="mount", path_on_compute=None, overwrite=False):
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite
        ignored("DataPathComputeBinding", overwrite=overwrite)
