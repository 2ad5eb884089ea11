"""`Pipeline` and what a script does with it: validate, submit, publish."""

from __future__ import annotations

from ..exceptions import BuildError, UserErrorException
from ..text import parameter_names, unexpected_arguments
from . import session
from .location import caller_location
from .warnings import ignored


def tag_dict(tags) -> dict:
    """Tags as given: a dict ({"team": "ml"} → "team:ml") or a list of plain tags."""
    if isinstance(tags, (list, tuple, set, frozenset)):
        return {str(t): None for t in tags}
    return dict(tags or {})


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
        self.tags = tag_dict(kwargs.pop("tags", None))
        self.parameters_from_function = kwargs.pop("_parameters", None)
        if kwargs:
            raise TypeError(
                unexpected_arguments(
                    "Pipeline", kwargs, [*parameter_names(Pipeline), "name", "tags"]
                )
            )
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
        # As the SDK: the graph is the one at construction; a later run_after is not in it.
        self._sequence = session.next_sequence()

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
        return session.actions().publish(self, name, description, version, continue_on_step_failure)

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
        return session.actions().submit(
            self,
            experiment_name=experiment_name,
            pipeline_parameters=pipeline_parameters,
            regenerate_outputs=regenerate_outputs,
            continue_on_step_failure=continue_on_step_failure,
            api="Pipeline.submit",
        )

    def _set_experiment_name(self, name):
        """A private SDK method MLOps templates call before publishing: the experiment name
        is the DAG id when nothing stronger names the pipeline (README: the DAG id)."""
        if name:
            self._experiment_name = str(name)

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
