"""amlcompile's Airflow plugin: the Azure ML SDK v1 published-pipeline REST endpoint.

Copied into Airflow's plugins folder (`amlcompile deploy` with `[airflow] plugins_folder`, or
`amlcompile install-plugin`); it needs Airflow 3 and nothing of amlcompile. Airflow's
api-server serves it under /amlcompile (plugins are loaded when the api-server starts: restart
it after installing or updating this file). What it accepts is what the SDK v1 samples send:

    requests.post(published_pipeline.endpoint,
                  headers={"Authorization": "Bearer <Airflow JWT>"},
                  json={"ExperimentName": "My_Pipeline",
                        "ParameterAssignments": {"pipeline_arg": 20}})

`POST /amlcompile/v1.0/PipelineRuns/PipelineSubmit/<dag_id>` authenticates like Airflow's own
API (its JWT dependency and auth manager: the user needs permission to create runs of the DAG;
each call is in Airflow's audit log as `amlcompile_pipeline_submit`),
refuses a paused DAG and unknown parameters, types each value by the DAG's Param (`"20"` for an
integer parameter becomes 20), triggers the run through Airflow's own trigger route and answers
`{"Id": <run id>, "Status": {"StatusCode": ...}, "StatusUrl": ..., "RunUrl": ...}`. Errors are
answered as Azure ML did: `{"error": {"code": "UserError", "message": ...}}` with a 4xx.

`GET /amlcompile/v1.0/executor` answers `{"executor": <[core] executor>}` to any signed-in user:
`amlcompile deploy` checks it (local datastores on a distributed executor).

A listener, in the scheduler, notes each step the reuse planner skipped when its run ends
("Reused from run ...: not run, because its fingerprint ... matches"), as `amlcompile run`
does: Airflow shows those steps as skipped, and a task cannot write notes itself.

The functions above the Airflow section are plain Python; the amlcompile CLI uses them too.
"""

import json
import sys

URL_PREFIX = "/amlcompile"
SUBMIT_PATH = "/v1.0/PipelineRuns/PipelineSubmit/{dag_id}"
# `amlcompile deploy` asks which executor runs the tasks (local datastores need one machine,
# or a shared filesystem): Airflow's own /api/v2/config is off by default ([api] expose_config).
EXECUTOR_PATH = "/v1.0/executor"
AUDIT_EVENT = "amlcompile_pipeline_submit"  # the event of each call in Airflow's audit log
# Conf keys that are run options of every amlcompile DAG, not pipeline parameters.
RUN_OPTIONS = ("regenerate_outputs", "continue_on_step_failure")
BODY_KEYS = (
    "ContinueRunOnStepFailure",
    "DataPathAssignments",
    "DataSetDefinitionValueAssignments",
    "Description",
    "ExperimentName",
    "ParameterAssignments",
    "RunSource",
)
# The reuse planner's task and the XCom key of its plan (amlcompile/runtime/reuse.py; a test
# checks they agree): the listener below notes each step the plan reused.
PLAN_TASK_ID = "amlcompile_reuse_plan"
PLAN_XCOM_KEY = "amlcompile_plan"
NOTE_MAX = 1000  # Airflow's task_instance_note.content
# Airflow run states -> the SDK v1 status strings.
RUN_STATUS = {
    None: "NotStarted",
    "queued": "Queued",
    "running": "Running",
    "success": "Finished",
    "failed": "Failed",
}


class BodyError(ValueError):
    """The request body cannot be mapped to a run; the message is one line for the user."""


def submit_path(dag_id: str) -> str:
    from urllib.parse import quote

    return URL_PREFIX + SUBMIT_PATH.format(dag_id=quote(str(dag_id), safe=""))


def _kind(schema) -> str | None:
    kind = (schema or {}).get("type")
    if isinstance(kind, list):  # ["integer", "null"]: the first real type
        kind = next((k for k in kind if k != "null"), None)
    return kind


def typed(value, schema):
    """A parameter value typed by its Param's JSON schema, best effort: numbers and booleans
    given as text become JSON numbers and booleans; anything else is passed on as given, so
    Airflow's own validation refuses it with its reason."""
    if not isinstance(value, str):
        return value
    kind = _kind(schema)
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean" and value.lower() in ("true", "false"):
            return value.lower() == "true"
    except ValueError:
        pass
    return value


def unknown_parameter_message(name: str, dag_id, params) -> str:
    known = ", ".join(sorted(k for k in params if k not in RUN_OPTIONS)) or "none"
    return f"pipeline {dag_id!r} has no parameter {name!r} (parameters: {known})"


def conf_from_azure_body(body, params=None, dag_id=None, where="the request body"):
    """An Azure ML published-pipeline REST body -> (conf, experiment name, description).

    `params` maps the DAG's Param names to their JSON schemas; when given, unknown names are
    refused and values typed. Raises BodyError with one line.
    """
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BodyError(f"{where}: expected a JSON object")
    unknown = sorted(set(body) - set(BODY_KEYS))
    if unknown:
        raise BodyError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(BODY_KEYS)})")
    assignments, paths, datasets = (
        {} if body.get(key) is None else body[key]
        for key in (
            "ParameterAssignments",
            "DataPathAssignments",
            "DataSetDefinitionValueAssignments",
        )
    )
    for key, value in (
        ("ParameterAssignments", assignments),
        ("DataPathAssignments", paths),
        ("DataSetDefinitionValueAssignments", datasets),
    ):
        if not isinstance(value, dict):
            raise BodyError(f"{where}: {key} must be a JSON object of name: value")
    conf = {}
    for name, value in assignments.items():
        conf[name] = value
    for name, ref in paths.items():
        if not isinstance(ref, dict) or "RelativePath" not in ref:
            raise BodyError(
                f"{where}: DataPathAssignments.{name}: expected"
                ' {"DataStoreName": ..., "RelativePath": ...}'
            )
        conf[name] = ref["RelativePath"]
    for name, value in datasets.items():
        conf[name] = _dataset_value(value, f"{where}: DataSetDefinitionValueAssignments.{name}")
    if params is not None:
        for name in conf:
            if name not in params and name not in RUN_OPTIONS:
                raise BodyError(f"{where}: {unknown_parameter_message(name, dag_id, params)}")
        conf = {name: typed(value, params.get(name)) for name, value in conf.items()}
    if "ContinueRunOnStepFailure" in body:
        flag = body["ContinueRunOnStepFailure"]
        if not isinstance(flag, bool):
            raise BodyError(f"{where}: ContinueRunOnStepFailure must be true or false")
        conf["continue_on_step_failure"] = flag
    for key in ("ExperimentName", "Description"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise BodyError(f"{where}: {key} must be a string")
    return conf, body.get("ExperimentName"), body.get("Description")


def _dataset_value(value, where: str) -> str:
    """A dataset parameter's value: its URL(s) as text, or a DataPath on a datastore. A saved
    dataset's id names Azure ML's dataset registry, which Airflow does not have."""
    if isinstance(value, str):
        return value
    path = value.get("DataPath") if isinstance(value, dict) else None
    if isinstance(path, dict) and isinstance(path.get("RelativePath"), str):
        return path["RelativePath"]
    if isinstance(value, dict) and "SavedDataSetReference" in value:
        raise BodyError(
            f"{where}: a SavedDataSetReference names a dataset registered in Azure ML, which"
            " Airflow has no registry of; give the dataset's http(s) URL(s) as a string, or"
            ' {"DataPath": {"DataStoreName": ..., "RelativePath": ...}}'
        )
    raise BodyError(
        f'{where}: expected URL text or {{"DataPath": {{"DataStoreName": ...,'
        ' "RelativePath": ...}}'
    )


def error_body(status: int, message: str) -> dict:
    """Azure ML's error shape; `innerError.code` says which kind of refusal it was."""
    inner = {
        400: "BadArgument",
        401: "AuthenticationFailed",
        403: "AuthorizationFailed",
        404: "NotFound",
        409: "Conflict",
    }.get(status, "BadRequest" if status < 500 else "InternalError")
    code = "UserError" if status < 500 else "SystemError"
    return {"error": {"code": code, "message": message, "innerError": {"code": inner}}}


def _detail_text(detail) -> str:
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("reason") or detail)
    if isinstance(detail, list):  # FastAPI's validation errors
        parts = []
        for err in detail:
            loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
        return "; ".join(parts)
    return str(detail)


def reuse_note(fingerprint, origin) -> str:
    """Why a step was not run: the note on its task instance (`amlcompile run` and
    `amlcompile status` say the same words)."""
    run = str((origin or {}).get("run_id") or "an earlier run")
    fp = str(fingerprint or "")[:12]
    return (
        f"Reused from run {run}: not run, because its fingerprint {fp} (code, arguments,"
        " parameters, environment and input data) matches that run's completed result."
    )


def reused_notes(plan) -> dict:
    """task id → note of each step the reuse plan (the planner's XCom) reused."""
    if isinstance(plan, (str, bytes)):
        try:
            plan = json.loads(plan)
        except ValueError:
            return {}
    if not isinstance(plan, dict):
        return {}
    return {
        task_id: reuse_note(entry.get("fingerprint"), entry.get("reused_from"))[:NOTE_MAX]
        for task_id, entry in plan.items()
        if isinstance(entry, dict) and entry.get("reuse")
    }


def note_reused_steps(dag_run) -> int:
    """Put the reuse note on each task instance of `dag_run` the planner skipped (a note
    someone wrote is kept). Runs in the scheduler, in its session, when the run ends: a task
    cannot write notes through Airflow 3's execution API."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    session = object_session(dag_run)
    if session is None:
        return 0
    plan = session.scalars(
        select(XComModel.value).where(
            XComModel.dag_id == dag_run.dag_id,
            XComModel.run_id == dag_run.run_id,
            XComModel.task_id == PLAN_TASK_ID,
            XComModel.key == PLAN_XCOM_KEY,
        )
    ).first()
    notes = reused_notes(plan)
    if not notes:
        return 0
    noted = 0
    # In the scheduler's own transaction (it commits; a savepoint would count as a commit
    # there, which the scheduler refuses): notes are added beside its state changes.
    tis = session.scalars(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_run.dag_id,
            TaskInstance.run_id == dag_run.run_id,
            TaskInstance.task_id.in_(sorted(notes)),
            TaskInstance.state == "skipped",
        )
    ).all()
    for ti in tis:
        if ti.task_instance_note is None:
            ti.note = notes[ti.task_id]
            noted += 1
        elif not ti.task_instance_note.content:
            ti.task_instance_note.content = notes[ti.task_id]
            noted += 1
    return noted


def make_app():
    """The FastAPI app Airflow's api-server mounts under URL_PREFIX (needs Airflow 3)."""
    from typing import Annotated, Any

    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.common.db.common import SessionDep
    from airflow.api_fastapi.core_api.datamodels.dag_run import TriggerDAGRunPostBody
    from airflow.api_fastapi.core_api.routes.public.dag_run import trigger_dag_run
    from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
    from airflow.api_fastapi.logging.decorators import action_logging
    from airflow.configuration import conf as airflow_conf
    from airflow.models.dag import DagModel
    from airflow.models.dagbag import DBDagBag
    from fastapi import Body, Depends, FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from sqlalchemy import select
    from starlette.exceptions import HTTPException as StarletteHTTPException

    app = FastAPI(
        title="amlcompile published pipelines",
        description="The Azure ML SDK v1 published-pipeline endpoint over Airflow",
    )

    @app.exception_handler(StarletteHTTPException)  # Airflow's refusals and routing's 404/405
    async def _http_error(request, exc):
        text = _detail_text(exc.detail)
        return JSONResponse(error_body(exc.status_code, text), exc.status_code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc):
        text = f"the request body is not valid: {_detail_text(exc.errors())}"
        return JSONResponse(error_body(400, text), 400)

    def refuse(status: int, message: str):
        raise HTTPException(status, message)

    @app.get(EXECUTOR_PATH)
    def executor(user: GetUserDep):
        """[core] executor as this api-server is configured (every component of one Airflow
        shares that setting), for any signed-in user: no other configuration is shown."""
        return {"executor": airflow_conf.get("core", "executor", fallback="") or ""}

    @app.post(
        SUBMIT_PATH,
        dependencies=[
            Depends(requires_access_dag(method="POST", access_entity=DagAccessEntity.RUN)),
            Depends(action_logging(AUDIT_EVENT)),
        ],
    )
    def pipeline_submit(
        dag_id: str,
        request: Request,
        user: GetUserDep,
        session: SessionDep,
        payload: Annotated[Any, Body()] = None,
    ):
        dm = session.scalar(select(DagModel).where(DagModel.dag_id == dag_id).limit(1))
        if dm is None or dm.is_stale:
            refuse(404, f"no published pipeline {dag_id!r} (deploy and publish it first)")
        if dm.is_paused:
            refuse(
                409,
                f"pipeline {dag_id!r} is disabled (its DAG is paused in Airflow);"
                f" enable it first (amlcompile enable {dag_id}, or unpause it in Airflow)",
            )
        dag_bag = DBDagBag()
        dag = dag_bag.get_latest_version_of_dag(dag_id, session=session)
        if dag is None:
            refuse(404, f"no published pipeline {dag_id!r} (Airflow has not parsed it)")
        params = {name: dict(param.schema) for name, param in dag.params.items()}
        try:
            conf, experiment, description = conf_from_azure_body(payload, params, dag_id)
        except BodyError as exc:
            refuse(400, str(exc))
        notes = [description] if description else []
        if experiment:
            notes.append(f"experiment: {experiment}")
        body = TriggerDAGRunPostBody(logical_date=None, conf=conf, note="\n".join(notes) or None)
        run = trigger_dag_run(
            dag_id=dag_id, body=body, dag_bag=dag_bag, user=user, session=session,
            request=request,
        )  # fmt: skip
        base = (airflow_conf.get("api", "base_url", fallback="") or "").rstrip("/")
        if not base:
            base = f"{request.url.scheme}://{request.url.netloc}"
        from urllib.parse import quote

        ids = f"{quote(dag_id, safe='')}/dagRuns/{quote(run.run_id, safe='')}"
        return {
            "Id": run.run_id,
            "PipelineId": dag_id,
            "ExperimentName": experiment or dag_id,
            "Description": description,
            "Status": {
                "StatusCode": RUN_STATUS.get(getattr(run.state, "value", run.state), "Queued"),
                "CreationTime": run.run_after.isoformat() if run.run_after else None,
            },
            "ParameterAssignments": conf,
            "StatusUrl": f"{base}/api/v2/dags/{ids}",
            "RunUrl": f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run.run_id, safe='')}",
        }

    return app


class _LazyApp:
    """Built at the first request: only the api-server pays for importing FastAPI's routes,
    not every Airflow process that loads plugins."""

    def __init__(self):
        self._app = None

    async def __call__(self, scope, receive, send):
        if self._app is None:
            self._app = make_app()
        await self._app(scope, receive, send)


# The plugin class exists only inside an Airflow process (which has imported airflow before
# loading plugins): the amlcompile CLI imports this file for the functions above, and must
# not pay seconds for importing Airflow.
if "airflow" in sys.modules:
    from airflow.listeners import hookimpl
    from airflow.plugins_manager import AirflowPlugin

    class ReuseNotes:
        """Listener (in the scheduler): when a run ends, each step the reuse planner skipped
        gets a note saying it was reused and from which run, as `amlcompile run` notes it."""

        @hookimpl
        def on_dag_run_success(self, dag_run, msg):
            note_reused_steps(dag_run)

        @hookimpl
        def on_dag_run_failed(self, dag_run, msg):
            note_reused_steps(dag_run)

    class AmlcompilePlugin(AirflowPlugin):
        name = "amlcompile"
        listeners = [ReuseNotes()]
        fastapi_apps = [
            {
                "app": _LazyApp(),
                "url_prefix": URL_PREFIX,
                "name": "amlcompile published pipelines (Azure ML SDK v1 REST endpoint)",
            }
        ]
