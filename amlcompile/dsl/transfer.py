"""`DataTransferStep`: copies a file or folder between datastores (no code of its own)."""

from __future__ import annotations

from ..exceptions import UserErrorException
from .steps import PipelineStep

_REFERENCE_TYPES = (None, "file", "directory")


class DataTransferStep(PipelineStep):
    _kind = "data_transfer"

    def __init__(
        self,
        name,
        source_data_reference=None,
        destination_data_reference=None,
        compute_target=None,
        source_reference_type=None,
        destination_reference_type=None,
        allow_reuse=True,
    ):
        for arg, value in (
            ("source_reference_type", source_reference_type),
            ("destination_reference_type", destination_reference_type),
        ):
            if value not in _REFERENCE_TYPES:
                raise UserErrorException(
                    f"DataTransferStep {name!r}: {arg} must be 'file' or 'directory', not {value!r}"
                )
        from .data import PipelineData

        outputs = (
            [destination_data_reference]
            if isinstance(destination_data_reference, PipelineData)
            else None
        )
        inputs = [source_data_reference] if source_data_reference is not None else None
        super().__init__(
            name, inputs, outputs, None, compute_target, None, allow_reuse, None, None, None
        )
        self.source_data_reference = source_data_reference
        self.destination_data_reference = destination_data_reference
        self.source_reference_type = source_reference_type
        self.destination_reference_type = destination_reference_type
