"""Steps with their SDK v1 constructor arguments (names, order, defaults)."""

from __future__ import annotations

from ..exceptions import UserErrorException
from ..text import parameter_names, unexpected_arguments
from . import session
from .location import caller_location
from .warnings import ignored, ordered

# amlcompile extensions every step takes as keywords (PythonScriptStep(..., retries=2)), or
# through `step.airflow_settings(...)`: the Airflow task's owner, retries, retry_delay and
# execution_timeout (seconds, or text like "5m", "2h").
AIRFLOW_SETTINGS = ("owner", "retries", "retry_delay", "execution_timeout")


class PipelineStep:
    """Common base: name, inputs, outputs, ordering, creation site."""

    _kind = "python_script"

    def __init__(
        self,
        name,
        inputs,
        outputs,
        arguments,
        compute_target,
        source_directory,
        allow_reuse,
        version,
        params=None,
        runconfig=None,
    ):
        self.name = name
        self._explicit_name = name is not None
        owner = type(self).__name__
        self.inputs = list(ordered(inputs, owner, "inputs") or [])
        self.outputs = list(ordered(outputs, owner, "outputs") or [])
        self.arguments = list(ordered(arguments, owner, "arguments") or [])
        self.compute_target = compute_target
        self.source_directory = source_directory
        self.allow_reuse = allow_reuse
        self.version = version
        self.params = dict(params or {})
        from .environment import ScriptRunConfig

        if isinstance(runconfig, ScriptRunConfig):
            runconfig = runconfig.run_config
        self.runconfig = runconfig
        self.hash_paths = []
        self._run_after: list[PipelineStep] = []
        self._run_after_seq: list[int] = []
        self._run_after_loc: list[tuple[str, int]] = []  # where each run_after call was made
        self._location = caller_location()
        # Data objects remember who writes them, so Pipeline(ws, steps=[last]) finds upstream.
        from .data import PipelineData, PipelineDataInput

        listed_inputs = {id(i) for i in self.inputs}
        for o in self.outputs:
            if isinstance(o, PipelineData):
                o.__dict__.setdefault("_producers", []).append(self)
        for a in self.arguments:
            if isinstance(a, PipelineData) and id(a) not in listed_inputs and a not in self.outputs:
                a.__dict__.setdefault("_arg_users", []).append(self)
        for i in self.inputs:
            data = i.data if isinstance(i, PipelineDataInput) else i
            if isinstance(data, PipelineData):
                data.__dict__.setdefault("_consumers", []).append(self)
        session.note_step(self)

    def airflow_settings(self, **settings):
        """This step's Airflow task settings (owner, retries, retry_delay, execution_timeout),
        over the `[dag]` defaults of amlcompile.toml; `[dag.steps.NAME]` there overrides them.
        Returns the step, for chaining."""
        unknown = sorted(set(settings) - set(AIRFLOW_SETTINGS))
        if unknown:
            raise TypeError(
                f"airflow_settings got unexpected arguments: {', '.join(unknown)}"
                f" (one of {', '.join(AIRFLOW_SETTINGS)})"
            )
        current = dict(getattr(self, "_airflow_settings", None) or {})
        current.update({k: v for k, v in settings.items() if v is not None})
        self._airflow_settings = current
        return self

    def run_after(self, step):
        """Run this step after `step`, with no data between them."""
        if not isinstance(step, PipelineStep):
            raise UserErrorException(f"run_after expects a step, got {type(step).__name__}")
        self._run_after.append(step)
        # When: a Pipeline made before this call keeps the graph it was made with.
        self._run_after_seq.append(session.next_sequence())
        # Where: a cycle it closes is reported at this call, not at a step's definition.
        self._run_after_loc.append(caller_location())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class PythonScriptStep(PipelineStep):
    def __init__(
        self,
        script_name,
        name=None,
        arguments=None,
        compute_target=None,
        runconfig=None,
        runconfig_pipeline_params=None,
        inputs=None,
        outputs=None,
        params=None,
        source_directory=None,
        allow_reuse=True,
        version=None,
        hash_paths=None,
        **kwargs,
    ):
        # `target=` is the SDK's old name for compute_target (used by the seed's compareStep).
        if "target" in kwargs and compute_target is None:
            compute_target = kwargs.pop("target")
        airflow = {k: kwargs.pop(k) for k in AIRFLOW_SETTINGS if k in kwargs}
        if kwargs:
            raise TypeError(
                unexpected_arguments(
                    "PythonScriptStep", kwargs, [*parameter_names(PythonScriptStep), "target"]
                )
            )
        super().__init__(
            name,
            inputs,
            outputs,
            arguments,
            compute_target,
            source_directory,
            allow_reuse,
            version,
            params,
            runconfig,
        )
        if runconfig_pipeline_params:
            ignored("PythonScriptStep", runconfig_pipeline_params="set")
        self.script_name = script_name
        self.hash_paths = list(ordered(hash_paths, "PythonScriptStep", "hash_paths") or [])
        self._airflow_settings = airflow


class MpiStep(PythonScriptStep):
    """SDK v1's MpiStep (deprecated there for CommandStep): a PythonScriptStep whose script
    runs as `node_count` x `process_count_per_node` MPI ranks. Its environment keywords
    (environment_definition, custom_docker_image, pip_packages, conda_packages,
    environment_variables) make the step's runconfig."""

    _ENV_KWARGS = (
        "environment_definition",
        "custom_docker_image",
        "pip_packages",
        "conda_packages",
        "environment_variables",
        "use_gpu",
        "use_docker",
        "image_registry_details",
        "user_managed",
        "conda_dependencies_file_path",
        "pip_requirements_file_path",
        "distributed_backend",
        "pip_requirements_file",
        "conda_dependencies_file",
    )

    def __init__(
        self,
        name=None,
        source_directory=None,
        script_name=None,
        arguments=None,
        compute_target=None,
        node_count=None,
        process_count_per_node=None,
        inputs=None,
        outputs=None,
        allow_reuse=True,
        version=None,
        hash_paths=None,
        **kwargs,
    ):
        from .environment import MpiConfiguration, RunConfiguration

        env = {k: kwargs.pop(k) for k in self._ENV_KWARGS if k in kwargs}
        airflow = {k: kwargs.pop(k) for k in AIRFLOW_SETTINGS if k in kwargs}
        if kwargs:
            raise TypeError(
                unexpected_arguments(
                    "MpiStep", kwargs, [*parameter_names(MpiStep), *self._ENV_KWARGS]
                )
            )
        runconfig = RunConfiguration()
        definition = env.pop("environment_definition", None)
        if definition is not None:
            runconfig.environment = definition
        environment = runconfig.environment
        if env.get("custom_docker_image"):
            environment.docker.base_image = env.pop("custom_docker_image")
        deps = environment.python.conda_dependencies
        for p in env.pop("pip_packages", None) or []:
            deps.add_pip_package(p)
        for p in env.pop("conda_packages", None) or []:
            deps.add_conda_package(p)
        variables = env.pop("environment_variables", None)
        if variables:
            environment.environment_variables = {
                **environment.environment_variables,
                **dict(variables),
            }
        backend = env.pop("distributed_backend", None)
        if backend not in (None, "mpi"):
            raise UserErrorException(f"MpiStep: distributed_backend must be 'mpi', got {backend!r}")
        ignored("MpiStep", **env)
        runconfig.communicator = "IntelMpi"
        runconfig.mpi = MpiConfiguration(
            process_count_per_node=1 if process_count_per_node is None else process_count_per_node,
            node_count=1 if node_count is None else node_count,
        )
        runconfig.node_count = runconfig.mpi.node_count
        runconfig._distribution_site = caller_location()
        super().__init__(
            script_name,
            name=name,
            arguments=arguments,
            compute_target=compute_target,
            runconfig=runconfig,
            inputs=inputs,
            outputs=outputs,
            source_directory=source_directory,
            allow_reuse=allow_reuse,
            version=version,
            hash_paths=hash_paths,
            **airflow,
        )
        self.node_count = node_count
        self.process_count_per_node = process_count_per_node


class CommandStep(PipelineStep):
    _kind = "command"

    def __init__(
        self,
        command=None,
        name=None,
        compute_target=None,
        runconfig=None,
        runconfig_pipeline_params=None,
        inputs=None,
        outputs=None,
        params=None,
        source_directory=None,
        allow_reuse=True,
        version=None,
    ):
        from .environment import ScriptRunConfig

        src = None
        if isinstance(runconfig, ScriptRunConfig):  # the SDK's CommandStep(runconfig=src)
            src = runconfig
            command = command if command is not None else src.step_command()
            compute_target = compute_target if compute_target is not None else src.compute_target
            source_directory = source_directory or src.source_directory
            runconfig = src.run_config
        if command is None:
            raise UserErrorException("CommandStep needs a command")
        super().__init__(
            name,
            inputs,
            outputs,
            None,
            compute_target,
            source_directory,
            allow_reuse,
            version,
            params,
            runconfig,
        )
        if runconfig_pipeline_params:
            ignored("CommandStep", runconfig_pipeline_params="set")
        duration = getattr(src, "max_run_duration_seconds", None) if src is not None else None
        if duration not in (None, 2592000):  # the SDK's limit on the run: the task's timeout
            self.airflow_settings(execution_timeout=duration)
        self.command = ordered(command, "CommandStep", "command")
        if isinstance(command, (list, tuple)):
            from .data import PipelineData

            for item in command:
                if (
                    isinstance(item, PipelineData)
                    and item not in self.outputs
                    and not any(item is i for i in self.inputs)
                ):
                    item.__dict__.setdefault("_arg_users", []).append(self)


class StepSequence:
    """Steps that run one after the other, each after all of the previous element."""

    def __init__(self, steps=None):
        self.steps = list(steps or [])
        self._location = caller_location()
