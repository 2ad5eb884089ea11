"""SDK v1 run and publishing objects over a running Airflow's REST API.

Used outside a build when an Airflow endpoint is configured (`[airflow] url` in the project
config, or the AMLCOMPILE_AIRFLOW_URL environment variable); otherwise `Experiment.submit`
keeps running the pipeline in the embedded Airflow. The pipeline must be deployed already
(`amlcompile build`, then `amlcompile deploy`): the DAG id is the pipeline's name.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING

from ..dsl import session
from ..dsl.warnings import ignored
from ..exceptions import UserErrorException
from . import build_time

if TYPE_CHECKING:
    from ..rest.client import AirflowClient

URL_ENV = "AMLCOMPILE_AIRFLOW_URL"
ENDPOINT_VARIABLE = "amlcompile_endpoint__"  # + endpoint name: versions and default
# Airflow run and task states → the SDK v1 status strings scripts compare against.
_RUN_STATUS = {
    None: "NotStarted",
    "queued": "Queued",
    "running": "Running",
    "success": "Finished",
    "failed": "Failed",
}
_STEP_STATUS = {
    "success": "Finished",
    "skipped": "Finished",
    "failed": "Failed",
    "upstream_failed": "NotStarted",
    "running": "Running",
    "queued": "Queued",
    "scheduled": "Queued",
    "none": "NotStarted",
}


def _rest():
    """The REST client, imported when a run object talks to Airflow (a build that merely
    imports these names does not pay for urllib/http.client)."""
    from ..rest import client

    return client


def _is_client(obj) -> bool:
    rest = sys.modules.get(__package__.rpartition(".")[0] + ".rest.client")
    return rest is not None and isinstance(obj, rest.AirflowClient)


def _lifecycle():
    """The deployed-pipeline operations, imported when a run object is used (not by a build
    that merely imports these names)."""
    from ..rest import lifecycle

    return lifecycle


def rest_configured(config) -> bool:
    return bool(os.environ.get(URL_ENV)) or "url" in config.airflow.model_fields_set


def client_for(workspace) -> AirflowClient:
    return _rest().AirflowClient.from_config(workspace._config)


class StepRun:
    """One step of a PipelineRun (`get_steps()`)."""

    def __init__(self, status):
        self.name = status.task_id
        self.state = status.state
        self.duration = status.duration
        self.reused_from = status.reused_from
        self.metrics = status.metrics or {}

    def get_status(self) -> str:
        return _STEP_STATUS.get(self.state, self.state)

    def get_metrics(self) -> dict:
        return dict(self.metrics)

    def __repr__(self) -> str:
        return f"StepRun(name={self.name!r}, status={self.get_status()!r})"


class PipelineRun:
    """A run of a deployed pipeline in Airflow (DAG run)."""

    def __new__(cls, client=None, dag_id=None, run_id=None, experiment=None, **kwargs):
        build = session.current()
        if build is not None and not _is_client(client):
            # SDK form `PipelineRun(experiment, run_id)` in a build: nothing has run.
            return build_time.looked_up_run(build, client, dag_id)
        if not _is_client(client):
            raise UserErrorException(
                "PipelineRun(experiment, run_id): look runs up with `amlcompile status DAG RUN`"
                " or PublishedPipeline.submit(...) / Experiment.submit(...), which return them"
            )
        return super().__new__(cls)

    def __init__(self, client: AirflowClient, dag_id: str, run_id: str, experiment=None):
        self._client = client
        self.dag_id = dag_id
        self.id = run_id
        self.experiment_name = experiment

    def _state(self):
        return self._client.dag_run(self.dag_id, self.id).get("state")

    def get_status(self) -> str:
        state = self._state()
        return _RUN_STATUS.get(state, str(state))

    def get_steps(self) -> list[StepRun]:
        return [StepRun(s) for s in _lifecycle().steps(self._client, self.dag_id, self.id)]

    def wait_for_completion(self, show_output=True, timeout_seconds=None, raise_on_error=True):
        show = (lambda line: print(line, flush=True)) if show_output else (lambda line: None)
        run = _lifecycle().wait(
            self._client, self.dag_id, self.id, show=show, timeout=timeout_seconds
        )
        if show_output:
            for line in _lifecycle().run_report(self._client, self.dag_id, self.id):
                print(line)
            print(f"run {self.id} of {self.dag_id}: {run['state']}", file=sys.stdout)
        status = _RUN_STATUS.get(run["state"], run["state"])
        if raise_on_error and run["state"] != "success":
            reason = _lifecycle().planner_failure(self._client, self.dag_id, self.id)
            why = f" (the reuse planner failed: {reason})" if reason else ""
            raise _rest().RestError(
                f"pipeline run {self.id} of {self.dag_id} finished {run['state']}{why}"
            )
        return status

    def cancel(self) -> None:
        _lifecycle().cancel(self._client, self.dag_id, self.id)

    def publish_pipeline(self, name, description=None, version=None, **kwargs):
        if name != self.dag_id:
            raise UserErrorException(
                f"publish_pipeline(name={name!r}): this run is of DAG {self.dag_id!r}; a pipeline"
                " is published under the name it was built with"
            )
        return PublishedPipeline._publish(self._client, name, description, version)

    def __repr__(self) -> str:
        return f"PipelineRun(dag_id={self.dag_id!r}, id={self.id!r})"


def submit(
    client,
    dag_id,
    experiment_name,
    parameters,
    regenerate,
    run_id=None,
    continue_on_step_failure=None,
) -> PipelineRun:
    from ..dsl.dataset import trigger_value

    values = {name: trigger_value(value) for name, value in (parameters or {}).items()}
    run, _ = _lifecycle().trigger(
        client, dag_id, values, run_id, regenerate, continue_on_step_failure
    )
    return PipelineRun(client, dag_id, run["dag_run_id"], experiment_name)


class PublishedPipeline:
    """A deployed DAG, unpaused, with a version and description (`amlcompile publish`)."""

    def __init__(self, client, dag_id, version=None, description=None):
        self._client = client
        self._build_pipeline = None  # the Pipeline, when published during a build
        self.id = dag_id
        self.name = dag_id
        self.version = version
        self.description = description

    @property
    def endpoint(self) -> str:
        """Where to POST the SDK v1 body (`{"ExperimentName": ..., "ParameterAssignments":
        {...}}`) with an Airflow JWT to start a run: the route of amlcompile's Airflow plugin
        (amlcompile/airflow_plugin/amlcompile_plugin.py, served by Airflow's api-server)."""
        from ..airflow_plugin.amlcompile_plugin import submit_path

        return self._client.url + submit_path(self.id)

    @classmethod
    def _publish(cls, client, dag_id, description=None, version=None):
        record = _lifecycle().publish(client, dag_id, version, description)
        return cls(client, dag_id, record["version"], record["description"])

    @classmethod
    def get(cls, workspace, id, _workflow_provider=None, _service_endpoint=None):
        build = session.current()
        if build is not None:  # a build looks up only what the script published in it
            return build_time.published_in_build(build, id)
        client = client_for(workspace)
        record = _lifecycle().published(client, id)
        if record is None:
            client.dag(id)  # a clear "no DAG" first
            raise _rest().RestError(
                f"pipeline {id!r} is deployed but not published (amlcompile publish)"
            )
        return cls(client, id, record.get("version"), record.get("description"))

    @classmethod
    def list(cls, workspace, active_only=True, _service_endpoint=None):
        build = session.current()
        if build is not None:
            return list(build.client.get("published", {}).values())
        client = client_for(workspace)
        dags = client.paged("/api/v2/dags", "dags", tags="amlcompile")
        found = []
        for dag in dags:
            if active_only and dag.get("is_paused"):
                continue
            record = _lifecycle().published(client, dag["dag_id"])
            if record is not None:
                found.append(
                    cls(client, dag["dag_id"], record.get("version"), record.get("description"))
                )
        return found

    def enable(self) -> None:
        if session.current() is None:
            self._client.set_paused(self.id, False)

    def disable(self) -> None:
        if session.current() is None:
            self._client.set_paused(self.id, True)

    def submit(
        self,
        workspace,
        experiment_name,
        pipeline_parameters=None,
        _workflow_provider=None,
        _service_endpoint=None,
        parent_run_id=None,
        continue_on_step_failure=None,
        **kwargs,
    ):
        from ..dsl.pipeline import checked_continue

        ignored(
            "PublishedPipeline.submit",
            _workflow_provider=_workflow_provider,
            _service_endpoint=_service_endpoint,
            parent_run_id=parent_run_id,
        )
        build = session.current()
        if build is not None:
            return build_time.submitted(build, self._build_pipeline, experiment_name)
        return submit(
            client_for(workspace) if workspace is not None else self._client,
            self.id,
            experiment_name,
            pipeline_parameters,
            kwargs.get("regenerate_outputs", False),
            continue_on_step_failure=checked_continue(
                continue_on_step_failure, "PublishedPipeline.submit"
            ),
        )

    def __repr__(self) -> str:
        return f"PublishedPipeline(id={self.id!r}, version={self.version!r})"


class PipelineVersion:
    """One version of a PipelineEndpoint (the SDK's PipelineVersion and PipelineIdVersion)."""

    def __init__(self, endpoint, version: int, pipeline_id: str):
        self._endpoint = endpoint
        self.version = str(version)
        self.pipeline_id = pipeline_id

    @property
    def pipeline(self) -> PublishedPipeline:
        return self._endpoint.get_pipeline(self.version)

    def __repr__(self) -> str:
        return f"PipelineVersion(version={self.version!r}, pipeline_id={self.pipeline_id!r})"


class PipelineEndpoint:
    """A named entry point over several published pipelines, one of them the default.

    Kept in an Airflow Variable (`amlcompile_endpoint__<name>`): versions are "0", "1", ...
    in the order pipelines were added, as in SDK v1.
    """

    def __init__(self, client, name, description, versions, default_version, build_url=None):
        self._client = client
        self._build_url = build_url  # in a build: the Airflow URL the DAGs will have
        self.name = name
        self.id = name
        self.description = description
        self._versions = list(versions)
        self.default_version = default_version

    @staticmethod
    def publish(
        workspace, name, description, pipeline, _workflow_provider=None, _service_endpoint=None
    ):
        ignored(
            "PipelineEndpoint.publish",
            _workflow_provider=_workflow_provider,
            _service_endpoint=_service_endpoint,
        )
        cls = PipelineEndpoint
        dag_id = pipeline.id if isinstance(pipeline, PublishedPipeline) else pipeline.name
        build = session.current()
        if build is not None:
            endpoints = build.client.setdefault("pipeline_endpoints", {})
            if name in endpoints:
                raise _rest().RestError(
                    f"pipeline endpoint {name!r} already exists; use add_default"
                )
            if not isinstance(pipeline, PublishedPipeline):
                dag_id = build_time.endpoint_dag_id(build, pipeline, name)
            url = build_time._airflow_url(pipeline) if hasattr(pipeline, "workspace") else None
            if url is None and isinstance(getattr(pipeline, "_client", None), build_time._UrlOnly):
                url = pipeline._client.url
            endpoints[name] = cls(None, name, description, [dag_id], "0", url)
            return endpoints[name]
        client = client_for(workspace)
        client.dag(dag_id)
        try:
            cls.get(workspace, name=name)
        except _rest().RestError as exc:
            if exc.status != 404:
                raise
        else:
            raise _rest().RestError(f"pipeline endpoint {name!r} already exists; use add_default")
        endpoint = cls(client, name, description, [dag_id], "0")
        endpoint._save(create=True)
        return endpoint

    @classmethod
    def get(cls, workspace, id=None, name=None, **kwargs):
        build = session.current()
        if build is not None:
            found = build.client.get("pipeline_endpoints", {}).get(name or id)
            if found is None:
                raise _rest().RestError(f"no pipeline endpoint {name or id!r}", 404)
            return found
        client = client_for(workspace)
        key = ENDPOINT_VARIABLE + (name or id)
        try:
            var = client.get(f"/api/v2/variables/{key}")
        except _rest().RestError as exc:
            if exc.status == 404:
                raise _rest().RestError(f"no pipeline endpoint {name or id!r}", 404) from None
            raise
        data = json.loads(var["value"])
        return cls(client, data["name"], data.get("description"), data["versions"], data["default"])

    @staticmethod
    def list(workspace, active_only=True, _workflow_provider=None, _service_endpoint=None):
        build = session.current()
        if build is not None:
            return list(build.client.get("pipeline_endpoints", {}).values())
        raise UserErrorException(
            "PipelineEndpoint.list outside a build: list published DAGs with `amlcompile runs`"
            " or PublishedPipeline.list(ws)"
        )

    # ---- versions, as the SDK's PipelineVersion / PipelineIdVersion objects ----
    def _version_names(self) -> list[str]:
        return [str(i) for i in range(len(self._versions))]

    @property
    def pipeline_version_list(self) -> list[PipelineVersion]:
        return [PipelineVersion(self, v, dag_id) for v, dag_id in enumerate(self._versions)]

    def list_versions(self, _workflow_provider=None, _service_endpoint=None):
        """Every version: `.version` ("0", "1", ...), `.pipeline_id`, `.pipeline`."""
        return self.pipeline_version_list

    get_all_versions = list_versions

    def list_pipelines(self, active_only=True, _workflow_provider=None, _service_endpoint=None):
        return [v.pipeline for v in self.pipeline_version_list]

    get_all_pipelines = list_pipelines

    def get_default_version(self) -> str:
        return self.default_version

    @property
    def endpoint(self) -> str:
        """Where to POST the SDK v1 body to run the default version: its pipeline's endpoint
        (amlcompile's Airflow plugin route)."""
        return self.get_pipeline().endpoint

    @property
    def status(self) -> str:
        return getattr(self, "_status", "Active")

    def get_pipeline(self, version=None) -> PublishedPipeline:
        version = self.default_version if version is None else str(version)
        if version not in self._version_names():
            raise ValueError(
                f"pipeline endpoint {self.name!r} has no version {version!r}"
                f" (versions: {', '.join(self._version_names())})"
            )
        dag_id = self._versions[int(version)]
        build = session.current()
        if build is not None:
            found = build.client.get("published", {}).get(dag_id)
            if found is not None:
                return found
            # Added as a Pipeline, not published under that name: what its DAG will be.
            url = build_time._UrlOnly(self._build_url or "")
            # A POST to its endpoint from the script is answered in the build (build_time.py).
            return PublishedPipeline(url, dag_id)
        record = _lifecycle().published(self._client, dag_id) or {}
        return PublishedPipeline(
            self._client, dag_id, record.get("version"), record.get("description")
        )

    def _dag_id(self, pipeline, version: int, register: bool = True) -> str | None:
        """A published pipeline's id; a Pipeline's DAG id in this build (an unnamed one is
        published for the endpoint: `<endpoint>` for version 0, `<endpoint>_<n>` after)."""
        if isinstance(pipeline, PublishedPipeline):
            return pipeline.id
        build = session.current()
        if build is None:
            return pipeline.name
        fallback = self.name if version == 0 else f"{self.name}_{version}"
        return build_time.endpoint_dag_id(build, pipeline, fallback if register else None)

    def add(self, pipeline) -> None:
        dag_id = self._dag_id(pipeline, len(self._versions))
        if session.current() is None:
            self._client.dag(dag_id)
        self._versions.append(dag_id)
        self._save()

    def add_default(self, pipeline) -> None:
        self.add(pipeline)
        self.default_version = str(len(self._versions) - 1)
        self._save()

    def set_default_version(self, version) -> None:
        version = str(version)
        if version not in self._version_names():
            raise ValueError(
                f"Cannot set version {version}, does not exist in pipeline endpoint"
                f" {self.name!r} (versions: {', '.join(self._version_names())}); use add()"
                " or add_default() to add it"
            )
        self.default_version = version
        self._save()

    def set_default(self, pipeline) -> None:
        dag_id = self._dag_id(pipeline, len(self._versions), register=False)
        if dag_id not in self._versions:
            raise ValueError(
                f"pipeline {dag_id!r} is not in pipeline endpoint {self.name!r}; use add()"
                " or add_default() to add it"
            )
        self.set_default_version(str(len(self._versions) - 1 - self._versions[::-1].index(dag_id)))

    # ---- Azure's endpoint states: a DAG is paused and unpaused with `amlcompile
    # disable|enable`; an endpoint itself has no state in Airflow ----
    def _azure_state(self, method: str, status: str) -> None:
        from ..dsl.warnings import AzureOnlyAttributeWarning, warn_once

        warn_once(
            f"PipelineEndpoint.{method}() only has a meaning on Azure; the endpoint stays as it"
            " is (pause or unpause its pipelines' DAGs with `amlcompile disable|enable`)",
            AzureOnlyAttributeWarning,
        )
        self._status = status

    def archive(self) -> None:
        self._azure_state("archive", "Disabled")

    def reactivate(self, name=None):
        self._azure_state("reactivate", "Active")
        return self

    def disable(self) -> None:
        self._azure_state("disable", "Disabled")

    def enable(self) -> None:
        self._azure_state("enable", "Active")

    def set_name(self, name) -> None:
        """Renames the endpoint: later `PipelineEndpoint.get(ws, name=...)` finds it by the
        new name (in a build, in the session; over REST, its Airflow Variable moves)."""
        old, name = self.name, str(name)
        build = session.current()
        self.name = self.id = name
        if build is not None:
            endpoints = build.client.setdefault("pipeline_endpoints", {})
            endpoints.pop(old, None)
            endpoints[name] = self
            return
        self._save(create=True)
        self._client.request("DELETE", f"/api/v2/variables/{ENDPOINT_VARIABLE + old}")

    def __repr__(self) -> str:
        return (
            f"PipelineEndpoint(name={self.name!r}, default_version={self.default_version!r},"
            f" versions={len(self._versions)})"
        )

    def submit(self, experiment_name, pipeline_parameters=None, pipeline_version=None, **kw):
        published = self.get_pipeline(pipeline_version)
        build = session.current()
        if build is not None:
            return build_time.submitted(build, published._build_pipeline, experiment_name)
        return submit(self._client, published.id, experiment_name, pipeline_parameters, False)

    def _save(self, create=False) -> None:
        if session.current() is not None:
            return  # a build keeps its endpoints in the session
        key = ENDPOINT_VARIABLE + self.name
        value = {
            "name": self.name,
            "description": self.description,
            "versions": self._versions,
            "default": self.default_version,
        }
        text = f"amlcompile pipeline endpoint {self.name}: default version {self.default_version}"
        body = {"key": key, "value": json.dumps(value), "description": text}
        if create:
            self._client.request("POST", "/api/v2/variables", body)
        else:
            self._client.request("PATCH", f"/api/v2/variables/{key}", body)
