"""What the SDK v1 client calls return during a build: objects that answer like the SDK's.

A build only registers; nothing here talks to Airflow. A run submitted in a build has not
started (`NotStarted`), lists the pipeline's steps, and waits for nothing; a pipeline
published in a build has its DAG id, version and the endpoint it will have once deployed.
A POST to such an endpoint from the script (the seed's `requests.post(...)`) is answered
in the build and starts nothing (see `intercepted_requests`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from ..dsl.location import caller_location
from ..dsl.warnings import warn_once

NOT_STARTED = "NotStarted"


class _UrlOnly:
    """The part of a REST client a build-time PublishedPipeline needs: its base URL."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")


def _airflow_url(pipeline) -> str:
    import os

    cfg = pipeline.workspace._config
    return os.environ.get("AMLCOMPILE_AIRFLOW_URL") or cfg.airflow.url


def _steps(pipeline) -> list:
    from ..dsl.steps import PipelineStep

    names: list = []

    def walk(obj):
        if isinstance(obj, PipelineStep):
            names.append(obj)
        elif isinstance(obj, (list, tuple)):
            for o in obj:
                walk(o)
        elif hasattr(obj, "steps"):
            walk(obj.steps)

    if pipeline is not None:
        walk(pipeline.steps)
    return names


class BuildStepRun:
    """A step of a run submitted during a build."""

    def __init__(self, step, run):
        self._step = step
        # Unnamed steps are named after their script, as the build names their tasks.
        script = getattr(step, "script_name", None) or ""
        name = step.name or Path(str(script)).stem or type(step).__name__
        self.name = name
        self.id = f"{run.id}_{name}"
        self.parent = run
        self.status = NOT_STARTED

    def get_status(self) -> str:
        return NOT_STARTED

    def get_metrics(self, *args, **kwargs) -> dict:
        return {}

    def get_details(self) -> dict:
        return {"runId": self.id, "status": NOT_STARTED}

    def get_job_log(self) -> str:
        return ""

    def get_outputs(self) -> dict:
        out = {}
        for port in getattr(self._step, "outputs", None) or []:
            name = getattr(port, "_output_name", None) or getattr(port, "name", None)
            store = getattr(getattr(port, "datastore", None), "name", None) or ""
            out[str(name)] = BuildStepOutput(str(name), store, self)
        return out

    def get_output(self, name):
        return self.get_outputs().get(name)

    def get_output_data(self, name):
        return BuildPortData(name)

    def get_port_data_reference(self, name):
        return BuildPortData(name)

    def wait_for_completion(self, show_output=True, timeout_seconds=None, raise_on_error=True):
        return NOT_STARTED

    def __repr__(self) -> str:
        return f"StepRun(name={self.name!r}, status='NotStarted', build-time)"


class BuildStepOutput:
    """`step_run.get_outputs()[name]` in a build."""

    def __init__(self, name: str, datastore_name: str, step_run):
        self.name = name
        self._data = BuildPortData(name, datastore_name, step_run)

    def get_port_data_reference(self):
        return self._data


class BuildPortData:
    """A step output's data in a build: where it will be; nothing to download yet."""

    def __init__(self, name: str, datastore_name: str = "", step_run=None):
        self.name = name
        self.datastore_name = datastore_name
        # Where a run writes it (reuse decides the folder at run time: azureml/fp/...).
        self.path_on_datastore = f"azureml/<run>/{name}"

    def download(self, local_path, overwrite=False, show_progress=True):
        Path(local_path).mkdir(parents=True, exist_ok=True)
        return str(local_path)


class BuildPipelineRun:
    """`submit(...)` during a build: registered, not started."""

    def __init__(self, pipeline, experiment_name: str | None, number: int):
        self._pipeline = pipeline
        self.experiment_name = experiment_name
        self.id = f"{experiment_name or 'pipeline'}_build_{number}"
        self.status = NOT_STARTED
        self._steps = [BuildStepRun(s, self) for s in _steps(pipeline)]

    def get_status(self) -> str:
        return NOT_STARTED

    def wait_for_completion(self, show_output=True, timeout_seconds=None, raise_on_error=True):
        if show_output:
            print(f"(amlcompile build: run {self.id} was registered, not started)")
        return NOT_STARTED

    def get_steps(self) -> list[BuildStepRun]:
        return list(self._steps)

    get_children = get_steps

    def find_step_run(self, name) -> list[BuildStepRun]:
        return [s for s in self._steps if s.name == name]

    def get_pipeline_output(self, pipeline_output_name):
        return BuildPortData(pipeline_output_name)

    def get_metrics(self, *args, **kwargs) -> dict:
        return {}

    def get_details(self) -> dict:
        return {"runId": self.id, "status": NOT_STARTED}

    def get_tags(self) -> dict:
        return {}

    def tag(self, key, value=None) -> None:
        return None

    def cancel(self) -> None:
        return None

    def get_portal_url(self) -> str:
        return ""

    def publish_pipeline(
        self, name, description=None, version=None, continue_on_step_failure=None, **kwargs
    ):
        return self._pipeline.publish(name, description, version, continue_on_step_failure)

    def __repr__(self) -> str:
        return f"PipelineRun(id={self.id!r}, status='NotStarted', registered by a build)"


def submitted(build, pipeline, experiment_name):
    runs = build.client.setdefault("runs", [])
    run = BuildPipelineRun(pipeline, experiment_name, len(runs) + 1)
    runs.append(run)
    return run


def looked_up_run(build, experiment, run_id):
    """`PipelineRun(experiment, run_id)` in a build: a run nothing started."""
    run = BuildPipelineRun(None, getattr(experiment, "name", None), 0)
    run.id = str(run_id)
    return run


def published(build, pipeline, name, description, version):
    from .runs import PublishedPipeline

    dag_id = name or pipeline.name
    pp = PublishedPipeline(_UrlOnly(_airflow_url(pipeline)), dag_id, version, description)
    pp._build_pipeline = pipeline
    build.client.setdefault("published", {})[dag_id] = pp
    return pp


def endpoint_dag_id(build, pipeline, endpoint_name: str | None) -> str | None:
    """The DAG id a PipelineEndpoint's pipeline has in this build: the name it was published
    (or submitted) under, else the endpoint's name, as Azure publishes it for the endpoint."""
    for registered, name in build.registered:
        if registered is pipeline and name:
            return name
    if pipeline.name or endpoint_name is None:  # None: look up only, register nothing
        return pipeline.name
    build.register(pipeline, endpoint_name, published=True)
    return endpoint_name


def published_in_build(build, id) -> object:
    found = build.client.get("published", {}).get(id)
    if found is None:
        from ..exceptions import UserErrorException

        known = ", ".join(sorted(build.client.get("published", {}))) or "none"
        raise UserErrorException(
            f"PublishedPipeline.get: no pipeline {id!r} was published by this script during"
            f" the build (published: {known}); a build does not look up deployed pipelines"
        )
    return found


class _Response:
    """What `requests.post(<endpoint>, ...)` gets during a build."""

    status_code = 200
    ok = True
    reason = "OK"

    def __init__(self, url: str):
        self.url = url
        self._body = {"Id": "not-started-in-a-build", "Status": NOT_STARTED}
        self.text = json.dumps(self._body)
        self.content = self.text.encode()
        self.headers = {"Content-Type": "application/json"}

    def json(self, **kwargs):
        return dict(self._body)

    def raise_for_status(self) -> None:
        return None


@contextlib.contextmanager
def intercepted_requests(build, script_uses_requests: bool):
    """During a build, `requests` calls to a published pipeline's endpoint (the plugin's
    submit route, whatever pipeline or query) are answered here, one warning each; every
    other request goes out as the script wrote it."""
    from ..airflow_plugin.amlcompile_plugin import submit_path

    route = submit_path("")  # .../PipelineSubmit/ — every pipeline's endpoint starts so
    requests = sys.modules.get("requests")
    if requests is None and script_uses_requests:
        try:
            import requests  # noqa: F811
        except ImportError:
            requests = None
    if requests is None:
        yield
        return
    original = requests.sessions.Session.request

    def request(self, method, url, *args, **kwargs):
        if route in str(url):
            where = caller_location()
            warn_once(
                f"{where[0]}:{where[1]}: {method} {url}: a build starts no run (the pipeline"
                " is not deployed yet); the script gets a NotStarted answer"
            )
            return _Response(str(url))
        return original(self, method, url, *args, **kwargs)

    requests.sessions.Session.request = request
    try:
        yield
    finally:
        requests.sessions.Session.request = original
