"""Task specs: what a lowered step is, as plain data the renderer turns into source."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import models as ir
from ..render.pyliteral import one_line
from ..runtime.reuse import FINGERPRINT_SCHEMA, digest


class LoweringError(Exception):
    """A step this target cannot run as written; the message names the step (and file:line)."""


@dataclass(frozen=True)
class OperatorRef:
    module: str  # may contain "{runtime}", replaced by the versioned runtime package name
    name: str


@dataclass
class TaskSpec:
    task_id: str
    operator: OperatorRef
    kwargs: dict  # plain data only: str, int, float, bool, None, list, dict
    doc_md: str
    # kwargs whose value is a module-level constant of the DAG file, by constant name
    shared: dict[str, str] = field(default_factory=dict)
    before_roots: bool = False  # runs first, upstream of every step without upstream steps
    # The compute target whose steps share one table of arguments in the DAG file
    # (COMPUTE_ARGS[group]): every kwarg but `step` and those named in `own` goes there.
    group: str | None = None
    own: tuple[str, ...] = ()  # kwargs that differ from step to step of a group
    # A step Airflow runs as several tasks (a ParallelRunStep's mini-batches, a HyperDriveStep's
    # trials): the step's other tasks, in order. The step's upstream edges go to the first of
    # them; the chain ends in this task, which is named after the step and carries its outputs.
    before: list[TaskSpec] = field(default_factory=list)
    # A mapped task (dynamic task mapping): `.partial(**kwargs).expand(keyword=<task>.output)`,
    # as (keyword, task id of a task that returns the list to map over).
    expand: tuple[str, str] | None = None
    # For a task in another task's `before`: the step it belongs to (its `step=` is that step's
    # STEPS entry) and what the UI calls it.
    of_step: str | None = None
    display_name: str | None = None


def token(arg: ir.LiteralArg | ir.ParamArg | ir.PortArg) -> dict:
    if isinstance(arg, ir.LiteralArg):
        return {"literal": arg.value}
    if isinstance(arg, ir.ParamArg):
        return {"param": arg.name}
    return {"port": arg.port}


def compact_token(arg: ir.LiteralArg | ir.ParamArg | ir.PortArg):
    """A token as the STEPS table writes it: a literal as its plain value."""
    return arg.value if isinstance(arg, ir.LiteralArg) else token(arg)


def step_payload(p: ir.Pipeline, s: ir.Step) -> dict:
    """The runtime's view of a step: ports and typed argument tokens. Defaults are left out
    (empty lists, allow_reuse=True, mount mode, unknown git state): the runtime's
    binding.expand_step puts them back."""
    record_datastore = s.outputs[0].datastore if s.outputs else p.default_datastore
    inputs = []
    for port in s.inputs:
        entry: dict = {"name": port.name}
        if port.mode != "mount":
            entry["mode"] = port.mode
        if isinstance(port.source, ir.StepOutputSource):
            producer = p.step(port.source.step)
            out = next(o for o in producer.outputs if o.name == port.source.output)
            entry.update(step=port.source.step, output=port.source.output, datastore=out.datastore)
            # Where the producer writes is derived at run time; these two change the rule.
            if not producer.allow_reuse:
                entry["producer_allow_reuse"] = False
            if out.path is not None:
                entry["output_path"] = out.path
        elif isinstance(port.source, ir.UrlSource):
            # Downloaded by the step's task into its record datastore (runtime/downloads.py).
            entry.update(urls=list(port.source.urls), datastore=record_datastore)
            if port.source.param is not None:
                entry["param"] = port.source.param  # other URLs, chosen at trigger time
        else:
            entry.update(datastore=port.source.datastore, path=port.source.path)
            if port.source.param is not None:
                entry["param"] = port.source.param  # the path, chosen at trigger time
        if port.path_on_compute:
            entry["path_on_compute"] = port.path_on_compute
        if port.tabular is not None:  # read as a table by the step (Run.input_datasets)
            entry["tabular"] = port.tabular.model_dump(mode="json")
        inputs.append(entry)
    source: dict = {"location": str(s.location)}
    if s.snapshot.git_commit is not None:
        source["git_commit"] = s.snapshot.git_commit
    if s.snapshot.git_dirty is not None:
        source["git_dirty"] = s.snapshot.git_dirty
    payload = {
        "name": s.name,  # left out of the STEPS table, whose keys are the names
        "kind": s.kind,
        "fingerprint": static_fingerprint(s),
        "params": params_used(s),
        "record_datastore": record_datastore,
        "source": source,
        "snapshot": s.snapshot.id,
        "arguments": [compact_token(a) for a in s.arguments],
        "inputs": inputs,
        "outputs": [
            {"name": o.name, "datastore": o.datastore, **({"path": o.path} if o.path else {})}
            for o in s.outputs
        ],
        "env": [[k, compact_token(v)] for k, v in s.environment_variables],
    }
    for key in ("params", "arguments", "inputs", "outputs", "env"):
        if not payload[key]:
            del payload[key]
    if s.outputs:  # the runtime takes the first output's datastore
        del payload["record_datastore"]
    if not s.allow_reuse:
        payload["allow_reuse"] = False
    if s.version:
        payload["version"] = s.version
    if s.hash_paths:
        payload["hash_paths"] = list(s.hash_paths)
    if s.distributed is not None:  # the processes' layout (runtime/steplib/amlcompile_launch)
        payload["distributed"] = s.distributed.model_dump(exclude_defaults=True)
    if s.hyperdrive is not None:  # the trials and how the best is chosen (runtime/hyperdrive.py)
        payload["hyperdrive"] = hyperdrive_payload(s)
    if s.kind in ("python_script", "hyperdrive", "parallel_run"):
        payload["script"] = s.script
    elif s.shell_command is not None:
        payload["shell_command"] = s.shell_command
    elif s.command is not None:
        payload["command"] = [compact_token(a) for a in s.command]
    return payload


def params_used(s: ir.Step) -> list[str]:
    """Parameters whose values decide the step's result: its arguments' and its data paths'."""
    names = {t.name for t in s.tokens() if isinstance(t, ir.ParamArg)}
    names |= {
        port.source.param
        for port in s.inputs
        if isinstance(port.source, ir.DatastoreSource) and port.source.param
    }
    return sorted(names)


def static_fingerprint(s: ir.Step) -> str:
    """The build-time part of the fingerprint: what the step is, its code and environment.

    Run-time parts (parameter values, data versions, upstream fingerprints) are added by the
    planner. Scheduling knobs (compute size, node counts, pools, retries) are left out.
    """
    extra: dict = {"packages": list(s.packages)} if s.packages else {}  # keeps older fingerprints
    if s.databricks is not None:
        d = s.databricks
        cluster = {
            k: v
            for k, v in (d.new_cluster or {}).items()
            if k in ("spark_version", "spark_conf", "spark_env_vars", "init_scripts")
        }
        extra["databricks"] = {
            "task": d.task,
            "notebook_path": d.notebook_path,
            "python_script_path": d.python_script_path,
            "python_script_name": d.python_script_name,
            "main_class_name": d.main_class_name,
            "notebook_params": [[k, token(v)] for k, v in d.notebook_params],
            "params": [token(v) for v in d.params],
            "existing_cluster_id": d.existing_cluster_id,
            "cluster": cluster,  # sizes, pools and log folders are scheduling, not results
            "libraries": list(d.libraries),
        }
    if s.adla is not None:  # parallelism and priority are scheduling
        extra["adla"] = {
            "script": s.adla.script,
            "params": [[k, token(v)] for k, v in s.adla.params],
            "runtime_version": s.adla.runtime_version,
        }
    if s.transfer is not None:
        extra["transfer"] = s.transfer.model_dump()
    if s.distributed is not None:  # what the processes are told; their counts are scheduling
        extra["distributed"] = {"kind": s.distributed.kind, "backend": s.distributed.backend}
    if s.hyperdrive is not None:  # the trials, the goal and the policy decide the best trial
        extra["hyperdrive"] = s.hyperdrive.model_dump(mode="json")
    if s.parallel_run is not None:  # what decides results; sizes and thresholds do not
        r = s.parallel_run
        extra["parallel_run"] = {
            "batch_inputs": list(r.batch_inputs),
            "output_action": r.output_action,
            "append_row_file_name": r.append_row_file_name,
        }
    tabular = sorted([i.name, i.tabular.model_dump(mode="json")] for i in s.inputs if i.tabular)
    if tabular:  # how a table is read decides what the step computes
        extra["tabular"] = tabular
    fixed = sorted([o.name, o.datastore, o.path] for o in s.outputs if o.path is not None)
    if fixed:
        extra["fixed_outputs"] = fixed
    return digest(
        {
            **extra,
            "schema": FINGERPRINT_SCHEMA,
            "kind": s.kind,
            "script": s.script,
            "command": [token(a) for a in s.command] if s.command is not None else None,
            "shell_command": s.shell_command,
            "arguments": [token(a) for a in s.arguments],
            "env": [[k, token(v)] for k, v in s.environment_variables],
            "outputs": sorted(o.name for o in s.outputs),
            "version": s.version,
            "code": s.snapshot.id,
            "hash_paths": [list(x) for x in s.hash_path_digests],
            "image": s.image,
        }
    )


# The port a HyperDriveStep's trial keeps its `./outputs` folder in, when an output of the step
# is the best trial's model (TrainingOutput("Model")); runtime/hyperdrive.py RUN_OUTPUTS.
TRIAL_RUN_OUTPUTS = "run_outputs"


def trial_static_fingerprint(s: ir.Step) -> str:
    """The build-time part of a HyperDriveStep trial's fingerprint: the script, its code,
    arguments, environment and the outputs a trial writes, but not the search (its space,
    sampler, policy, goal), so a trial is reused by any search that has it."""
    hd = s.hyperdrive
    assert hd is not None
    outputs = [o for o in s.outputs if o.name in hd.trial_outputs]
    if hd.model_outputs:
        port = hd.model_outputs[0][0]
        ds = next(o.datastore for o in s.outputs if o.name == port)
        outputs.append(ir.OutputPort(name=TRIAL_RUN_OUTPUTS, datastore=ds))
    trial = s.model_copy(
        update={"kind": "python_script", "hyperdrive": None, "outputs": tuple(outputs)}
    )
    return digest({"hyperdrive_trial": static_fingerprint(trial)})


def hyperdrive_payload(s: ir.Step) -> dict:
    hd = s.hyperdrive
    assert hd is not None
    out: dict = {
        "trial_fingerprint": trial_static_fingerprint(s),
        "trials": [[[name, value] for name, value in t] for t in hd.trials],
        "primary_metric_name": hd.primary_metric_name,
        "primary_metric_goal": hd.primary_metric_goal,
    }
    if hd.sampling == "bayesian":  # the trials are proposed round by round
        out["bayesian"] = {
            "space": [[name, kind, list(args)] for name, kind, args in hd.space],
            "seed": hd.seed,
            "rounds": hd.rounds(),
        }
    if hd.policy is not None:
        out["policy"] = {k: v for k, v in hd.policy.model_dump().items() if v is not None}
    for key in ("metrics_outputs", "trial_outputs"):
        if getattr(hd, key):
            out[key] = list(getattr(hd, key))
    if hd.model_outputs:
        out["model_outputs"] = [list(m) for m in hd.model_outputs]
    return out


def doc_md(s: ir.Step, target: str) -> str:
    """What the task's Docs panel says: the step, where it runs, where it was defined, its
    reuse settings and code snapshot."""
    reuse = "reuse allowed" if s.allow_reuse else "reuse disabled (allow_reuse=False)"
    parts = [
        f"**{s.name}**: {s.kind.replace('_', ' ')} on {target}",
        f"defined at `{one_line(str(s.location))}`",
        reuse,
        f"code snapshot `{s.snapshot.id}` ({len(s.snapshot.files)} files)",
    ]
    if s.hash_paths:
        parts.append("hash_paths " + ", ".join(f"`{h}`" for h in s.hash_paths))
    if s.version:
        parts.append(f"version `{s.version}`")
    return "; ".join(parts)
