"""The pipeline as data: frozen pydantic models, JSON-serialisable, independent of the DSL.

Everything the lowering stage needs is here; nothing here knows how it was authored.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from ..plugins_pause import PluginsPaused

_plugins_paused = PluginsPaused()  # until the end of this module (its last model class)

IR_SCHEMA_VERSION = 1


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# A notebook is built as one source whose cell N starts at line N * NOTEBOOK_CELL_LINES + 1,
# so a location inside it names the cell and the line in the cell.
NOTEBOOK_CELL_LINES = 10_000


class SourceLocation(Frozen):
    file: str
    line: int

    def __str__(self) -> str:
        # Escaped like a literal's body: a file name with a newline stays one line of output.
        file = repr(self.file)[1:-1]
        if self.file.endswith(".ipynb") and self.line > NOTEBOOK_CELL_LINES:
            cell, line = divmod(self.line, NOTEBOOK_CELL_LINES)
            return f"{file}:cell {cell}:{line}"
        return f"{file}:{self.line}"


Scalar = bool | int | float | str


class Parameter(Frozen):
    name: str
    type: Literal["integer", "number", "boolean", "string"]
    default: Scalar
    description: str | None = None
    location: SourceLocation


class Datastore(Frozen):
    name: str
    kind: Literal["local", "azure_blob", "adls_gen2", "azure_file", "dbfs"]
    # local: absolute folder; remote: container / share / filesystem name; dbfs: a DBFS folder
    path: str
    conn_id: str | None = None
    # The storage account, for URIs handed to services that address it directly (Databricks).
    account_name: str | None = None
    shared: bool = False  # local: a shared filesystem every worker mounts


class PodResources(Frozen):
    """A target's overrides of what its vm_size gives a pod (`[compute.NAME]` in the config)."""

    cpu: float | None = None
    memory_gib: float | None = None
    gpus: int | None = None
    gpu_resource: str | None = None
    node_selector: tuple[tuple[str, str], ...] | None = None


class ComputeTarget(Frozen):
    name: str
    kind: Literal["local", "amlcompute", "databricks", "adla", "datafactory"]
    vm_size: str | None = None
    resources: PodResources | None = None
    min_nodes: int | None = None
    max_nodes: int | None = None
    conn_id: str | None = None  # databricks: the Airflow connection holding host and token
    account_name: str | None = None  # adla: the Data Lake Analytics account
    location: SourceLocation | None = None
    queue: str | None = None  # the Airflow (Celery) queue of its steps' tasks


# ---- arguments: what the user wrote, kept as typed tokens so values never become code ----


class LiteralArg(Frozen):
    kind: Literal["literal"] = "literal"
    value: Scalar


class ParamArg(Frozen):
    kind: Literal["param"] = "param"
    name: str


class PortArg(Frozen):
    """The run-time path of one of the step's input or output ports."""

    kind: Literal["port"] = "port"
    port: str


Arg = Annotated[LiteralArg | ParamArg | PortArg, Field(discriminator="kind")]


class DatastoreSource(Frozen):
    kind: Literal["datastore"] = "datastore"
    datastore: str
    path: str  # the path on the datastore (with `param`: its default)
    param: str | None = None  # a pipeline parameter that chooses the path at trigger time


class StepOutputSource(Frozen):
    kind: Literal["step_output"] = "step_output"
    step: str
    output: str


class TabularSpec(Frozen):
    """How a step reads a tabular dataset input (`run.input_datasets[name]` is then a
    TabularDataset whose `to_pandas_dataframe()` reads the files this way)."""

    format: Literal["delimited", "parquet", "json_lines"]
    # Files inside the input (relative; globs allowed); () reads every file under it.
    files: tuple[str, ...] = ()
    separator: str = ","
    # SDK v1's PromoteHeadersBehavior: every file has the header row, none has, the first only.
    header: Literal["all_files", "no_headers", "first_file", "combine"] = "all_files"
    encoding: str = "utf8"
    include_path: bool = False
    infer_column_types: bool = True
    empty_as_string: bool = False
    # take / skip (a row count), keep_columns / drop_columns (names), applied in order
    transforms: tuple[tuple[str, int | tuple[str, ...]], ...] = ()


class UrlSource(Frozen):
    """Files at http(s) URLs, downloaded when the step runs; versioned by ETag/Last-Modified."""

    kind: Literal["url"] = "url"
    urls: tuple[str, ...]
    # A dataset PipelineParameter whose default is these URLs: a string Param holding the
    # URL(s) to download instead, chosen at trigger time (several separated by spaces).
    param: str | None = None


class InputPort(Frozen):
    name: str
    source: Annotated[DatastoreSource | StepOutputSource | UrlSource, Field(discriminator="kind")]
    mode: Literal["mount", "download", "direct"] = "mount"
    path_on_compute: str | None = None
    tabular: TabularSpec | None = None


class OutputPort(Frozen):
    name: str
    datastore: str
    mode: Literal["mount", "upload"] = "mount"
    # A fixed place on the datastore (a transfer's destination); None: the runtime chooses
    # (under the fingerprint for reusable steps, under the run otherwise).
    path: str | None = None


class SnapshotFile(NamedTuple):
    """One file of a snapshot (a tuple: snapshots of 10,000 files must stay cheap)."""

    path: str  # relative, POSIX separators
    digest: str  # BLAKE3 of the content
    executable: bool


class Snapshot(Frozen):
    """Content-addressed copy of a step's source directory taken at build time."""

    id: str
    source_directory: str
    files: tuple[SnapshotFile, ...]
    # Generated files (decorator-form entry scripts) that are not on disk in the source tree.
    generated: tuple[tuple[str, str], ...] = ()
    # Lineage only (not part of any fingerprint): the source's git commit and dirty flag.
    git_commit: str | None = None
    git_dirty: bool | None = None


class DatabricksSpec(Frozen):
    """A DatabricksStep: what runs (one of four task kinds) and on which cluster."""

    task: Literal["notebook", "python_script_path", "python_script_name", "spark_jar"]
    notebook_path: str | None = None
    python_script_path: str | None = None  # a dbfs:/ path
    python_script_name: str | None = None  # a file of the step's code snapshot
    main_class_name: str | None = None
    notebook_params: tuple[tuple[str, Arg], ...] = ()
    params: tuple[Arg, ...] = ()  # python_script_params or jar_params
    existing_cluster_id: str | None = None
    # Jobs API 2.1 `new_cluster` (spark_version, node_type_id, num_workers or autoscale, ...)
    new_cluster: dict[str, Any] | None = None
    libraries: tuple[dict[str, Any], ...] = ()
    run_name: str | None = None
    timeout_seconds: int | None = None


class AdlaSpec(Frozen):
    """An AdlaStep: a U-SQL script of the snapshot submitted to a Data Lake Analytics account."""

    script: str
    params: tuple[tuple[str, Arg], ...] = ()
    degree_of_parallelism: int | None = None
    priority: int | None = None
    runtime_version: str | None = None


class TransferSpec(Frozen):
    """A DataTransferStep: its one input port is copied to its one output port."""

    source_reference_type: Literal["file", "directory"] | None = None
    destination_reference_type: Literal["file", "directory"] | None = None


class DistributedSpec(Frozen):
    """Distributed training: the step's script runs as `node_count` x
    `process_count_per_node` processes that find each other (docs/compute-targets.md).

    The kind decides what the processes are told (MPI ranks, torch.distributed's variables,
    TF_CONFIG) and is part of the reuse fingerprint; the counts are scheduling and are not."""

    kind: Literal["mpi", "pytorch", "tensorflow"]
    node_count: int = 1
    process_count_per_node: int = 1
    parameter_server_count: int = 0  # tensorflow: the last ranks are parameter servers
    backend: str | None = None  # pytorch: "nccl" or "gloo" (AMLCOMPILE_TORCH_BACKEND)

    @property
    def world_size(self) -> int:
        return self.node_count * self.process_count_per_node


class HyperDrivePolicy(Frozen):
    """An early-termination policy, applied to the primary metric while a trial runs."""

    kind: Literal["bandit", "median_stopping", "truncation_selection"]
    evaluation_interval: int = 1
    delay_evaluation: int = 0
    slack_factor: float | None = None
    slack_amount: float | None = None
    truncation_percentage: int | None = None


class HyperDriveSpec(Frozen):
    """A HyperDriveStep: the trials (sampled at build, so the DAG is static), how the best is
    chosen, and what each output holds."""

    sampling: Literal["grid", "random", "bayesian"]
    # Each trial's hyperparameters as (script argument, value), in the space's order (grid and
    # random; Bayesian trials are proposed round by round at run time from `space`).
    trials: tuple[tuple[tuple[str, Scalar], ...], ...]
    primary_metric_name: str
    primary_metric_goal: Literal["maximize", "minimize"]
    max_concurrent_runs: int | None = None
    policy: HyperDrivePolicy | None = None
    metrics_outputs: tuple[str, ...] = ()  # ports: every trial's metrics (JSON)
    model_outputs: tuple[tuple[str, str | None], ...] = ()  # (port, model_file): best's outputs/
    trial_outputs: tuple[str, ...] = ()  # ports each trial writes; the best trial's are kept
    # Bayesian: (script argument, choice | uniform | quniform, its arguments), the trial count
    # and the proposals' seed.
    space: tuple[tuple[str, str, tuple[Scalar, ...]], ...] = ()
    max_total_runs: int | None = None
    seed: int | None = None

    def rounds(self) -> list[int]:
        """Bayesian: how many trials each round proposes (max_concurrent_runs at a time, by
        default 5 rounds)."""
        total = self.max_total_runs or 0
        size = self.max_concurrent_runs or max(1, -(-total // 5))
        return [min(size, total - start) for start in range(0, total, size)]


class ParallelRunSpec(Frozen):
    """A ParallelRunStep (docs/parallel-run.md): `script` is the entry script; the files of
    `batch_inputs` (port names) are split into mini-batches, run by one mapped task instance
    per worker process (node_count × process_count_per_node)."""

    batch_inputs: tuple[str, ...]
    mini_batch_size: int | None = None  # files per batch (None: the SDK's default, 10)
    mini_batch_bytes: bool = False  # tabular inputs: mini_batch_size is bytes of files
    mini_batch_param: str | None = None  # a PipelineParameter giving it at trigger time
    output_action: Literal["append_row", "summary_only"] = "append_row"
    append_row_file_name: str = "parallel_run_step.txt"
    error_threshold: int = -1  # failed files allowed overall; -1: any
    allowed_failed_count: int | None = None  # failed mini-batches allowed; -1: any
    allowed_failed_percent: float | None = None
    run_invocation_timeout: int = 60  # seconds per run() call
    run_max_try: int = 3  # calls of run() per mini-batch before it counts as failed
    node_count: int = 1
    node_count_param: str | None = None  # PipelineParameters giving them at trigger time
    process_count_per_node: int | None = None  # None: the worker's cores
    process_count_param: str | None = None
    logging_level: str = "INFO"


class TaskSettings(Frozen):
    """What Airflow runs a task with (scheduling knobs: never in the reuse fingerprint)."""

    owner: str | None = None
    retries: int | None = None
    retry_delay: float | None = None  # seconds
    execution_timeout: float | None = None  # seconds

    def given(self) -> dict:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Step(Frozen):
    name: str  # also the Airflow task id
    display_name: str | None = None  # the step's own name, when the task id had to differ
    settings: TaskSettings | None = None  # per-step overrides of the DAG's default_args
    kind: Literal[
        "python_script",
        "command",
        "databricks",
        "adla",
        "data_transfer",
        "hyperdrive",
        "parallel_run",
    ]
    location: SourceLocation
    compute: str
    script: str | None = None  # python_script: path inside the snapshot
    command: tuple[Arg, ...] | None = None  # command: argv tokens
    shell_command: str | None = None  # command given as one string: run by bash, as SDK v1 did
    arguments: tuple[Arg, ...] = ()
    inputs: tuple[InputPort, ...] = ()
    outputs: tuple[OutputPort, ...] = ()
    environment_variables: tuple[tuple[str, Arg], ...] = ()
    snapshot: Snapshot
    allow_reuse: bool = True
    version: str | None = None
    hash_paths: tuple[str, ...] = ()
    hash_path_digests: tuple[tuple[str, str], ...] = ()  # (path, content digest)
    run_after: tuple[str, ...] = ()
    image: str | None = None
    description: str | None = None
    databricks: DatabricksSpec | None = None
    adla: AdlaSpec | None = None
    transfer: TransferSpec | None = None
    distributed: DistributedSpec | None = None  # more than one process (multi-node training)
    hyperdrive: HyperDriveSpec | None = None
    parallel_run: ParallelRunSpec | None = None

    def tokens(self) -> list[LiteralArg | ParamArg | PortArg]:
        """Every argument token of the step, wherever the step kind keeps it."""
        out = [*self.arguments, *(self.command or ()), *(v for _, v in self.environment_variables)]
        if self.databricks:
            out += [*self.databricks.params, *(v for _, v in self.databricks.notebook_params)]
        if self.adla:
            out += [v for _, v in self.adla.params]
        return out

    # Packages the step's environment lists (`python=V`, `conda:X`, `pip:Y`); never installed
    # by amlcompile, but they decide results, so they count in the reuse fingerprint.
    packages: tuple[str, ...] = ()


class Edge(Frozen):
    upstream: str
    downstream: str
    kind: Literal["data", "order"]


class Schedule(Frozen):
    """When Airflow starts the pipeline by itself. Static: no clock is read at parse time."""

    name: str | None = None
    cron: str | None = None  # five fields, in time_zone
    interval_seconds: int | None = None  # fixed intervals from start
    start: str  # ISO 8601 local date-time in time_zone (a fixed default when none was given)
    time_zone: str = "UTC"  # IANA name
    description: str | None = None


class DatastoreTrigger(Frozen):
    """Start the pipeline when files under a datastore path are added or changed."""

    name: str | None = None
    datastore: Datastore
    path: str
    polling_minutes: int
    parameter: str | None = None  # the pipeline parameter that receives the changed path
    start: str  # fixed start of the polling schedule (ISO, UTC)


class Pipeline(Frozen):
    schema_version: int = IR_SCHEMA_VERSION
    name: str
    description: str | None = None
    source_file: str  # relative to the project root
    location: SourceLocation
    parameters: tuple[Parameter, ...] = ()
    steps: tuple[Step, ...]
    datastores: tuple[Datastore, ...] = ()
    computes: tuple[ComputeTarget, ...] = ()
    default_datastore: str
    tags: tuple[tuple[str, str], ...] = ()
    schedule: Schedule | None = None
    datastore_trigger: DatastoreTrigger | None = None
    # Azure ML's continue_on_step_failure, from submit/publish/Schedule.create; the SDK's
    # default (False) stops the whole run at the first failed step.
    continue_on_step_failure: bool = False
    # What an Airflow engineer sets on a DAG: default_args, max_active_runs, more tags.
    task_defaults: TaskSettings = TaskSettings()
    max_active_runs: int | None = None
    extra_tags: tuple[str, ...] = ()
    xcom_log_tail: int = 20  # output lines of a step kept in its XCom

    def step(self, name: str) -> Step:
        return self._steps_by_name[name]

    @functools.cached_property
    def _steps_by_name(self) -> dict[str, Step]:
        # Looked up once per step and per input: a scan each time made builds quadratic.
        index: dict[str, Step] = {}
        for s in self.steps:
            index.setdefault(s.name, s)  # the first of a duplicate name, as a scan would
        return index

    def edges(self) -> list[Edge]:
        """Data edges (producer → consumer) and ordering edges (run_after, StepSequence)."""
        return list(self._edges)

    @functools.cached_property
    def _edges(self) -> tuple[Edge, ...]:
        # Validation, ordering and rendering each ask; building the Edge models once per
        # pipeline instead of each time saves ~12% of a 10,000-step build.
        seen: set[tuple[str, str]] = set()
        out: list[Edge] = []
        for s in self.steps:
            for port in s.inputs:
                if isinstance(port.source, StepOutputSource):
                    key = (port.source.step, s.name)
                    if key not in seen:
                        seen.add(key)
                        out.append(Edge(upstream=key[0], downstream=key[1], kind="data"))
            for up in s.run_after:
                key = (up, s.name)
                if key not in seen:
                    seen.add(key)
                    out.append(Edge(upstream=up, downstream=s.name, kind="order"))
        return tuple(out)


_plugins_paused.end()
