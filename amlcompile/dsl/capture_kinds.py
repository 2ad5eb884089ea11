"""Capture of the step kinds that run elsewhere: Databricks, ADLA and data transfers.

Called from `capture._Capture.step` with its closures (`token` turns a value into an argument
token, `add_input` an input into a port), so every kind shares one way of naming data.
"""

from __future__ import annotations

from ..ir import models as ir
from ..text import did_you_mean_file
from .adla import AdlaStep
from .data import DataReference, PipelineData
from .databricks import DatabricksStep
from .transfer import DataTransferStep

DEFAULT_SPARK_VERSION = "10.4.x-scala2.12"
DEFAULT_NODE_TYPE = "Standard_D3_v2"


def has_code(s) -> bool:
    """Whether the step runs files of its own (a snapshot is taken of its source folder)."""
    if isinstance(s, DataTransferStep):
        return False
    if isinstance(s, DatabricksStep):
        return bool(s.python_script_name)
    return True


def capture_special(c, s, name, token, add_input, ports_out, source_dir) -> dict:
    if isinstance(s, DatabricksStep):
        return {"databricks": _databricks(c, s, name, token, source_dir)}
    if isinstance(s, AdlaStep):
        return {"adla": _adla(c, s, name, token, source_dir)}
    return {"transfer": _transfer(c, s, name, add_input, ports_out)}


def _script_exists(c, s, name, script, source_dir, arg) -> None:
    if source_dir is None or not (source_dir / script).is_file():
        c.problem(
            f"step {name!r}: {arg} {script!r} not found in source_directory {str(source_dir)!r}"
            + did_you_mean_file(source_dir, str(script)),
            s._location,
        )


def _tokens(values, token) -> tuple:
    return tuple(t for t in (token(v) for v in values) if t is not None)


def _databricks(c, s: DatabricksStep, name, token, source_dir) -> ir.DatabricksSpec:
    where = s._location
    chosen = {
        "notebook": s.notebook_path,
        "python_script_path": s.python_script_path,
        "python_script_name": s.python_script_name,
        "spark_jar": s.main_class_name,
    }
    given = [k for k, v in chosen.items() if v]
    arg_names = {
        "notebook": "notebook_path",
        "python_script_path": "python_script_path",
        "python_script_name": "python_script_name",
        "spark_jar": "main_class_name",
    }
    if len(given) != 1:
        listed = ", ".join(arg_names[k] for k in given) or "none"
        c.problem(
            f"step {name!r}: give exactly one of notebook_path, python_script_path,"
            f" python_script_name or main_class_name (given: {listed})",
            where,
        )
    task = given[0] if given else "notebook"
    if task == "python_script_name":
        if not s.source_directory:
            c.problem(f"step {name!r}: python_script_name needs source_directory", where)
        else:
            _script_exists(c, s, name, str(s.python_script_name), source_dir, "python script")
    if s.python_script_params and task not in ("python_script_path", "python_script_name"):
        c.problem(f"step {name!r}: python_script_params given without a python script", where)
    if s.jar_params and task != "spark_jar":
        c.problem(f"step {name!r}: jar_params given without main_class_name", where)
    if s.notebook_params and task != "notebook":
        c.problem(f"step {name!r}: notebook_params given without notebook_path", where)
    if (s.min_workers is None) != (s.max_workers is None):
        c.problem(f"step {name!r}: min_workers and max_workers go together", where)
    if s.num_workers is not None and s.min_workers is not None:
        c.problem(f"step {name!r}: give num_workers or min_workers/max_workers, not both", where)
    if s.timeout_seconds is not None and (
        not isinstance(s.timeout_seconds, int) or s.timeout_seconds <= 0
    ):
        c.problem(f"step {name!r}: timeout_seconds must be a positive integer", where)

    cluster_keys = (
        s.spark_version,
        s.node_type,
        s.instance_pool_id,
        s.num_workers,
        s.min_workers,
        s.spark_conf,
        s.spark_env_variables,
        s.init_scripts,
        s.cluster_log_dbfs_path,
    )
    if s.existing_cluster_id and any(v not in (None, {}, []) for v in cluster_keys):
        c.problem(
            f"step {name!r}: give either existing_cluster_id or a new-cluster spec"
            " (spark_version, node_type, num_workers, ...), not both",
            where,
        )
    new_cluster = None
    if not s.existing_cluster_id:
        # As the SDK (azureml-pipeline-core 1.62, _databricks_step_base.py): without an
        # existing cluster a new one is implied, with spark_version "10.4.x-scala2.12" and
        # node_type "Standard_D3_v2" unless given (or an instance pool is); the worker count
        # has no default.
        if s.node_type and s.instance_pool_id:
            c.problem(f"step {name!r}: give node_type or instance_pool_id, not both", where)
        new_cluster = {"spark_version": str(s.spark_version or DEFAULT_SPARK_VERSION)}
        if s.node_type or not s.instance_pool_id:
            new_cluster["node_type_id"] = str(s.node_type or DEFAULT_NODE_TYPE)
        if s.instance_pool_id:
            new_cluster["instance_pool_id"] = str(s.instance_pool_id)
        if s.num_workers is not None:
            new_cluster["num_workers"] = int(s.num_workers)
        if s.min_workers is not None and s.max_workers is not None:
            new_cluster["autoscale"] = {
                "min_workers": int(s.min_workers),
                "max_workers": int(s.max_workers),
            }
        if s.spark_conf:
            new_cluster["spark_conf"] = {str(k): str(v) for k, v in s.spark_conf.items()}
        if s.spark_env_variables:
            new_cluster["spark_env_vars"] = {
                str(k): str(v) for k, v in s.spark_env_variables.items()
            }
        if s.init_scripts:
            new_cluster["init_scripts"] = [
                {"dbfs": {"destination": str(path)}} for path in s.init_scripts
            ]
        if s.cluster_log_dbfs_path:
            log_folder = str(s.cluster_log_dbfs_path)
            new_cluster["cluster_log_conf"] = {"dbfs": {"destination": log_folder}}

    libraries = []
    for lib in s.libraries:
        if not hasattr(lib, "_json"):
            c.problem(
                f"step {name!r}: libraries must be MavenLibrary, PyPiLibrary, EggLibrary,"
                f" JarLibrary or RCranLibrary, got {type(lib).__name__}",
                where,
            )
            continue
        libraries.append(lib._json())

    params = s.python_script_params if task.startswith("python") else s.jar_params
    return ir.DatabricksSpec(
        task=task,
        notebook_path=s.notebook_path,
        python_script_path=s.python_script_path,
        python_script_name=str(s.python_script_name).replace("\\", "/")
        if s.python_script_name
        else None,
        main_class_name=s.main_class_name,
        notebook_params=tuple(
            (str(k), t)
            for k, t in ((k, token(v)) for k, v in sorted(s.notebook_params.items()))
            if t is not None
        ),
        params=_tokens(params, token),
        existing_cluster_id=s.existing_cluster_id,
        new_cluster=new_cluster,
        libraries=tuple(libraries),
        run_name=s.run_name,
        timeout_seconds=s.timeout_seconds if isinstance(s.timeout_seconds, int) else None,
    )


def _adla(c, s: AdlaStep, name, token, source_dir) -> ir.AdlaSpec:
    where = s._location
    script = str(s.script_name or "").replace("\\", "/")
    if not script:
        c.problem(f"step {name!r}: script_name is empty", where)
    else:
        _script_exists(c, s, name, script, source_dir, "U-SQL script")
    for arg in ("degree_of_parallelism", "priority"):
        value = getattr(s, arg)
        if value is not None and (not isinstance(value, int) or value <= 0):
            c.problem(f"step {name!r}: {arg} must be a positive integer, got {value!r}", where)
    params = []
    for key, value in sorted(s.usql_params.items(), key=lambda kv: str(kv[0])):
        t = token(value)
        if t is not None:
            params.append((str(key), t))
    return ir.AdlaSpec(
        script=script,
        params=tuple(params),
        degree_of_parallelism=s.degree_of_parallelism
        if isinstance(s.degree_of_parallelism, int)
        else None,
        priority=s.priority if isinstance(s.priority, int) else None,
        runtime_version=s.runtime_version,
    )


def _transfer(c, s: DataTransferStep, name, add_input, ports_out) -> ir.TransferSpec:
    where = s._location
    if s.source_data_reference is None:
        c.problem(f"step {name!r}: source_data_reference is required", where)
    dest = s.destination_data_reference
    if isinstance(dest, DataReference):
        ports_out.append(
            ir.OutputPort(
                name="destination",
                datastore=c.datastore_name(dest.datastore, dest._location),
                path=str(dest.path_on_datastore or ""),
            )
        )
    elif not isinstance(dest, PipelineData):
        c.problem(
            f"step {name!r}: destination_data_reference must be a DataReference or"
            f" PipelineData, got {type(dest).__name__}",
            where,
        )
    return ir.TransferSpec(
        source_reference_type=s.source_reference_type,
        destination_reference_type=s.destination_reference_type,
    )


def _whole(value) -> int | None:
    """An int given as an int or as its digits ("10"); None otherwise (bool is no number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def parallel_run(c, s, name, add_input) -> ir.ParallelRunSpec | None:
    """A ParallelRunStep's settings, each checked with the config's file and line."""
    from .data import PipelineParameter
    from .parallel_run import DEFAULT_APPEND_ROW_FILE, OUTPUT_ACTIONS

    cfg = s.parallel_run_config
    where = cfg._location
    ok = True

    def bad(message: str) -> None:
        nonlocal ok
        ok = False
        c.problem(f"step {name!r}: {message}", where)

    batch_ports = []
    for item in s.batch_inputs:
        port = add_input(item)
        if port is not None:
            batch_ports.append(port)
    if not s.batch_inputs:
        bad("a ParallelRunStep needs at least one input to split into mini-batches")
    if s.output is not None and not isinstance(s.output, PipelineData):
        bad(
            f"output must be PipelineData or OutputFileDatasetConfig, got {type(s.output).__name__}"
        )
    from ..runtime.binding import parse_size
    from .dataset import dataset_reference

    tabular = [
        getattr(dataset_reference(i) or i, "_tabular", None) or getattr(i, "tabular", None)
        for i in s.batch_inputs
    ]
    by_bytes = any(t is not None for t in tabular)
    if by_bytes and not all(t is not None for t in tabular):
        bad("inputs mixes tabular and file datasets; a ParallelRunStep splits one kind")
    size, size_param = cfg.mini_batch_size, None
    if isinstance(size, PipelineParameter):
        size_param = c.param(size)
        size = size.default_value
    if size is None:
        size = "1MB" if by_bytes else 10  # the SDK's defaults
    files = parse_size(size) if by_bytes else _whole(size)
    if files is None or files < 1:
        bad(
            f"mini_batch_size must be a size of at least 1 byte (1024, '1024KB', '10MB') for"
            f" tabular inputs, got {size!r}"
            if by_bytes
            else f"mini_batch_size must be a whole number of files of at least 1, got {size!r}"
            " (sizes in bytes such as '1MB' are for tabular datasets)"
        )
        files = 1
    action = cfg.output_action
    if action not in OUTPUT_ACTIONS:
        bad(f"output_action must be one of {', '.join(map(repr, OUTPUT_ACTIONS))}, got {action!r}")
        action = "append_row"
    if action == "append_row" and s.output is None:
        bad("output_action='append_row' needs output= (where the appended rows are written)")
    append_name = cfg.append_row_file_name or DEFAULT_APPEND_ROW_FILE
    if (
        not isinstance(append_name, str)
        or "/" in append_name
        or "\\" in append_name
        or append_name in (".", "..")
    ):
        bad(f"append_row_file_name must be a plain file name, got {append_name!r}")
        append_name = DEFAULT_APPEND_ROW_FILE

    def count(arg: str, value, default, low: int):
        if value is None:
            return default
        whole = _whole(value)
        if whole is None or whole < low:
            bad(f"{arg} must be a whole number of at least {low}, got {value!r}")
            return default
        return whole

    threshold = count("error_threshold", cfg.error_threshold, -1, -1)
    failed_count = count("allowed_failed_count", cfg.allowed_failed_count, None, -1)
    percent = cfg.allowed_failed_percent
    if percent is not None and (
        isinstance(percent, bool)
        or not isinstance(percent, (int, float))
        or not 0 <= percent <= 100
    ):
        bad(f"allowed_failed_percent must be a number from 0 to 100, got {percent!r}")
        percent = None
    timeout = count("run_invocation_timeout", cfg.run_invocation_timeout, 60, 1)
    tries = count("run_max_try", cfg.run_max_try, 3, 1)
    nodes, nodes_param = cfg.node_count, None
    if isinstance(nodes, PipelineParameter):
        nodes_param = c.param(nodes)
        nodes = nodes.default_value
    nodes = count("node_count", nodes, 1, 1)
    per_node, per_node_param = cfg.process_count_per_node, None
    if isinstance(per_node, PipelineParameter):
        per_node_param = c.param(per_node)
        per_node = per_node.default_value
    per_node = count("process_count_per_node", per_node, None, 1)
    level = cfg.logging_level if isinstance(cfg.logging_level, str) else "INFO"
    if level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        bad(f"logging_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {level!r}")
        level = "INFO"
    if not ok:
        return None
    return ir.ParallelRunSpec(
        batch_inputs=tuple(batch_ports),
        mini_batch_size=files,
        mini_batch_bytes=by_bytes,
        mini_batch_param=size_param,
        output_action=action,
        append_row_file_name=append_name,
        error_threshold=threshold,
        allowed_failed_count=failed_count,
        allowed_failed_percent=None if percent is None else float(percent),
        run_invocation_timeout=timeout,
        run_max_try=tries,
        node_count=nodes,
        node_count_param=nodes_param,
        process_count_per_node=per_node,
        process_count_param=per_node_param,
        logging_level=level.upper(),
    )
