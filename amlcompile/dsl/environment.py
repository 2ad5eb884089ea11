"""RunConfiguration, Environment and CondaDependencies: what a step's process runs in.

They decide three things of a step: its image (Kubernetes), its environment variables, and
its packages. Packages are part of the reuse fingerprint but are never installed by
amlcompile: LocalCompute runs steps with the Airflow worker's Python (a warning says so at
build) and pods expect the image to contain them.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import UserErrorException
from .location import caller_location
from .warnings import azure_only_attribute, ignored, non_default, ordered, unsupported


class PackagesNotInstalledWarning(UserWarning):
    pass


def _resolve(file_path, where) -> Path:
    p = Path(file_path)
    if p.is_absolute():
        return p
    beside = Path(where[0]).parent / p
    for candidate in (Path.cwd() / p, beside):
        if candidate.is_file():
            return candidate
    raise UserErrorException(f"file {str(file_path)!r} not found (looked in {Path.cwd()})")


class CondaDependencies:
    """Conda and pip packages plus a Python version (the `python.conda_dependencies` part)."""

    def __init__(self, conda_dependencies_file_path=None, _underlying_structure=None):
        self._conda: list[str] = []
        self._pip: list[str] = []
        self._python: str | None = None
        if conda_dependencies_file_path is not None:
            _parse_conda_file(_resolve(conda_dependencies_file_path, caller_location()), self)

    @staticmethod
    def create(
        pip_indexurl=None,
        pip_packages=None,
        conda_packages=None,
        python_version=None,
        pin_sdk_version=True,
    ):
        unsupported("CondaDependencies.create", pip_indexurl=pip_indexurl)
        ignored(
            "CondaDependencies.create",
            **non_default(CondaDependencies.create, locals(), "pin_sdk_version"),
        )
        deps = CondaDependencies()
        for p in conda_packages or []:
            deps.add_conda_package(p)
        for p in pip_packages or []:
            deps.add_pip_package(p)
        if python_version is not None:
            deps.set_python_version(python_version)
        return deps

    def add_conda_package(self, conda_package):
        name = _package(conda_package, "conda package")
        if re.match(r"python(\W|$)", name):
            self.set_python_version(re.sub(r"^python\s*=*\s*", "", name) or None)
        elif name not in self._conda:
            self._conda.append(name)

    def add_pip_package(self, pip_package):
        name = _package(pip_package, "pip package")
        if name not in self._pip:
            self._pip.append(name)

    def remove_pip_package(self, pip_package):
        self._pip = [p for p in self._pip if p != pip_package]

    def remove_conda_package(self, conda_package):
        self._conda = [p for p in self._conda if p != conda_package]

    def add_channel(self, channel):
        ignored("CondaDependencies.add_channel", channel=channel)

    def set_python_version(self, version):
        self._python = None if version in (None, "") else str(version)

    def get_python_version(self):
        return self._python

    @property
    def conda_packages(self):
        return list(self._conda)

    @property
    def pip_packages(self):
        return list(self._pip)

    def packages(self) -> tuple[str, ...]:
        """The step's package list as recorded in the IR: `python=V`, `conda:X`, `pip:Y`."""
        out = [f"python={self._python}"] if self._python else []
        return tuple(out + [f"conda:{p}" for p in self._conda] + [f"pip:{p}" for p in self._pip])

    def __repr__(self) -> str:
        return f"CondaDependencies({', '.join(self.packages())})"


def _package(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserErrorException(f"{what} must be a non-empty string, got {value!r}")
    return value.strip()


_ITEM = re.compile(r"^(\s*)-\s*(.*?)\s*$")


def _parse_conda_file(path: Path, deps: CondaDependencies) -> None:
    """The subset of conda environment YAML people write: name, channels, dependencies (with
    a nested `pip:` list). Anything else is refused with its line rather than half-read."""
    section = None
    pip_indent = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line.startswith((" ", "-")):
            key, _, rest = line.partition(":")
            if key.strip() not in ("name", "channels", "dependencies", "prefix") or (
                rest.strip() and key.strip() in ("channels", "dependencies")
            ):
                raise UserErrorException(f"{path}:{number}: unsupported conda entry {line!r}")
            section, pip_indent = key.strip(), None
            continue
        m = _ITEM.match(line)
        if m is None or section is None:
            raise UserErrorException(f"{path}:{number}: cannot read {line.strip()!r}")
        indent, value = len(m.group(1)), m.group(2).strip("'\"")
        if section != "dependencies":
            continue
        if value == "pip:":
            pip_indent = indent
        elif pip_indent is not None and indent > pip_indent:
            deps.add_pip_package(value)
        elif value.endswith(":"):
            raise UserErrorException(f"{path}:{number}: unsupported dependency section {value!r}")
        else:
            pip_indent = None
            deps.add_conda_package(value)


def _parse_requirements(path: Path, deps: CondaDependencies) -> None:
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise UserErrorException(
                f"{path}:{number}: pip option {line.split()[0]!r} is not supported (list"
                " packages only; put indexes in the image)"
            )
        deps.add_pip_package(line)


class AzureOnlySection:
    """`env.spark`, `env.r`, `run_config.amlcompute`, ...: Azure-only settings scripts set.
    Anything can be read or set; the first use warns once, nothing raises."""

    def __init__(self, owner: str):
        object.__setattr__(self, "_owner", owner)

    def __getattr__(self, item):
        if item.startswith("__"):
            raise AttributeError(item)
        azure_only_attribute(self._owner, item, None)
        return None

    def __setattr__(self, item, value):
        azure_only_attribute(self._owner, item, value)
        object.__setattr__(self, item, value)


class DockerSection:
    def __init__(self):
        self.base_image = None
        self.base_dockerfile = None
        self.enabled = True

    def __setattr__(self, name, value):
        if name not in ("base_image", "base_dockerfile", "enabled"):
            ignored("Environment.docker", **{name: value})
        if name == "base_dockerfile" and value:
            unsupported("Environment.docker", base_dockerfile="(build the image yourself)")
        super().__setattr__(name, value)


class PythonSection:
    def __init__(self):
        self.conda_dependencies = CondaDependencies()
        self.user_managed_dependencies = False
        self.interpreter_path = "python"


class Environment:
    """A named process environment: image, environment variables and packages."""

    def __init__(self, name, **kwargs):
        ignored("Environment", **kwargs)
        self.name = name
        self.version = None
        self.docker = DockerSection()
        self.python = PythonSection()
        self.environment_variables: dict[str, str] = {}
        self._location = caller_location()
        # Azure-only sections real scripts set (`env.spark.precache_packages = False`).
        self.spark = AzureOnlySection("Environment.spark")
        self.r = AzureOnlySection("Environment.r")
        self.databricks = AzureOnlySection("Environment.databricks")

    @staticmethod
    def from_conda_specification(name, file_path):
        env = Environment(name)
        _parse_conda_file(_resolve(file_path, caller_location()), env.python.conda_dependencies)
        return env

    @staticmethod
    def from_pip_requirements(name, file_path, pip_version=None):
        env = Environment(name)
        deps = env.python.conda_dependencies
        _parse_requirements(_resolve(file_path, caller_location()), deps)
        if pip_version:
            deps.add_pip_package(f"pip=={pip_version}")
        return env

    @staticmethod
    def get(workspace, name, version=None, label=None):
        """An environment this script registered (`env.register(ws)`), else one from the
        project config ([environments.NAME] in amlcompile.toml)."""
        registered = getattr(workspace, "environments", {}).get(name)
        if registered is not None:
            import copy

            return copy.deepcopy(registered)
        known = workspace._config.environments
        if name not in known:
            configured = ", ".join(sorted(known)) or "none"
            raise UserErrorException(
                f"environment {name!r} is not configured (configured: {configured}); add"
                f' [environments."{name}"] with image = "...", pip_packages = [...] to'
                " amlcompile.toml (curated Azure environments are not available)"
            )
        cfg = known[name]
        env = Environment(name)
        env.version = version
        env.docker.base_image = cfg.image
        env.environment_variables = dict(cfg.environment_variables)
        deps = env.python.conda_dependencies
        for p in cfg.conda_packages:
            deps.add_conda_package(p)
        for p in cfg.pip_packages:
            deps.add_pip_package(p)
        deps.set_python_version(cfg.python_version)
        return env

    @staticmethod
    def list(workspace):
        names = {*workspace._config.environments, *getattr(workspace, "environments", {})}
        return {n: Environment.get(workspace, n) for n in sorted(names)}

    def register(self, workspace):
        """Registers the environment in this build's workspace, under its name: a later
        `Environment.get(ws, name)` returns it (a new version each time, as on Azure)."""
        import copy

        registry = getattr(workspace, "environments", None)
        if registry is None:
            return self
        previous = registry.get(self.name)
        number = int(previous.version) + 1 if previous is not None and previous.version else 1
        self.version = str(number)
        registry[self.name] = copy.deepcopy(self)
        return self

    def clone(self, new_name):
        import copy

        env = copy.deepcopy(self)
        env.name = new_name
        return env

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r})"


class RunConfiguration:
    """How a step runs; amlcompile reads its `environment` (image, variables, packages)."""

    def __init__(
        self,
        script=None,
        arguments=None,
        framework=None,
        communicator=None,
        conda_dependencies=None,
        _history_enabled=None,
        _path=None,
        _name=None,
        command=None,
    ):
        # Steps take their script and arguments from the step itself, as on Azure.
        ignored(
            "RunConfiguration",
            script=script,
            arguments=arguments,
            _history_enabled=_history_enabled,
            _path=_path,
            _name=_name,
            command=command,
        )
        self.environment = Environment("runconfig")
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies
        self.target = None
        self.node_count = 1
        # Distributed training (SDK v1's framework / communicator and their sections): read
        # by distribution(); see docs/compute-targets.md "Multi-node training".
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.mpi = MpiConfiguration()
        self.pytorch = PyTorchConfiguration()
        self.tensorflow = TensorflowConfiguration()
        self.docker = DockerConfiguration()
        self.amlcompute = AzureOnlySection("RunConfiguration.amlcompute")
        self.history = AzureOnlySection("RunConfiguration.history")
        self.data_references: dict = {}

    @property
    def environment_variables(self):
        return self.environment.environment_variables

    @environment_variables.setter
    def environment_variables(self, value):
        self.environment.environment_variables = dict(value)


class DockerConfiguration:
    """`RunConfiguration.docker`: whether Azure runs the step in Docker. Steps always run in
    their target's way (a process locally, a pod on Kubernetes), so this is Azure-only."""

    def __init__(self, use_docker=None, arguments=None, shared_volumes=None, shm_size=None):
        ignored(
            "DockerConfiguration",
            arguments=arguments,
            shared_volumes=shared_volumes,
            shm_size=shm_size,
        )
        self.use_docker = use_docker
        self.arguments = arguments
        self.shared_volumes = shared_volumes
        self.shm_size = shm_size


@dataclass(frozen=True)
class StepEnvironment:
    image: str | None
    variables: tuple[tuple[str, object], ...]
    packages: tuple[str, ...]


def step_environment(runconfig) -> StepEnvironment:
    """What a step's `runconfig=` (RunConfiguration, Environment or None) asks for."""
    env = getattr(runconfig, "environment", runconfig)
    image = getattr(getattr(env, "docker", None), "base_image", None)
    variables = getattr(env, "environment_variables", None) or {}
    deps = getattr(getattr(env, "python", None), "conda_dependencies", None)
    packages = deps.packages() if isinstance(deps, CondaDependencies) else ()
    return StepEnvironment(
        image=image if isinstance(image, str) and image else None,
        variables=tuple(sorted(dict(variables).items(), key=lambda kv: str(kv[0]))),
        packages=packages,
    )


_warned_local = False


def warn_packages_not_installed(step: str, packages, where: tuple[str, int]) -> None:
    """Once per process: LocalCompute does not install a step's packages."""
    global _warned_local
    if _warned_local:
        return
    _warned_local = True
    file, line = where
    warnings.warn_explicit(
        f"step {step!r} lists packages ({', '.join(packages)}); LocalCompute runs steps with"
        " the Airflow worker's Python and does not install them (they count for reuse only)",
        PackagesNotInstalledWarning,
        file,
        line,
    )


_warned_image: set[tuple[str, int]] = set()


def warn_packages_in_image(step: str, packages, image, where: tuple[str, int]) -> None:
    """Once per step line: a pod runs the image as it is; amlcompile installs nothing in it."""
    if tuple(where) in _warned_image:
        return
    _warned_image.add(tuple(where))
    file, line = where
    listed = ", ".join(p for p in packages if not p.startswith("python="))
    python = next((p for p in packages if p.startswith("python=")), None)
    wanted = listed + (f" and {python}" if python and listed else python or "")
    warnings.warn_explicit(
        f"step {step!r} runs in a Kubernetes pod from image {image or '(the default_image)'!r},"
        f" which must already contain {wanted}: amlcompile installs no packages (they count"
        " for reuse only); build an image with them and set environment.docker.base_image",
        PackagesNotInstalledWarning,
        file,
        line,
    )


class ScriptRunConfig:
    """SDK v1's single-run configuration. In a pipeline it configures a step:
    `CommandStep(runconfig=src)` takes its command (or script and arguments), compute target
    and source directory from it; any step takes its `run_config` (image, variables,
    packages) and `environment`."""

    def __init__(
        self,
        source_directory,
        script=None,
        arguments=None,
        run_config=None,
        _telemetry_values=None,
        compute_target=None,
        environment=None,
        distributed_job_config=None,
        resume_from=None,
        max_run_duration_seconds=2592000,
        command=None,
        docker_runtime_config=None,
    ):
        ignored(
            "ScriptRunConfig",
            _telemetry_values=_telemetry_values,
            resume_from=resume_from,
            docker_runtime_config=docker_runtime_config,
        )
        self.source_directory = source_directory
        self.script = script
        self.arguments = list(ordered(arguments, "ScriptRunConfig", "arguments") or [])
        self.command = ordered(command, "ScriptRunConfig", "command")
        self.run_config = run_config if run_config is not None else RunConfiguration()
        if environment is not None:
            self.run_config.environment = environment
        self.run_config.target = compute_target
        self.compute_target = compute_target
        self.distributed_job_config = distributed_job_config
        if distributed_job_config is not None:
            _apply_distribution(self.run_config, distributed_job_config)
        self.max_run_duration_seconds = max_run_duration_seconds
        self._location = caller_location()

    @property
    def environment(self):
        return self.run_config.environment

    def step_command(self):
        """The command a CommandStep runs: `command`, else `python <script> <arguments>`."""
        if self.command is not None:
            return self.command
        if self.script is None:
            raise UserErrorException(
                f"{self._location[0]}:{self._location[1]}: ScriptRunConfig needs script= or"
                " command= to be a step's command"
            )
        return ["python", self.script, *self.arguments]


# ---- distributed training: SDK v1's distributed job configurations ----


class MpiConfiguration:
    """An MPI (Horovod, mpi4py) job: `node_count` nodes of `process_count_per_node` ranks."""

    _kind = "mpi"

    def __init__(self, process_count_per_node=1, node_count=1):
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count
        self._location = caller_location()


class PyTorchConfiguration:
    """A torch.distributed job: `process_count` processes in all (default: one per node) on
    `node_count` nodes. The backend is the script's choice in `init_process_group`: the
    processes get the same environment for Nccl and Gloo."""

    _kind = "pytorch"

    def __init__(self, communication_backend="Nccl", process_count=None, node_count=1):
        self.communication_backend = communication_backend
        self.process_count = process_count
        self.node_count = node_count
        self._location = caller_location()


class TensorflowConfiguration:
    """A parameter-server TensorFlow job: one process (and node) per worker and per parameter
    server, each given its TF_CONFIG."""

    _kind = "tensorflow"

    def __init__(self, worker_count=1, parameter_server_count=1):
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count
        self._location = caller_location()


def _apply_distribution(run_config, config) -> None:
    """What SDK v1's ScriptRunConfig does with `distributed_job_config`: the run
    configuration's framework, communicator, node count and section."""
    kind = getattr(config, "_kind", None)
    if kind is None:
        raise UserErrorException(
            "distributed_job_config must be an MpiConfiguration, PyTorchConfiguration or"
            f" TensorflowConfiguration, got {type(config).__name__}"
        )
    run_config._distribution_site = getattr(config, "_location", None)
    if kind == "mpi":
        run_config.communicator = "IntelMpi"
        run_config.mpi = config
        run_config.node_count = config.node_count
    elif kind == "pytorch":
        run_config.framework = "PyTorch"
        run_config.communicator = str(config.communication_backend or "Nccl").capitalize()
        run_config.pytorch = config
        run_config.node_count = config.node_count
    else:
        run_config.framework = "TensorFlow"
        run_config.communicator = "ParameterServer"
        run_config.tensorflow = config
        w, ps = config.worker_count, config.parameter_server_count
        both = isinstance(w, int) and isinstance(ps, int)
        run_config.node_count = w + ps if both else w


@dataclass(frozen=True)
class Distribution:
    """A step's distribution as written (validated by capture): kind and process layout."""

    kind: str  # "mpi", "pytorch" or "tensorflow"
    node_count: object
    process_count_per_node: object = 1
    process_count: object = None  # pytorch: all processes
    backend: object = None  # pytorch: Nccl or Gloo
    worker_count: object = None  # tensorflow
    parameter_server_count: object = None  # tensorflow
    where: tuple[str, int] | None = None


def distribution(runconfig) -> Distribution | None:
    """The distributed training a step's RunConfiguration asks for; None for one process."""
    rc = runconfig
    if rc is None or not hasattr(rc, "communicator"):
        return None
    where = getattr(rc, "_distribution_site", None)
    communicator = str(rc.communicator or "None")
    framework = str(rc.framework or "Python")
    if communicator == "ParameterServer" or framework == "TensorFlow":
        tf = rc.tensorflow
        return Distribution(
            "tensorflow",
            rc.node_count,
            worker_count=tf.worker_count,
            parameter_server_count=tf.parameter_server_count,
            where=where or getattr(tf, "_location", None),
        )
    if framework == "PyTorch" or communicator in ("Nccl", "Gloo"):
        pt = rc.pytorch
        return Distribution(
            "pytorch",
            rc.node_count,
            process_count=pt.process_count,
            backend=pt.communication_backend
            if communicator not in ("Nccl", "Gloo")
            else communicator,
            where=where or getattr(pt, "_location", None),
        )
    mpi = rc.mpi
    if communicator in ("IntelMpi", "Mpi", "OpenMpi") or rc.node_count != 1:
        # SDK v1 started the script on every node with no communicator too: the same
        # processes as MPI's, each told its rank.
        return Distribution(
            "mpi",
            rc.node_count,
            process_count_per_node=mpi.process_count_per_node,
            where=where or getattr(mpi, "_location", None),
        )
    if mpi.process_count_per_node != 1:
        return Distribution(
            "mpi", rc.node_count, process_count_per_node=mpi.process_count_per_node, where=where
        )
    return None
