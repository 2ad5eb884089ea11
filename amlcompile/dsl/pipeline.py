"""`Pipeline` and what a script does with it: validate, submit, publish."""

from __future__ import annotations

from ..exceptions import BuildError, UserErrorException
from . import session
from .location import caller_location
from .warnings import followed_from_dag, ignored


class Pipeline:
    def __init__(
        self,
        workspace,
        steps,
        description=None,
        default_datastore=None,
        default_source_directory=None,
        resolve_closure=True,
        _workflow_provider=None,
        _service_endpoint=None,
        **kwargs,
    ):
        self.name = kwargs.pop("name", None)  # amlcompile extension: the DAG id
        self.tags = dict(kwargs.pop("tags", None) or {})
        self.parameters_from_function = kwargs.pop("_parameters", None)
        if kwargs:
            raise TypeError(f"Pipeline got unexpected arguments: {', '.join(kwargs)}")
        self.workspace = workspace
        self.steps = steps
        self.description = description
        self.default_datastore = default_datastore
        self.default_source_directory = default_source_directory
        self.resolve_closure = resolve_closure
        self.default_compute = None
        ignored(
            "Pipeline", _workflow_provider=_workflow_provider, _service_endpoint=_service_endpoint
        )
        self._location = caller_location()
        self._published: list[dict] = []

    def validate(self):
        """Returns the list of problems (empty when the pipeline compiles), as SDK v1 did."""
        from .capture import capture

        try:
            capture(self, name=self.name or "pipeline")
        except BuildError as exc:
            for p in exc.problems:
                print(p)
            return [str(p) for p in exc.problems]
        return []

    def publish(self, name=None, description=None, version=None, continue_on_step_failure=None):
        build = session.current()
        if build is not None:
            note_continue_on_step_failure(self, continue_on_step_failure, "Pipeline.publish")
            build.register(self, name, published=bool(name))
            self._published.append({"name": name, "description": description, "version": version})
            if self.description is None and description:
                self.description = description
            return _Registered(self, name)
        from .runs import PublishedPipeline, client_for, rest_configured

        if checked_continue(continue_on_step_failure, "Pipeline.publish") is not None:
            followed_from_dag("Pipeline.publish")
        if rest_configured(self.workspace._config):
            return PublishedPipeline._publish(
                client_for(self.workspace), name or self.name, description, version
            )
        raise UserErrorException(
            "publishing needs a running Airflow: set [airflow] url in the config (or"
            " $AMLCOMPILE_AIRFLOW_URL), then `amlcompile build` and `amlcompile deploy`"
        )

    def submit(
        self,
        experiment_name,
        pipeline_parameters=None,
        continue_on_step_failure=False,
        regenerate_outputs=False,
        parent_run_id=None,
        credential_passthrough=None,
        **kwargs,
    ):
        ignored(
            "Pipeline.submit",
            parent_run_id=parent_run_id,
            credential_passthrough=credential_passthrough,
            **kwargs,
        )
        return submit_pipeline(
            self,
            experiment_name=experiment_name,
            pipeline_parameters=pipeline_parameters,
            regenerate_outputs=regenerate_outputs,
            continue_on_step_failure=continue_on_step_failure,
            api="Pipeline.submit",
        )

    def __repr__(self) -> str:
        return f"Pipeline(name={self.name!r})"


def checked_continue(value, api: str) -> bool | None:
    """continue_on_step_failure as an SDK call got it: None (the DAG's default) or a bool."""
    if value is None or isinstance(value, bool):
        return value
    where = caller_location()
    raise UserErrorException(
        f"{where[0]}:{where[1]}: {api}: continue_on_step_failure must be True or False,"
        f" not {value!r}"
    )


def note_continue_on_step_failure(pipeline, value, api: str) -> None:
    """During a build: the value becomes the DAG's default `continue_on_step_failure` (each
    run's conf can still choose). Every call for one pipeline must agree."""
    value = checked_continue(value, api)
    if value is None:
        return
    where = caller_location()
    previous = getattr(pipeline, "_continue_on_step_failure", None)
    if previous is not None and previous[0] != value:
        raise UserErrorException(
            f"{where[0]}:{where[1]}: {api}: continue_on_step_failure={value} disagrees with"
            f" continue_on_step_failure={previous[0]} at {previous[1][0]}:{previous[1][1]};"
            " the DAG has one default (a run can still override it)"
        )
    pipeline._continue_on_step_failure = (value, where)


class _Registered:
    """What submit/publish return during a build: registering is all they do."""

    def __init__(self, pipeline, name):
        self._pipeline = pipeline
        self.name = name
        self.id = name

    def wait_for_completion(self, show_output=True, timeout_seconds=None, raise_on_error=True):
        return "NotStarted"

    def get_status(self):
        return "NotStarted"

    def publish_pipeline(
        self, name, description=None, version=None, continue_on_step_failure=None, **kwargs
    ):
        return self._pipeline.publish(name, description, version, continue_on_step_failure)

    def __getattr__(self, item):
        # Anything else a script does with a run at build time is a harmless no-op.
        return lambda *a, **k: None


def submit_pipeline(
    pipeline,
    experiment_name=None,
    pipeline_parameters=None,
    regenerate_outputs=False,
    continue_on_step_failure=None,
    api="Experiment.submit",
):
    build = session.current()
    if build is not None:
        # Pipeline.submit's default (False) is the DAG's default too: only True says more.
        if api == "Pipeline.submit" and continue_on_step_failure is False:
            continue_on_step_failure = None
        note_continue_on_step_failure(pipeline, continue_on_step_failure, api)
        build.register(pipeline, None if pipeline.name else experiment_name)
        if not pipeline.name and experiment_name:
            pipeline._experiment_name = experiment_name
        return _Registered(pipeline, experiment_name)
    from .runs import client_for, rest_configured, submit

    continue_on_step_failure = checked_continue(continue_on_step_failure, api)
    if rest_configured(pipeline.workspace._config):
        # An Airflow endpoint is configured: start a run of the deployed DAG over REST.
        return submit(
            client_for(pipeline.workspace),
            pipeline.name or experiment_name,
            experiment_name,
            pipeline_parameters,
            regenerate_outputs,
            continue_on_step_failure=continue_on_step_failure,
        )
    # Outside a build: run it now in the embedded Airflow, as `amlcompile run` does.
    from ..local_run import run_pipeline_object

    return run_pipeline_object(
        pipeline,
        caller_location()[0],
        experiment_name,
        pipeline_parameters or {},
        regenerate_outputs,
        continue_on_step_failure,
    )
