"""`Experiment(ws, name).submit(pipeline)`: registers during a build, runs outside one."""

from __future__ import annotations

from ..dsl.pipeline import Pipeline
from ..dsl.warnings import ignored
from ..exceptions import UserErrorException
from .actions import submit_pipeline


class Experiment:
    def __init__(
        self,
        workspace,
        name,
        _skip_name_validation=False,
        _id=None,
        _archived_time=None,
        _create_in_cloud=True,
        _experiment_dto=None,
        **kwargs,
    ):
        self.workspace = workspace
        self.name = name
        experiments = getattr(workspace, "experiments", None)
        if isinstance(experiments, dict):
            experiments.setdefault(name, self)

    def submit(self, config, tags=None, **kwargs):
        from .runs import PipelineEndpoint, PublishedPipeline

        if isinstance(config, PublishedPipeline):  # as the SDK: run the published pipeline
            ignored("Experiment.submit", tags=tags)
            return config.submit(self.workspace, self.name, **kwargs)
        if isinstance(config, PipelineEndpoint):
            ignored("Experiment.submit", tags=tags)
            return config.submit(self.name, **kwargs)
        if not isinstance(config, Pipeline):
            raise UserErrorException(
                "Experiment.submit takes a Pipeline, a PublishedPipeline or a PipelineEndpoint;"
                f" got {type(config).__name__}"
            )
        ignored("Experiment.submit", tags=tags)
        # The pipeline's submit arguments come through here; the rest warn as they would there.
        honoured = {
            k: kwargs.pop(k) for k in ("pipeline_parameters", "regenerate_outputs") if k in kwargs
        }
        honoured["continue_on_step_failure"] = kwargs.pop("continue_on_step_failure", None)
        ignored("Experiment.submit", **kwargs)
        return submit_pipeline(config, experiment_name=self.name, **honoured)
