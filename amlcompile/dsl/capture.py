"""DSL objects → the frozen IR. Collects every problem it meets instead of stopping at one."""

from __future__ import annotations

import math
import re
from pathlib import Path, PurePosixPath

from .. import snapshot as snapshot_mod
from ..exceptions import BuildError
from ..ir import models as ir
from ..ir.validate import Problem, validate
from ..runtime.reuse import CONTINUE_PARAM, PLAN_TASK_ID, REGENERATE_PARAM
from ..text import did_you_mean, did_you_mean_file
from . import capture_kinds as kinds
from .adla import AdlaStep
from .capture_distributed import distributed_spec
from .compute import ComputeTarget
from .data import (
    DataPath,
    DataPathComputeBinding,
    DataReference,
    PipelineData,
    PipelineDataInput,
    PipelineParameter,
)
from .databricks import DatabricksStep
from .dataset import DATASET_INPUTS, DatasetConsumptionConfig, FileDataset, dataset_reference
from .environment import (
    step_environment,
    warn_packages_in_image,
    warn_packages_not_installed,
)
from .hyperdrive import HyperDriveStep, capture_spec
from .parallel_run import ParallelRunStep
from .steps import CommandStep, PipelineStep, StepSequence
from .transfer import DataTransferStep
from .url_dataset import UrlReference
from .warnings import set_text

_TASK_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_ID = 200
_ENV_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # what Kubernetes and every shell accept
_SURROGATE = re.compile("[\ud800-\udfff]")
TAG_MAX_LEN = 100  # Airflow refuses longer DAG tags when it imports the file

# Run options every compiled DAG takes in its conf, beside the pipeline's own parameters.
RESERVED_PARAMS = {
    REGENERATE_PARAM: "reruns every step",
    CONTINUE_PARAM: "decides whether steps start after a failure",
}


def sanitize_id(name: str) -> str:
    """Airflow ids allow letters, digits, `_`, `.` and `-`; everything else becomes `_`.

    Ids are also path segments at run time (output folders), so none starts with a dot:
    `..` must never climb out of a run's folder, and a hidden DAG file is never written.
    """
    clean = _TASK_ID_BAD.sub("_", name).strip("_").lstrip(".").strip("_") or "step"
    if len(clean) > _MAX_ID:
        import hashlib

        clean = clean[: _MAX_ID - 9] + "_" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return clean


def text_problem(value) -> str | None:
    """Why a user value cannot travel to a program, an environment or Airflow's database."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"the number {value!r} is not finite (JSON and Airflow Params cannot hold it)"
    if not isinstance(value, str):
        return None
    if "\x00" in value:
        return "contains a NUL character, which no argument, path or database text can hold"
    bad = _SURROGATE.search(value)
    if bad:
        return (
            f"contains the lone surrogate {bad.group()!r}, which is not valid Unicode text"
            " (it cannot be encoded as UTF-8)"
        )
    return None


def unique_name(base: str, taken: set[str]) -> str:
    """`base`, or `base_2`, `base_3`, ... whichever is not taken yet."""
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    return candidate


class _Capture:
    def __init__(self, pipeline, name: str):
        self.p = pipeline
        self.ws = pipeline.workspace
        self.cfg = self.ws._config
        self.config_steps_used: set[str] = set()  # [dag.steps.NAME] keys that matched a step
        self.root: Path = self.cfg.root
        self.name = name
        self.problems: list[Problem] = []
        self.params: dict[str, ir.Parameter] = {}
        self.param_objects: dict[str, PipelineParameter] = {}
        self.used_datastores: set[str] = set()
        self.used_computes: dict[str, ComputeTarget | None] = {}
        self.extra_after: dict[int, list[PipelineStep]] = {}
        # Output port names of every step (by data object), fixed before any step is captured
        # so that consumers name the producer's port exactly as the producer does.
        self.output_ports: dict[int, dict[int, str]] = {}
        # (upstream, downstream) → (call order, call site) of the run_after call making the
        # edge: a cycle is reported where the latest of its calls closed it.
        self.order_sites: dict[tuple[str, str], tuple[int, ir.SourceLocation]] = {}

        # Equal IR values made once and shared (they are frozen): a step made in a loop has
        # the location, literal arguments and parameters of the one before it.
        self.shared: dict[tuple, ir.Frozen] = {}

    # ---- locations ----
    def loc(self, where) -> ir.SourceLocation:
        file, line = where if isinstance(where, tuple) else (where, 0)
        key = ("loc", file, line)
        found = self.shared.get(key)
        if found is None:
            try:
                rel = Path(file).resolve().relative_to(self.root)
                file = rel.as_posix()
            except (ValueError, OSError):
                pass
            found = self.shared[key] = ir.SourceLocation(file=str(file), line=int(line))
        return found

    def literal_arg(self, value: bool | int | float | str) -> ir.LiteralArg:
        key = ("literal", type(value), repr(value))  # 1, 1.0, True and -0.0, 0.0 stay apart
        found = self.shared.get(key)
        if found is None:
            found = self.shared[key] = ir.LiteralArg(value=value)
        return found

    def problem(self, message: str, where) -> None:
        self.problems.append(Problem(message, self.loc(where) if where else None))

    def check_text(self, value, what: str, where) -> bool:
        """Report a user value that cannot be passed on as data; True when it is fine."""
        why = text_problem(value)
        if why:
            self.problem(f"{what} {why}", where)
        return why is None

    def check_datastore_path(self, path, what: str, where) -> None:
        if not self.check_text(path, what, where) or not path:
            return
        parts = PurePosixPath(str(path).replace("\\", "/")).parts
        if str(path).startswith(("/", "\\")) or ".." in parts:
            self.problem(
                f"{what} {path!r} must be a relative path inside its datastore (no leading"
                " '/' and no '..')",
                where,
            )

    # ---- the step set ----
    def flatten(self, obj, out: list[PipelineStep]) -> list[PipelineStep]:
        """Steps in order; StepSequence elements each run after the whole previous element."""
        if isinstance(obj, PipelineStep):
            out.append(obj)
            return [obj]
        if isinstance(obj, StepSequence):
            previous: list[PipelineStep] = []
            added: list[PipelineStep] = []
            for element in obj.steps:
                current = self.flatten(element, out)
                for s in current:
                    self.extra_after.setdefault(id(s), []).extend(previous)
                previous = current or previous
                added += current
            return added
        if isinstance(obj, (list, tuple)):
            added = []
            for element in obj:
                added += self.flatten(element, out)
            return added
        if hasattr(obj, "unavailable_problem"):  # an SDK v1 step amlcompile lacks
            message, where = obj.unavailable_problem()
            self.problem(f"step {message}", where)
            return []
        self.problem(
            f"pipeline steps must be steps, lists of steps or StepSequence; got"
            f" {type(obj).__name__}",
            self.p._location,
        )
        return []

    def run_after(self, s) -> list:
        """`s.run_after(...)` calls made before this Pipeline(...) was constructed."""
        return [up for up, _, _ in self.run_after_calls(s)]

    def run_after_calls(self, s) -> list[tuple[PipelineStep, int, tuple | None]]:
        """(step, call order, call site) of each `s.run_after(...)` made before this
        Pipeline(...) was constructed."""
        limit = getattr(self.p, "_sequence", None)
        seqs = getattr(s, "_run_after_seq", None)
        sites = getattr(s, "_run_after_loc", None)
        if seqs is None or len(seqs) != len(s._run_after):
            return [(up, 0, None) for up in s._run_after]
        if sites is None or len(sites) != len(seqs):
            sites = [None] * len(seqs)
        calls = zip(s._run_after, seqs, sites, strict=True)
        return [c for c in calls if limit is None or c[1] < limit]

    def closure(self, steps: list[PipelineStep]) -> list[PipelineStep]:
        """Everything the listed steps need: producers of their data and run_after steps."""
        seen = {id(s) for s in steps}
        ordered = list(steps)
        queue = list(steps)
        while queue:
            s = queue.pop(0)
            needed = self.run_after(s) + self.extra_after.get(id(s), [])
            for data in self._data_inputs(s):
                needed += self.producers_of(data)
            for n in needed:
                if id(n) not in seen:
                    seen.add(id(n))
                    ordered.append(n)
                    queue.append(n)
        # Upstream steps first, in creation order, then the listed ones: a readable order.
        creation = sorted(ordered, key=lambda s: (s._location[0], s._location[1]))
        return creation if self.p.resolve_closure else steps

    def _data_inputs(self, s: PipelineStep) -> list[PipelineData]:
        out = []
        command = getattr(s, "command", None)
        extra = list(command) if isinstance(command, (list, tuple)) else []
        for item in list(s.inputs) + list(s.arguments) + extra:
            data = item.data if isinstance(item, PipelineDataInput) else item
            if isinstance(data, PipelineData) and s not in self.producers_of(data):
                out.append(data)
        return out

    @staticmethod
    def producers_of(data: PipelineData) -> list[PipelineStep]:
        explicit = data.__dict__.get("_producers", [])
        if explicit:
            return explicit
        # Only in arguments: one user writes it; several users are ambiguous (reported).
        return data.__dict__.get("_arg_users", [])

    @staticmethod
    def ambiguous(data: PipelineData) -> bool:
        return not data.__dict__.get("_producers") and len(data.__dict__.get("_arg_users", [])) > 1

    # ---- names ----
    def assign_names(self, steps: list[PipelineStep]) -> dict[int, str]:
        names: dict[int, str] = {}
        taken: set[str] = set()
        for s in steps:  # explicit names first: they are what the user will look for
            if s._explicit_name:
                names[id(s)] = sanitize_id(str(s.name))
                taken.add(names[id(s)])
        for s in steps:
            if id(s) in names:
                continue
            if isinstance(s, CommandStep):
                base = "command"
            else:
                base = Path(str(getattr(s, "script_name", None) or "step")).stem
            base = sanitize_id(str(s.name) if s.name else base)
            names[id(s)] = unique_name(base, taken)
            taken.add(names[id(s)])
        return names

    # ---- parameters ----
    def param(self, pp: PipelineParameter) -> str:
        name = pp.name
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            self.problem(
                f"pipeline parameter name {name!r} must be a Python identifier", pp._location
            )
            return str(name)
        if name in RESERVED_PARAMS:
            self.problem(
                f"pipeline parameter name {name!r} is reserved (it is the trigger option"
                f" that {RESERVED_PARAMS[name]})",
                pp._location,
            )
            return name
        if name in self.params:
            prev = self.param_objects[name]
            if prev is not pp and prev.default_value != pp.default_value:
                self.problem(
                    f"pipeline parameter {name!r} defined twice with different defaults"
                    f" ({prev.default_value!r} and {pp.default_value!r})",
                    pp._location,
                )
            return name
        default = pp.default_value
        if not self.check_text(default, f"pipeline parameter {name!r}: the default", pp._location):
            default = ""
        if isinstance(default, bool):
            kind = "boolean"
        elif isinstance(default, int):
            kind = "integer"
        elif isinstance(default, float):
            kind = "number"
        elif isinstance(default, str):
            kind = "string"
        else:
            self.problem(
                f"pipeline parameter {name!r}: default of type {type(default).__name__}"
                " is not supported (use int, float, bool or str)",
                pp._location,
            )
            kind, default = "string", ""
        self.param_objects[name] = pp
        self.params[name] = ir.Parameter(
            name=name, type=kind, default=default, location=self.loc(pp._location)
        )
        return name

    def datapath_param(self, pp: PipelineParameter) -> str | None:
        """A PipelineParameter whose default is a DataPath: a string Param holding the path on
        the DataPath's datastore (what Azure ML's DataPathAssignments set at submit)."""
        name = pp.name
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            self.problem(
                f"pipeline parameter name {name!r} must be a Python identifier", pp._location
            )
            return None
        value = pp.default_value  # a DataPath, or a FileDataset (its common folder)
        path = getattr(value, "path_on_datastore", None) or getattr(value, "path", None)
        default = str(path or "")
        known = self.params.get(name)
        if known is not None and known.default != default:
            self.problem(
                f"pipeline parameter {name!r} defined twice with different defaults", pp._location
            )
            return name
        datastore = getattr(value.datastore, "name", value.datastore)
        self.param_objects[name] = pp
        self.params[name] = ir.Parameter(
            name=name,
            type="string",
            default=default,
            description=f"data path on datastore {datastore} (default {default!r})",
            location=self.loc(pp._location),
        )
        return name

    def url_param(self, pp: PipelineParameter) -> str | None:
        """A dataset PipelineParameter whose default is a URL dataset: a string Param holding
        the http(s) URL(s) to download, its default the dataset's (what Azure ML's
        DataSetDefinitionValueAssignments set at submit)."""
        name = pp.name
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            self.problem(
                f"pipeline parameter name {name!r} must be a Python identifier", pp._location
            )
            return None
        default = " ".join(pp.default_value.urls)
        known = self.params.get(name)
        if known is not None and known.default != default:
            self.problem(
                f"pipeline parameter {name!r} defined twice with different defaults", pp._location
            )
            return name
        self.param_objects[name] = pp
        self.params[name] = ir.Parameter(
            name=name,
            type="string",
            default=default,
            description="dataset: the http(s) URL of its file (several separated by spaces),"
            " downloaded when the step runs",
            location=self.loc(pp._location),
        )
        return name

    # ---- datastores / computes ----
    def datastore_name(self, ds, where) -> str:
        if ds is None:
            ds = self.p.default_datastore or self.ws.get_default_datastore()
        name = ds if isinstance(ds, str) else getattr(ds, "name", None)
        if name not in self.cfg.datastores:
            self.problem(
                f"unknown datastore {name!r} (configured: "
                f"{', '.join(sorted(self.cfg.datastores))})",
                getattr(ds, "_location", None) or where,
            )
        self.used_datastores.add(str(name))
        return str(name)

    def compute_name(self, s: PipelineStep) -> str:
        target = s.compute_target or self.p.default_compute
        if target is None:
            self.used_computes.setdefault("local", None)
            return "local"
        if isinstance(target, str):
            name = target
            obj = self.ws._computes.get(name)
            if obj is None and name != "local":
                known = ", ".join(sorted(self.ws._computes)) or "none"
                self.problem(
                    f"step {s.name or ''!r}: unknown compute target {name!r} (known: {known})",
                    s._location,
                )
                obj = None
            self.used_computes.setdefault(name, obj)
            return name
        if isinstance(target, ComputeTarget):
            self.used_computes[target.name] = target
            return target.name
        self.problem(
            f"compute_target must be a ComputeTarget or its name, got {type(target).__name__}",
            s._location,
        )
        return "local"

    # ---- one step ----
    def step(self, s: PipelineStep, names: dict[int, str]) -> ir.Step | None:
        name = names[id(s)]
        where = s._location
        ports_in: list[ir.InputPort] = []
        ports_out: list[ir.OutputPort] = []
        reserved = self.output_ports[id(s)]
        port_of: dict[int, str] = {}
        used_port_names: set[str] = set(reserved.values())

        def unique(base: str) -> str:
            name = unique_name(sanitize_id(base), used_port_names)
            used_port_names.add(name)
            return name

        def add_output(data: PipelineData) -> str:
            if id(data) not in port_of:
                port_of[id(data)] = reserved[id(data)]
                ports_out.append(
                    ir.OutputPort(
                        name=port_of[id(data)],
                        datastore=self.datastore_name(data.datastore, where),
                        mode="upload" if data.output_mode == "upload" else "mount",
                    )
                )
            return port_of[id(data)]

        def add_input(item) -> str | None:
            key = id(item.data) if isinstance(item, PipelineDataInput) else id(item)
            if key in port_of:
                return port_of[key]
            if isinstance(item, (PipelineData, PipelineDataInput)):
                data = item.data if isinstance(item, PipelineDataInput) else item
                producers = self.producers_of(data)
                if not producers:
                    self.problem(
                        f"step {name!r}: input {data.name!r} is produced by no step"
                        " (list it in the outputs of the step that writes it)",
                        where,
                    )
                    return None
                if len(producers) > 1:
                    self.problem(
                        f"PipelineData {data.name!r} has more than one producer: "
                        + ", ".join(repr(names.get(id(p), p.name)) for p in producers),
                        data._location,
                    )
                    return None
                prod = producers[0]
                if id(prod) not in names:
                    hint = "" if self.p.resolve_closure else " (set resolve_closure=True or add it)"
                    self.problem(
                        f"step {name!r}: input {data.name!r} comes from a step that is"
                        f" not in the pipeline{hint}",
                        where,
                    )
                    return None
                port = unique(item.name if isinstance(item, PipelineDataInput) else data.name)
                mode = item.mode if isinstance(item, PipelineDataInput) else "mount"
                ports_in.append(
                    ir.InputPort(
                        name=port,
                        source=ir.StepOutputSource(
                            step=names[id(prod)], output=self.output_ports[id(prod)][id(data)]
                        ),
                        mode="download" if mode == "download" else "mount",
                        # read as a table (an output's read_delimited_files() and the like)
                        tabular=getattr(item, "tabular", None),
                    )
                )
                port_of[key] = port
                return port
            item = dataset_reference(item) or item  # Dataset.File inputs read a datastore
            if isinstance(item, DataReference) and getattr(item, "_dataset_param", None):
                # DatasetConsumptionConfig(name, PipelineParameter(default_value=FileDataset)):
                # the path is chosen at trigger time, as for a DataPath parameter.
                item._path_param = self.datapath_param(item._dataset_param)
            if isinstance(item, UrlReference):  # ... or http(s) URLs, fetched at run time
                port = unique(item.data_reference_name or "dataset")
                dataset_param = getattr(item, "_dataset_param", None)
                param = self.url_param(dataset_param) if dataset_param is not None else None
                ports_in.append(
                    ir.InputPort(
                        name=port,
                        source=ir.UrlSource(urls=item.urls, param=param),
                        mode="download" if item.mode == "download" else "mount",
                        path_on_compute=item.path_on_compute,
                        tabular=item._tabular,
                    )
                )
                port_of[key] = port
                return port
            if isinstance(item, DataPath):
                item = item.create_data_reference()
            if (
                isinstance(item, tuple)
                and len(item) == 2
                and isinstance(item[0], PipelineParameter)
            ):
                pp, binding = item
                if not isinstance(pp.default_value, DataPath):
                    self.problem(
                        "a (PipelineParameter, DataPathComputeBinding) pair needs a"
                        " DataPath default",
                        where,
                    )
                    return None
                dp = pp.default_value
                ref = dp.create_data_reference(
                    pp.name, binding if isinstance(binding, DataPathComputeBinding) else None
                )
                # The path is chosen at trigger time: a string Param, its default the DataPath's.
                ref._path_param = self.datapath_param(pp)
                item = ref
            if isinstance(item, DataReference):
                self.check_datastore_path(
                    item.path_on_datastore, f"step {name!r}: path_on_datastore", where
                )
                if item.path_on_compute is not None:
                    self.check_datastore_path(
                        item.path_on_compute, f"step {name!r}: path_on_compute", where
                    )
                port = unique(item.data_reference_name or "data")
                ports_in.append(
                    ir.InputPort(
                        name=port,
                        source=ir.DatastoreSource(
                            datastore=self.datastore_name(item.datastore, item._location),
                            path=str(item.path_on_datastore or ""),
                            param=getattr(item, "_path_param", None),
                        ),
                        mode="download" if item.mode == "download" else "mount",
                        path_on_compute=item.path_on_compute,
                        # a tabular dataset: how the step reads it (dsl/tabular.py)
                        tabular=getattr(item, "_tabular", None),
                    )
                )
                port_of[key] = port
                return port
            self.problem(f"step {name!r}: unsupported input of type {type(item).__name__}", where)
            return None

        for o in s.outputs:
            if isinstance(o, PipelineData):
                add_output(o)
            else:
                self.problem(
                    f"step {name!r}: outputs must be PipelineData, got {type(o).__name__}", where
                )
        for i in s.inputs:
            add_input(i)

        def token(value) -> ir.LiteralArg | ir.ParamArg | ir.PortArg | None:
            if isinstance(value, PipelineParameter):
                if isinstance(value.default_value, FileDataset):
                    port = add_input(DatasetConsumptionConfig(value.name, value))
                    return ir.PortArg(port=port) if port else None
                if isinstance(value.default_value, DataPath):
                    port = add_input((value, DataPathComputeBinding()))
                    return ir.PortArg(port=port) if port else None
                return ir.ParamArg(name=self.param(value))
            if isinstance(value, PipelineData):
                if self.ambiguous(value):
                    users = ", ".join(
                        repr(names.get(id(u), u.name)) for u in value.__dict__["_arg_users"]
                    )
                    self.problem(
                        f"PipelineData {value.name!r} appears only in the arguments of steps"
                        f" {users}: list it in outputs= of the step that writes it and in"
                        " inputs= of the steps that read it (as SDK v1 requires)",
                        value._location,
                    )
                    return None
                if s in self.producers_of(value):
                    return ir.PortArg(port=add_output(value))
                port = add_input(value)
                return ir.PortArg(port=port) if port else None
            if isinstance(
                value, (PipelineDataInput, DataReference, DataPath, tuple, *DATASET_INPUTS)
            ):
                if isinstance(value, tuple) and not (
                    len(value) == 2 and isinstance(value[0], PipelineParameter)
                ):
                    self.problem(f"step {name!r}: unsupported argument {value!r}", where)
                    return None
                port = add_input(value)
                return ir.PortArg(port=port) if port else None
            if isinstance(value, (set, frozenset)):
                # The text str() gives, items sorted: the same on every build (one warning).
                value = set_text(value, f"step {name!r}", "a value", where)
            if isinstance(value, (bool, int, float, str)):
                if not self.check_text(value, f"step {name!r}: the value {value!r}", where):
                    return None
                return self.literal_arg(value)
            if isinstance(value, Path):
                return self.literal_arg(str(value))
            self.problem(
                f"step {name!r}: argument of type {type(value).__name__} is not"
                " supported (use str, int, float, bool, data or PipelineParameter)",
                where,
            )
            return None

        arguments = tuple(t for t in (token(a) for a in s.arguments) if t is not None)
        env = []
        for k, v in sorted(s.params.items(), key=lambda kv: str(kv[0])):
            if not isinstance(k, str) or not _ENV_NAME.fullmatch(k):
                self.problem(
                    f"step {name!r}: params key {k!r} must be letters, digits, '_', '.' or '-'"
                    " (it becomes the environment variable AML_PARAMETER_<key>)",
                    where,
                )
                continue
            t = token(v)
            if t is not None:
                env.append((f"AML_PARAMETER_{k}", t))
        runenv = self.run_environment(s, name, env)
        distributed = distributed_spec(self, s, name)

        source_dir, generated = self.source_dir(s, name)
        script = None
        command = shell = None
        special: dict = {}
        if isinstance(s, (DatabricksStep, AdlaStep, DataTransferStep)):
            kind = s._kind
            special = kinds.capture_special(self, s, name, token, add_input, ports_out, source_dir)
        elif isinstance(s, CommandStep):
            kind = "command"
            if isinstance(s.command, str):
                shell = s.command
                self.check_text(shell, f"step {name!r}: the command", where)
            elif isinstance(s.command, (list, tuple)):
                command = tuple(t for t in (token(c) for c in s.command) if t is not None)
            else:
                self.problem(f"step {name!r}: command must be a string or a list", where)
                shell = ""
        else:
            kind = "python_script"
            if isinstance(s, ParallelRunStep):  # the entry script, checked as a script is
                kind = "parallel_run"
                special = {"parallel_run": kinds.parallel_run(self, s, name, add_input)}
                for key, value in sorted(s.parallel_run_config.environment_variables.items()):
                    t = token(value)
                    if t is not None and isinstance(key, str):
                        env.append((key, t))
            script = str(s.script_name or "").replace("\\", "/")
            generated_names = {g[0] for g in generated}
            if not self.check_text(script, f"step {name!r}: script_name", where):
                pass
            elif not script:
                if not isinstance(s, HyperDriveStep):  # its config says what is missing
                    self.problem(f"step {name!r}: script_name is empty", where)
            elif source_dir is None and (s.source_directory or self.p.default_source_directory):
                pass  # its source_directory does not exist: said once, above
            elif script not in generated_names and (
                source_dir is None or not self.is_file(source_dir, script)
            ):
                self.problem(
                    f"step {name!r}: {'entry_script' if kind == 'parallel_run' else 'script'}"
                    f" {script!r} not found in source_directory"
                    f" {str(source_dir)!r}" + did_you_mean_file(source_dir, script),
                    where,
                )
            if isinstance(s, HyperDriveStep):  # a script run once per trial (dsl/hyperdrive.py)
                kind = "hyperdrive"
                spec = capture_spec(self, s, name, ports_out, lambda o: port_of.get(id(o)))
                special = {"hyperdrive": spec} if spec is not None else {}
        hash_digests = []
        for hp in s.hash_paths:
            target = Path(hp) if Path(hp).is_absolute() else (source_dir or Path.cwd()) / hp
            if not target.exists():
                self.problem(
                    f"step {name!r}: hash_paths entry {hp!r} not found in {str(source_dir)!r}",
                    where,
                )
                continue
            hash_digests.append((str(hp), snapshot_mod.path_digest(target)))
        # One snapshot per folder and generated scripts in a capture (the user's code has run:
        # nothing changes the folders while the steps are captured).
        snap_key = ("snapshot", source_dir, generated)
        snap = self.shared.get(snap_key)
        if snap is None:
            snap = self.shared[snap_key] = (
                snapshot_mod.take(source_dir, generated)
                if (source_dir is None or source_dir.is_dir())
                else snapshot_mod.take(None, generated)
            )

        after = []
        for up, seq, site in self.run_after_calls(s):
            if id(up) in names and site is not None:
                key = (names[id(up)], name)
                if key not in self.order_sites or self.order_sites[key][0] < seq:
                    self.order_sites[key] = (seq, self.loc(site))
        for up in self.run_after(s) + self.extra_after.get(id(s), []):
            if id(up) in names:
                if names[id(up)] not in after:
                    after.append(names[id(up)])
            else:
                self.problem(
                    f"step {name!r} runs after {up.name or up!r}, which is not in the pipeline",
                    where,
                )
        definition = getattr(s, "_definition_location", None)
        original = str(s.name) if s._explicit_name and s.name is not None else None
        display = original if original != name and text_problem(original) is None else None
        return ir.Step(
            name=name,
            display_name=display,
            settings=self.task_settings(s, name, original),
            kind=kind,
            location=self.loc(definition or where),
            compute=self.compute_name(s),
            script=script,
            command=command,
            shell_command=shell,
            arguments=arguments,
            inputs=tuple(ports_in),
            outputs=tuple(ports_out),
            environment_variables=tuple(env),
            snapshot=snap,
            allow_reuse=bool(s.allow_reuse),
            version=None if s.version is None else str(s.version),
            hash_paths=tuple(str(h) for h in s.hash_paths),
            hash_path_digests=tuple(hash_digests),
            run_after=tuple(after),
            image=runenv.image,
            packages=runenv.packages,
            distributed=distributed,
            **special,
        )

    def task_settings(
        self, s: PipelineStep, name: str, original: str | None
    ) -> ir.TaskSettings | None:
        """The step's Airflow task settings: its own (step keywords, @step(...)), then
        `[dag.steps.NAME]` of the config (by task id or the step's own name) over them."""
        from pydantic import ValidationError

        from ..config import TaskSettingsConfig

        given = dict(getattr(s, "_airflow_settings", None) or {})
        if given:
            try:
                given = TaskSettingsConfig(**given).model_dump(exclude_none=True)
            except ValidationError as exc:
                for err in exc.errors():
                    key = ".".join(str(p) for p in err["loc"])
                    self.problem(f"step {name!r}: {key}: {err['msg']}", s._location)
                given = {}
        steps = self.cfg.dag.steps
        key = name if name in steps else original if original in steps else None
        if key is not None:
            self.config_steps_used.add(key)
            given.update(steps[key].model_dump(exclude_none=True))
        return ir.TaskSettings(**given) if given else None

    def run_environment(self, s: PipelineStep, name: str, env: list):
        """The step's runconfig: its variables join `env`; image and packages are returned."""
        runenv = step_environment(s.runconfig)
        taken = {k for k, _ in env}
        for key, value in runenv.variables:
            if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                self.problem(
                    f"step {name!r}: environment variable name {key!r} is invalid", s._location
                )
            elif not isinstance(value, str):
                self.problem(
                    f"step {name!r}: environment variable {key!r} must be a string, got"
                    f" {type(value).__name__}",
                    s._location,
                )
            elif key in taken:
                self.problem(
                    f"step {name!r}: environment variable {key!r} is set twice", s._location
                )
            else:
                env.append((key, ir.LiteralArg(value=value)))
        target = s.compute_target or self.p.default_compute
        target = self.ws._computes.get(target) if isinstance(target, str) else target
        kind = getattr(target, "_kind", "local")
        if runenv.packages and kind == "local":
            warn_packages_not_installed(name, runenv.packages, s._location)
        elif runenv.packages and kind == "amlcompute" and s._kind != "databricks":
            image = runenv.image or self.cfg.default_image
            warn_packages_in_image(name, runenv.packages, image, s._location)
        return runenv

    def check_single_producers(self, steps: list[PipelineStep], names: dict[int, str]) -> None:
        """A PipelineData in the outputs of two steps of the pipeline is refused, whether or
        not a step reads it (the same message as for a read one, so it is said once)."""
        writers: dict[int, tuple[PipelineData, list[PipelineStep]]] = {}
        for s in steps:
            for o in s.outputs:
                if isinstance(o, PipelineData):
                    entry = writers.setdefault(id(o), (o, []))
                    if s not in entry[1]:
                        entry[1].append(s)
        for data, producers in writers.values():
            if len(producers) > 1:
                self.problem(
                    f"PipelineData {data.name!r} has more than one producer: "
                    + ", ".join(repr(names.get(id(p), p.name)) for p in producers),
                    data._location,
                )

    def reserve_output_ports(self, s: PipelineStep) -> None:
        """Name the step's outputs (listed ones, then those only in its arguments or command)."""
        command = getattr(s, "command", None)
        candidates = list(s.outputs) + list(s.arguments)
        candidates += list(command) if isinstance(command, (list, tuple)) else []
        ports: dict[int, str] = {}
        for data in candidates:
            if not isinstance(data, PipelineData) or id(data) in ports:
                continue
            if data in s.outputs or (not self.ambiguous(data) and self.producers_of(data) == [s]):
                base = sanitize_id(data.output_name or data.name)
                ports[id(data)] = unique_name(base, set(ports.values()))
        self.output_ports[id(s)] = ports

    def is_file(self, folder: Path, name: str) -> bool:
        """Whether `folder/name` is a file; asked once per folder and name (steps made in a
        loop run the same script)."""
        key = ("is_file", folder, name)
        found = self.shared.get(key)
        if found is None:
            found = self.shared[key] = (folder / name).is_file()
        return found

    def source_dir(self, s: PipelineStep, name: str):
        generated = tuple([s._generated]) if getattr(s, "_generated", None) else ()
        for message, where in getattr(s, "_code_problems", ()):  # @step code: free names
            self.problem(message, where)
        src = s.source_directory or self.p.default_source_directory
        if not kinds.has_code(s) and not s.source_directory:
            return None, generated  # nothing of the DSL's folder runs: an empty snapshot
        if src is None:
            if generated:
                return None, generated
            return Path(s._location[0]).parent, generated
        # Steps made in a loop share their folder: resolved (and found to exist) once.
        key = ("source_dir", str(src), s._location[0])
        found = self.shared.get(key)
        if found is not None:
            return found, generated
        path = Path(src)
        if not path.is_absolute():
            beside_script = Path(s._location[0]).parent / path
            path = beside_script if beside_script.exists() else Path.cwd() / path
        path = path.resolve()
        if path.is_dir():
            self.shared[key] = path
        else:
            hint = ""
            if path.parent.is_dir():
                siblings = [d.name for d in path.parent.iterdir() if d.is_dir()]
                hint = did_you_mean(path.name, siblings)
            self.problem(
                f"step {name!r}: source_directory {str(src)!r} does not exist{hint}", s._location
            )
            return None, generated
        return path, generated

    def run(self) -> ir.Pipeline:
        listed: list[PipelineStep] = []
        self.flatten(self.p.steps, listed)
        if not listed:
            self.problem("the pipeline has no steps", self.p._location)
        steps = self.closure(listed)
        # Steps given twice (in a list and via closure) count once.
        unique_steps, seen = [], set()
        for s in steps:
            if id(s) not in seen:
                seen.add(id(s))
                unique_steps.append(s)
        for pp in self.p.parameters_from_function or []:
            self.param(pp)
        where = self.p._location
        if self.p.description is not None:
            self.check_text(self.p.description, "the pipeline description", where)
        for k, v in self.p.tags.items():
            tag = str(k) if v is None else f"{k}:{v}"
            if self.check_text(tag, f"tag {str(k)!r}", where) and len(tag) > TAG_MAX_LEN:
                self.problem(
                    f"tag {str(k)!r}: '<key>:<value>' is {len(tag)} characters long; Airflow"
                    f" allows {TAG_MAX_LEN}",
                    where,
                )
        names = self.assign_names(unique_steps)
        for s in unique_steps:
            if names[id(s)] == PLAN_TASK_ID:
                self.problem(
                    f"step name {PLAN_TASK_ID!r} is reserved for the reuse planner task",
                    s._location,
                )
        for s in unique_steps:
            self.reserve_output_ports(s)
        self.check_single_producers(unique_steps, names)
        ir_steps = [x for x in (self.step(s, names) for s in unique_steps) if x is not None]

        default_ds = self.datastore_name(self.p.default_datastore, self.p._location)
        datastores = tuple(
            ir.Datastore(
                name=n,
                kind=self.cfg.datastores[n].kind,
                path=self.cfg.datastore_root(n),
                conn_id=self.cfg.datastores[n].conn_id,
                account_name=self.cfg.datastores[n].account_name,
                shared=self.cfg.datastores[n].shared,
            )
            for n in sorted(self.used_datastores)
            if n in self.cfg.datastores
        )
        computes = []
        for cname in sorted(self.used_computes):
            obj = self.used_computes[cname]
            fields = obj._ir_fields() if obj is not None else {"kind": "local"}
            if "location" in fields:
                fields["location"] = self.loc(fields["location"])
            entry = self.cfg.compute.get(cname)
            if entry is not None and entry.queue:
                fields["queue"] = entry.queue
            computes.append(ir.ComputeTarget(name=cname, **fields))
        dag = self.cfg.dag
        pipe = ir.Pipeline(
            name=sanitize_id(self.name),
            description=self.p.description,
            source_file=self.loc((self.p._location[0], 0)).file,
            location=self.loc(self.p._location),
            parameters=tuple(self.params[k] for k in sorted(self.params)),
            steps=tuple(ir_steps),
            datastores=datastores,
            computes=tuple(computes),
            default_datastore=default_ds,
            tags=tuple(sorted((str(k), str(v)) for k, v in self.p.tags.items() if v is not None)),
            task_defaults=ir.TaskSettings(
                owner=dag.owner or self.cfg.project_id,
                retries=dag.retries if dag.retries is not None else 0,
                retry_delay=dag.retry_delay if dag.retry_delay is not None else 300.0,
                execution_timeout=dag.execution_timeout,
            ),
            max_active_runs=dag.max_active_runs,
            # Plain tags: the pipeline's (a list of tags) and [dag] tags of the config.
            extra_tags=tuple(
                sorted({*(str(k) for k, v in self.p.tags.items() if v is None), *dag.tags})
            ),
            xcom_log_tail=dag.xcom_log_tail,
        )
        return pipe


def capture(pipeline, name: str) -> ir.Pipeline:
    """Build and validate the IR of one pipeline; BuildError lists every problem."""
    c = _Capture(pipeline, name)
    try:
        result = c.run()
    except BuildError:
        raise
    problems = list(c.problems)
    problems += [p for p in validate(result, c.order_sites) if p not in problems]
    if problems:
        # The same message twice (e.g. from capture and from validation) is said once.
        unique, seen = [], set()
        for p in problems:
            if str(p) not in seen:
                seen.add(str(p))
                unique.append(p)
        raise BuildError(unique)
    return result
