"""DataTransferStep: copy a file or a directory between two datastores on the Airflow worker."""

from __future__ import annotations

from airflow.sdk import BaseOperator

from .binding import StepError
from .planner import plan_of, upstream_output
from .reusable import ReusableStep
from .storage import (
    copy_tree,
    datastore_path,
    is_remote,
    local_target,
    location,
    reference_type,
)

REFERENCE_TYPES = (None, "file", "directory")


class DataTransferOperator(BaseOperator):
    """Copies `source` to `destination`, streaming, between any two of a local folder,
    Azure Blob, ADLS Gen2 and Azure Files.

    source: {"datastore", "path"} or {"step", "output"} (an upstream step's output);
    destination: {"datastore", "path"}. A reference type of None is inferred from what is at
    the source. Like Azure ML, a file copied to a 'directory' destination keeps its name
    inside it. Returns {"outputs": {output_name: destination}} as LocalStepOperator does.
    Nothing is templated: paths reach the copy unchanged.
    """

    template_fields = ()
    ui_color = "#fef3c7"

    def __init__(
        self,
        *,
        source: dict,
        destination: dict,
        datastores: dict,
        source_reference_type: str | None = None,
        destination_reference_type: str | None = None,
        output_name: str = "destination",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for label, value in (
            ("source_reference_type", source_reference_type),
            ("destination_reference_type", destination_reference_type),
        ):
            if value not in REFERENCE_TYPES:
                raise ValueError(
                    f"task {self.task_id!r}: {label} must be 'file', 'directory' or None,"
                    f" not {value!r}"
                )
        if source_reference_type == "directory" and destination_reference_type == "file":
            raise ValueError(
                f"task {self.task_id!r}: a directory cannot be copied to a 'file' destination"
            )
        if not ({"datastore", "path"} <= set(source) or {"step", "output"} <= set(source)):
            raise ValueError(
                f"task {self.task_id!r}: source needs 'datastore' and 'path' (or 'step' and"
                f" 'output'), got {sorted(source)}"
            )
        if not {"datastore", "path"} <= set(destination):
            raise ValueError(
                f"task {self.task_id!r}: destination needs 'datastore' and 'path',"
                f" got {sorted(destination)}"
            )
        self.source = source
        self.destination = destination
        self.datastores = datastores
        self.source_reference_type = source_reference_type
        self.destination_reference_type = destination_reference_type
        self.output_name = output_name

    def _source(self, context):
        src = self.source
        if "step" in src:
            path = upstream_output(context, plan_of(context), src["step"], src["output"])
            if path is None:
                raise StepError(
                    f"step {self.task_id!r}: upstream step {src['step']!r} recorded no"
                    f" output {src['output']!r}"
                )
            return location(path)
        return datastore_path(self.datastores, src["datastore"], src["path"], self.task_id)

    def execute(self, context):
        source = self._source(context)
        dst = self.destination
        target = datastore_path(self.datastores, dst["datastore"], dst["path"], self.task_id)
        target = copy_checked(
            source,
            target,
            self.source_reference_type,
            self.destination_reference_type,
            self.task_id,
            self.log,
        )
        return {"outputs": {self.output_name: str(target)}}


def copy_checked(source, target, source_type, destination_type, step: str, log):
    """Copies as a DataTransferStep does, checking the reference types against the data.
    Returns where the data landed (a file copied into a 'directory' keeps its name)."""
    try:
        return _copy_checked(source, target, source_type, destination_type, step, log)
    except ValueError as exc:  # a path the storage refuses, e.g. one climbing out of a share
        raise StepError(f"step {step!r}: {exc}") from None


def _copy_checked(source, target, source_type, destination_type, step: str, log):
    found = reference_type(source)
    if found is None:
        raise StepError(f"step {step!r}: source {source} does not exist")
    if source_type not in (None, found):
        raise StepError(
            f"step {step!r}: source_reference_type is {source_type!r} but {source} is a {found}"
        )
    if found == "directory" and destination_type == "file":
        raise StepError(
            f"step {step!r}: source {source} is a directory; it cannot be copied"
            " to a 'file' destination"
        )
    if found == "file" and destination_type == "directory":
        target = target / source.name
    log.info("step %s: copying %s %s to %s", step, found, source, target)
    copy_tree(source, target)
    return target


class AmlDataTransferOperator(ReusableStep, BaseOperator):
    """A compiled DataTransferStep: where its data is comes from the run's plan; reusable."""

    template_fields = ()
    ui_color = "#dcfce7"

    def __init__(self, *, step: dict, datastores: dict, transfer: dict, **kwargs):
        super().__init__(**kwargs)
        self.take_step(step)
        self.datastores = datastores
        self.transfer = transfer

    def execute(self, context):
        return self.run_reusable(context, self._copy)

    def _copy(self, context, plan, params, fp) -> dict:
        step, spec = self.step, self.transfer
        (source_port,) = step["inputs"]
        (dest_port,) = step["outputs"]
        source_ref = self.input_refs(context, plan)[source_port["name"]]
        source = location(self.worker_location(source_ref))
        dest_ref = self.output_refs(context, fp)[dest_port["name"]]
        # Neither end is followed through a link out of its datastore.
        for (ds, _), where, what in (
            (source_ref, source, f"source {source}"),
            (dest_ref, location(self.worker_location(dest_ref)), "destination"),
        ):
            if not is_remote(where):
                local_target(self.datastores, ds, str(where), step["name"], f"the {what}")
        copy_checked(
            source,
            location(self.worker_location(dest_ref)),
            spec.get("source_reference_type"),
            spec.get("destination_reference_type"),
            step["name"],
            self.log,
        )
        return {"outputs": {dest_port["name"]: self.worker_location(dest_ref)}}
