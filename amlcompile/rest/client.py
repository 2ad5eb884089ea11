"""A small Airflow REST API v2 client: JWT auth, one clear line per failure.

Standard library only (urllib), so the compiler keeps its two dependencies. Credentials come
from environment variables named in the project config (`[airflow]`); they are never printed,
logged or written anywhere.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from ..exceptions import AmlCompileError

TIMEOUT_SECONDS = 30.0
# Seconds before each repeat of a request a busy Airflow answered 5xx (GETs, and a trigger,
# which its client-chosen run id makes safe to repeat).
REPEAT_PAUSES = (1.0, 3.0)
PAGE_SIZE = 100  # Airflow's [api] maximum_page_limit default: larger limits are cut to it


class RestError(AmlCompileError):
    """A REST call failed; the message is one line for the user. `status` is the HTTP code."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Credentials:
    """Where the JWT comes from: a given token, or username/password for `POST /auth/token`."""

    token: str | None = None
    username: str | None = None
    password: str | None = None
    source: str = "environment"  # named in messages (never the values)

    def __repr__(self) -> str:  # keep secrets out of tracebacks and logs
        return f"Credentials(source={self.source!r}, user={self.username!r})"

    @classmethod
    def from_config(cls, airflow_cfg, environ=None) -> Credentials:
        env = os.environ if environ is None else environ
        return cls(
            token=env.get(airflow_cfg.token_env) or None,
            username=env.get(airflow_cfg.username_env) or None,
            password=env.get(airflow_cfg.password_env) or None,
            source=(
                f"${airflow_cfg.token_env} or ${airflow_cfg.username_env}"
                f"/${airflow_cfg.password_env}"
            ),
        )


class AirflowClient:
    """One Airflow deployment. Methods return parsed JSON and raise RestError on failure."""

    def __init__(self, url: str, credentials: Credentials, timeout: float = TIMEOUT_SECONDS):
        self.url = url.rstrip("/")
        self._credentials = credentials
        self._token = credentials.token
        self._token_given = bool(credentials.token)  # not (yet) one of our own logins
        self.timeout = timeout

    @classmethod
    def from_config(cls, cfg, environ=None) -> AirflowClient:
        env = os.environ if environ is None else environ
        url = env.get("AMLCOMPILE_AIRFLOW_URL") or cfg.airflow.url
        return cls(url, Credentials.from_config(cfg.airflow, env))

    # -- auth ---------------------------------------------------------------------------------
    def _login(self) -> str:
        c = self._credentials
        if not (c.username and c.password):
            raise RestError(
                f"Airflow at {self.url}: no credentials; set {c.source}"
                " (the [airflow] section of the config names the variables)"
            )
        body = {"username": c.username, "password": c.password}
        status, data = self._send("POST", "/auth/token", body, auth=False)
        if status in (200, 201) and isinstance(data, dict) and data.get("access_token"):
            return data["access_token"]
        if status in (401, 403):
            raise RestError(
                f"Airflow at {self.url} refused the login of user {c.username!r}:"
                f" wrong username or password (from {c.source})",
                status,
            )
        raise RestError(self._describe("POST", "/auth/token", status, data), status)

    def _ensure_token(self) -> str:
        if not self._token:
            self._token = self._login()
            self._token_given = False
        return self._token

    def authentication_header(self) -> dict:
        """`{"Authorization": "Bearer <jwt>"}` for a caller's own requests (SDK v1's
        `auth.get_authentication_header()`)."""
        return {"Authorization": f"Bearer {self._ensure_token()}"}

    # -- requests -----------------------------------------------------------------------------
    def request(self, method: str, path: str, body=None, params=None, accept_json=True):
        if params:
            path = f"{path}?{urllib.parse.urlencode(params, doseq=True)}"
        self._ensure_token()
        status, data = self._send(method, path, body, accept_json=accept_json)
        # A busy Airflow answers 5xx now and then (SQLite's "database is locked" surfaces as
        # "Database error"): a request that is safe to repeat is tried twice more.
        for pause in REPEAT_PAUSES:
            if status < 500 or method == "POST":
                break
            time.sleep(pause)
            status, data = self._send(method, path, body, accept_json=accept_json)
        refused = status == 401 or (status == 403 and self._token_given)
        if refused and (self._credentials.username and self._credentials.password):
            # The token expired, or the given one ($AIRFLOW_TOKEN) is refused (401, or 403 for
            # a token Airflow cannot verify): log in once with the password, retry once.
            self._token = self._login()
            self._token_given = False
            status, data = self._send(method, path, body, accept_json=accept_json)
        if 200 <= status < 300:
            return data
        raise RestError(self._describe(method, path, status, data), status)

    def _send(self, method, path, body, auth=True, accept_json=True):
        headers = {"Accept": "application/json" if accept_json else "text/plain"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, _decode(resp.read(), accept_json)
        except urllib.error.HTTPError as exc:
            return exc.code, _decode(exc.read(), True)
        except OSError as exc:  # URLError, timeouts, refused connections
            reason = getattr(exc, "reason", exc)
            raise RestError(f"Airflow is unreachable at {self.url}: {reason}") from None
        except http.client.HTTPException as exc:  # a connection cut mid-answer
            raise RestError(
                f"Airflow at {self.url} broke off its answer: {type(exc).__name__}"
            ) from None

    def _describe(self, method: str, path: str, status: int, data) -> str:
        detail = _detail(data)
        where = f"{method} {path.split('?')[0]}"
        if status == 401:
            return (
                f"Airflow at {self.url} refused the credentials (401 on {where}): the token is"
                f" invalid or expired and no username/password is set ({self._credentials.source})"
            )
        if status == 403 and self._token_given and "jwt" in detail.lower():
            return (
                f"Airflow at {self.url} refused the token (403 on {where}): {detail}; no"
                f" username/password is set to log in instead ({self._credentials.source})"
            )
        if status == 403:
            return f"Airflow at {self.url}: the user may not do this (403 on {where}): {detail}"
        if status == 404:
            return f"not found on Airflow at {self.url} (404 on {where}): {detail}"
        if status == 409:
            return f"already exists (409 on {where}): {detail}"
        if status == 422:
            return f"Airflow refused the request body (422 on {where}): {detail}"
        if status == 400:
            return f"Airflow refused the request (400 on {where}): {detail}"
        return f"Airflow at {self.url} answered {status} on {where}: {detail}"

    # -- endpoints ----------------------------------------------------------------------------
    def get(self, path, **params):
        return self.request("GET", path, params=params or None)

    def paged(self, path: str, key: str, limit: int | None = None, page_size=PAGE_SIZE, **params):
        """Every item of a listing (or the first `limit`), page by page with offset/limit:
        Airflow answers at most [api] maximum_page_limit items (100 by default) per call."""
        items: list = []
        offset = 0
        while True:
            size = page_size if limit is None else min(page_size, limit - len(items))
            if size <= 0:
                return items
            data = self.get(path, limit=size, offset=offset, **params) or {}
            page = data.get(key) or []
            items.extend(page)
            offset += len(page)
            total = data.get("total_entries")
            if not page or (total is not None and offset >= total):
                return items
            if total is None and len(page) < size:
                return items

    def dag(self, dag_id: str) -> dict:
        try:
            return self.get(f"/api/v2/dags/{_q(dag_id)}")
        except RestError as exc:
            if exc.status == 404:
                raise RestError(
                    f"no DAG {dag_id!r} on Airflow at {self.url} (deploy it first:"
                    " amlcompile build, then amlcompile deploy)",
                    404,
                ) from None
            raise

    def dag_details(self, dag_id: str) -> dict:
        self.dag(dag_id)
        return self.get(f"/api/v2/dags/{_q(dag_id)}/details")

    def set_paused(self, dag_id: str, paused: bool) -> dict:
        self.dag(dag_id)
        return self.request("PATCH", f"/api/v2/dags/{_q(dag_id)}", {"is_paused": paused})

    def reparse(self, file_token: str) -> None:
        self.request("PUT", f"/api/v2/parseDagFile/{_q(file_token)}")

    def import_errors(self) -> list[dict]:
        return self.paged("/api/v2/importErrors", "import_errors")

    def trigger(self, dag_id: str, conf: dict, run_id: str | None = None) -> dict:
        self.dag(dag_id)
        # The run id is chosen here (Airflow's own `manual__<time>` form when none is given)
        # so that a trigger answered 5xx (SQLite's "Database error" on a busy Airflow) can be
        # sent again: if the first attempt did create the run, the repeat finds it (409).
        chosen = run_id or "manual__" + datetime.datetime.now(datetime.UTC).isoformat()
        body = {"logical_date": None, "conf": conf, "dag_run_id": chosen}
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns"
        for attempt, pause in enumerate((*REPEAT_PAUSES, None)):
            try:
                return self.request("POST", path, body)
            except RestError as exc:
                if exc.status == 409 and attempt > 0:  # an earlier attempt made the run
                    return self.request("GET", f"{path}/{_q(chosen)}")
                if exc.status >= 500 and pause is not None:
                    time.sleep(pause)
                    continue
                if exc.status == 409:
                    raise RestError(
                        f"run id {run_id!r} already exists for DAG {dag_id!r}; choose another"
                        " --run-id (or look at it: amlcompile status)",
                        409,
                    ) from None
                if exc.status == 400:
                    raise RestError(
                        f"Airflow refused the parameters of {dag_id!r}: {_detail_of(exc)}", 400
                    ) from None
                raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        try:
            return self.get(f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")
        except RestError as exc:
            if exc.status == 404:
                self.dag(dag_id)
                raise RestError(f"DAG {dag_id!r} has no run {run_id!r}", 404) from None
            raise

    def dag_runs(self, dag_id: str, limit: int = 25) -> list[dict]:
        self.dag(dag_id)
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns"
        return self.paged(path, "dag_runs", limit=limit, order_by="-run_after")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        self.dag_run(dag_id, run_id)
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances"
        return self.paged(path, "task_instances")

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str):
        """An XCom value, or None when the task pushed none under this key."""
        path = (
            f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
            f"/xcomEntries/{_q(key)}"
        )
        try:
            return self.get(path, deserialize="true").get("value")
        except RestError as exc:
            if exc.status == 404:
                return None
            raise

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        path = (
            f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
            f"/logs/{try_number}"
        )
        data = self.get(path, full_content="true")
        content = data.get("content") if isinstance(data, dict) else data
        if isinstance(content, list):
            lines = []
            for item in content:
                if isinstance(item, dict):
                    lines.append(f"{item.get('timestamp', '')} {item.get('event', '')}".strip())
                    for err in item.get("error_detail") or []:  # the exception, not its frames
                        lines.append(f"    {err.get('exc_type')}: {err.get('exc_value')}")
                else:
                    lines.append(str(item))
            return "\n".join(lines)
        return str(content or "")

    def set_run_state(self, dag_id: str, run_id: str, state: str) -> dict:
        self.dag_run(dag_id, run_id)
        return self.request(
            "PATCH", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}", {"state": state}
        )

    def pool(self, name: str) -> dict | None:
        try:
            return self.get(f"/api/v2/pools/{_q(name)}")
        except RestError as exc:
            if exc.status == 404:
                return None
            raise

    def upsert_pool(self, name: str, slots: int, description: str) -> str:
        """Create the pool or resize it; returns 'created', 'updated' or 'unchanged'."""
        existing = self.pool(name)
        body = {"name": name, "slots": slots, "description": description}
        if existing is None:
            self.request("POST", "/api/v2/pools", body)
            return "created"
        if existing.get("slots") == slots and existing.get("description") == description:
            return "unchanged"
        self.request("PATCH", f"/api/v2/pools/{_q(name)}", body)
        return "updated"


def _q(part: str) -> str:
    return urllib.parse.quote(str(part), safe="")


def _decode(raw: bytes, as_json: bool):
    text = raw.decode("utf-8", errors="replace")
    if not as_json:
        return text
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def _detail(data) -> str:
    """Airflow's own reason, on one line: FastAPI's `detail` (a string or a list of errors)."""
    detail = data.get("detail", data) if isinstance(data, dict) else data
    if isinstance(detail, list):
        parts = []
        for err in detail:
            if isinstance(err, dict):
                loc = ".".join(str(x) for x in err.get("loc", []) if x != "body")
                parts.append(f"{loc}: {err.get('msg', err)}" if loc else str(err.get("msg", err)))
            else:
                parts.append(str(err))
        detail = "; ".join(parts)
    elif isinstance(detail, dict):
        detail = detail.get("reason") or detail.get("message") or json.dumps(detail)
    text = " ".join(str(detail or "no detail").split())
    return text[:500]


def _detail_of(exc: RestError) -> str:
    text = str(exc)
    return text.split("): ", 1)[1] if "): " in text else text
