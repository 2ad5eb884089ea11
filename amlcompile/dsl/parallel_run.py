"""ParallelRunStep and ParallelRunConfig with their SDK v1 arguments (docs/parallel-run.md).

The step's input files are split into mini-batches at run time, one Airflow mapped task per
batch; each calls the entry script's `init()` once and `run(mini_batch)`. Problems with the
values are reported by capture (capture_kinds.parallel_run) with the file and line here.
"""

from __future__ import annotations

from ..exceptions import UserErrorException
from .location import caller_location
from .steps import PipelineStep
from .warnings import ignored, ordered, unsupported

OUTPUT_ACTIONS = ("append_row", "summary_only")
DEFAULT_APPEND_ROW_FILE = "parallel_run_step.txt"


class ParallelRunConfig:
    """What a ParallelRunStep runs and how its input is split (SDK 1.62 signature)."""

    def __init__(
        self,
        environment,
        entry_script,
        error_threshold,
        output_action,
        compute_target,
        node_count,
        process_count_per_node=None,
        mini_batch_size=None,
        source_directory=None,
        description=None,
        logging_level="INFO",
        run_invocation_timeout=60,
        run_max_try=3,
        append_row_file_name=None,
        allowed_failed_count=None,
        allowed_failed_percent=None,
        partition_keys=None,
        environment_variables=None,
    ):
        self.environment = environment
        self.entry_script = entry_script
        self.error_threshold = error_threshold
        self.output_action = output_action
        self.compute_target = compute_target
        self.node_count = node_count
        self.process_count_per_node = process_count_per_node
        self.mini_batch_size = mini_batch_size
        self.source_directory = source_directory
        self.description = description
        self.logging_level = logging_level
        self.run_invocation_timeout = run_invocation_timeout
        self.run_max_try = run_max_try
        self.append_row_file_name = append_row_file_name
        self.allowed_failed_count = allowed_failed_count
        self.allowed_failed_percent = allowed_failed_percent
        self.partition_keys = partition_keys
        self.environment_variables = dict(environment_variables or {})
        self._location = caller_location()
        ignored("ParallelRunConfig", description=description)
        unsupported("ParallelRunConfig", partition_keys=partition_keys)

    def save_to_file(self, path):  # the SDK's; kept for scripts that call it
        import json

        with open(path, "w") as fh:
            json.dump({k: v for k, v in vars(self).items() if isinstance(v, (str, int, float))}, fh)


class ParallelRunStep(PipelineStep):
    """Azure ML's batch scoring step: the entry script's `run()` over mini-batches of the input
    files, as Airflow dynamic task mapping."""

    _kind = "parallel_run"

    def __init__(
        self,
        name,
        parallel_run_config,
        inputs,
        output=None,
        side_inputs=None,
        arguments=None,
        allow_reuse=True,
    ):
        if not isinstance(parallel_run_config, ParallelRunConfig):
            raise UserErrorException(
                f"ParallelRunStep {name!r}: parallel_run_config must be a ParallelRunConfig,"
                f" got {type(parallel_run_config).__name__}"
            )
        cfg = parallel_run_config
        batch_inputs = list(ordered(inputs, "ParallelRunStep", "inputs") or [])
        side = list(ordered(side_inputs, "ParallelRunStep", "side_inputs") or [])
        super().__init__(
            name,
            [*batch_inputs, *side],
            [output] if output is not None else [],
            arguments,
            cfg.compute_target,
            cfg.source_directory,
            allow_reuse,
            None,
            None,
            cfg.environment,
        )
        self.parallel_run_config = cfg
        self.script_name = cfg.entry_script
        self.batch_inputs = batch_inputs
        self.side_inputs = side
        self.output = output


__all__ = ["DEFAULT_APPEND_ROW_FILE", "OUTPUT_ACTIONS", "ParallelRunConfig", "ParallelRunStep"]
