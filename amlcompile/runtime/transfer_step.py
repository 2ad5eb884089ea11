"""DataTransferStep: copies a file or a folder from one datastore to another, with reuse."""

from __future__ import annotations

from airflow.sdk import BaseOperator

from .binding import StepError
from .reusable import ReusableStep
from .storage_compat import copy_tree


class AmlDataTransferOperator(ReusableStep, BaseOperator):
    """Runs on the worker over Airflow's object storage; nothing is templated."""

    template_fields = ()
    ui_color = "#dcfce7"

    def __init__(self, *, step: dict, datastores: dict, transfer: dict, **kwargs):
        super().__init__(**kwargs)
        self.step = step
        self.datastores = datastores
        self.transfer = transfer

    def execute(self, context):
        return self.run_reusable(context, self._copy)

    def _copy(self, context, plan, params, fp) -> dict:
        step, spec = self.step, self.transfer
        (source_port,) = step["inputs"]
        (dest_port,) = step["outputs"]
        source_ref = self.input_refs(context, plan)[source_port["name"]]
        dest_ref = self.output_refs(context, fp)[dest_port["name"]]
        source = _path(self.worker_location(source_ref))
        dest = _path(self.worker_location(dest_ref))
        is_dir = source.is_dir()
        if not is_dir and not source.is_file():
            raise StepError(f"step {step['name']!r}: source {source} does not exist")
        wanted = spec.get("source_reference_type")
        if wanted == "file" and is_dir or wanted == "directory" and not is_dir:
            raise StepError(
                f"step {step['name']!r}: source_reference_type is {wanted!r} but {source} is"
                f" a {'directory' if is_dir else 'file'}"
            )
        if not is_dir and spec.get("destination_reference_type") == "directory":
            dest = dest / source.name
        if is_dir and spec.get("destination_reference_type") == "file":
            raise StepError(
                f"step {step['name']!r}: a directory cannot be copied to a file destination"
            )
        self.log.info("step %s: copying %s to %s", step["name"], source, dest)
        copy_tree(source, dest)
        return {dest_port["name"]: self.worker_location(dest_ref)}


def _path(location: str):
    """A worker location string back to a path object (local folder or object storage)."""
    if "://" in location:
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(location)
    from pathlib import Path

    return Path(location)
