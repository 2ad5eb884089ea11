"""What `Pipeline.publish`, `Pipeline.submit` and `Experiment.submit` do.

During a build they register the pipeline and return objects that answer like the SDK's
(`build_time.py`), talking to nothing. Outside a build, `submit` starts a run of the
deployed DAG over REST when an Airflow is configured, else runs the pipeline in the embedded
Airflow; `publish` publishes the deployed DAG.
"""

from __future__ import annotations

from ..dsl import session
from ..dsl.location import caller_location
from ..dsl.pipeline import checked_continue, note_continue_on_step_failure
from ..dsl.warnings import followed_from_dag
from ..exceptions import UserErrorException
from . import build_time
from .dag_ids import deployed_dag_id


def publish(pipeline, name=None, description=None, version=None, continue_on_step_failure=None):
    build = session.current()
    if build is not None:
        note_continue_on_step_failure(pipeline, continue_on_step_failure, "Pipeline.publish")
        build.register(pipeline, name, published=bool(name))
        pipeline._published.append({"name": name, "description": description, "version": version})
        if pipeline.description is None and description:
            pipeline.description = description
        return build_time.published(build, pipeline, name, description, version)
    from .runs import PublishedPipeline, client_for, rest_configured

    if checked_continue(continue_on_step_failure, "Pipeline.publish") is not None:
        followed_from_dag("Pipeline.publish")
    if rest_configured(pipeline.workspace._config):
        return PublishedPipeline._publish(
            client_for(pipeline.workspace),
            deployed_dag_id(pipeline, name),
            description,
            version,
        )
    raise UserErrorException(
        "publishing needs a running Airflow: set [airflow] url in the config (or"
        " $AMLCOMPILE_AIRFLOW_URL), then `amlcompile build` and `amlcompile deploy`"
    )


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
        return build_time.submitted(build, pipeline, experiment_name)
    from .runs import client_for, rest_configured, submit

    continue_on_step_failure = checked_continue(continue_on_step_failure, api)
    if rest_configured(pipeline.workspace._config):
        # An Airflow endpoint is configured: start a run of the deployed DAG over REST, under
        # the DAG id the build gave this pipeline (whatever name reached it first here).
        return submit(
            client_for(pipeline.workspace),
            deployed_dag_id(pipeline, experiment_name),
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


class _Actions:
    publish = staticmethod(publish)
    submit = staticmethod(submit_pipeline)
    during_build = staticmethod(build_time.intercepted_requests)

    @staticmethod
    def experiment(workspace, name):
        from .experiment import Experiment

        return Experiment(workspace, name)


session.install_actions(_Actions())
