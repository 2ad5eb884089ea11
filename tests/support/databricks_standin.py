"""A loopback stand-in for the Databricks Jobs API (2.1 and 2.2 paths), for the provider's hook.

It implements what `DatabricksSubmitRunOperator.execute` calls: runs/submit, runs/get (state and
run page URL), runs/get-output (asked for the tasks of a failed run) and runs/cancel. Every
request is recorded; each run ends in the configured result state after `polls` reads.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API_VERSIONS = ("2.0", "2.1", "2.2")


class DatabricksStandin:
    def __init__(self, conn_id: str = "databricks_standin", polls: int = 2):
        self.conn_id = conn_id
        self.polls = polls  # runs/get answers RUNNING this many times, then the end state
        self.result_state = "SUCCESS"
        self.requests: list[dict] = []  # {"method", "path", "query", "body", "headers"}
        self.runs: dict[int, dict] = {}
        self.dbfs: dict[str, bytes] = {}  # files shipped to DBFS, by dbfs:/ path
        self._handles: dict[int, tuple[str, bytearray]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def connection(self) -> dict:
        """An Airflow connection (JSON form) the provider's hook accepts: plain http."""
        return {
            "conn_type": "databricks",
            "host": "127.0.0.1",
            "port": self.port,
            "schema": "http",  # the hook builds f"{schema}://{host}:{port}/api/..."
            "password": "standin-token",
        }

    def set_result(self, state: str) -> None:
        if state not in ("SUCCESS", "FAILED", "CANCELED", "TIMEDOUT"):
            raise ValueError(f"unknown Databricks result state {state!r}")
        self.result_state = state

    def submitted(self) -> list[dict]:
        """Bodies of every runs/submit request, in order."""
        return [r["body"] for r in self.requests if r["path"].endswith("/jobs/runs/submit")]

    def start(self) -> DatabricksStandin:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- the API ----
    def _state(self, run: dict) -> dict:
        if run["canceled"]:
            return {
                "life_cycle_state": "TERMINATED",
                "result_state": "CANCELED",
                "state_message": "canceled through runs/cancel",
            }
        if run["polls"] <= self.polls:
            return {"life_cycle_state": "RUNNING", "state_message": "in run"}
        result = run["result_state"]
        message = "" if result == "SUCCESS" else f"stand-in run ended {result}"
        return {"life_cycle_state": "TERMINATED", "result_state": result, "state_message": message}

    def _run_view(self, run_id: int) -> dict:
        run = self.runs[run_id]
        run["polls"] += 1
        state = self._state(run)
        return {
            "run_id": run_id,
            "job_id": run_id + 1000,
            "run_name": run["body"].get("run_name"),
            "run_page_url": f"{self.url}/#job/{run_id + 1000}/run/{run_id}",
            "state": state,
            "tasks": [{"run_id": run_id * 10, "task_key": "main", "state": state}],
        }

    def _answer(self, method: str, path: str, query: dict, body: dict) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "api" or parts[1] not in API_VERSIONS:
            return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no API {path}"}
        route = (method, "/".join(parts[2:]))
        if route[1].startswith("dbfs/"):
            with self._lock:
                return self._dbfs(route, query, body)
        with self._lock:
            if route == ("POST", "jobs/runs/submit"):
                run_id = len(self.runs) + 1
                self.runs[run_id] = {
                    "body": body,
                    "polls": 0,
                    "canceled": False,
                    "result_state": self.result_state,
                }
                return 200, {"run_id": run_id}
            run_id = int((query.get("run_id") or [body.get("run_id", 0)])[0])
            if route == ("GET", "jobs/runs/get-output"):
                parent = run_id // 10
                if parent not in self.runs:
                    return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "no run"}
                failed = self.runs[parent]["result_state"] != "SUCCESS"
                return 200, {
                    "error": "stand-in task failed" if failed else None,
                    "metadata": {"run_id": run_id},
                }
            if run_id not in self.runs:
                return 400, {
                    "error_code": "INVALID_PARAMETER_VALUE",
                    "message": f"Run {run_id} does not exist.",
                }
            if route == ("GET", "jobs/runs/get"):
                return 200, self._run_view(run_id)
            if route == ("POST", "jobs/runs/cancel"):
                self.runs[run_id]["canceled"] = True
                return 200, {}
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no route {route}"}

    def _dbfs(self, route, query: dict, body: dict) -> tuple[int, dict]:
        """The DBFS calls used to ship code: get-status, create / add-block / close."""
        import base64

        if route == ("GET", "dbfs/get-status"):
            path = (query.get("path") or [body.get("path")])[0]
            if path not in self.dbfs:
                return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"{path}"}
            return 200, {"path": path, "is_dir": False, "file_size": len(self.dbfs[path])}
        if route == ("POST", "dbfs/create"):
            handle = len(self._handles) + 1
            self._handles[handle] = (body["path"], bytearray())
            return 200, {"handle": handle}
        if route == ("POST", "dbfs/add-block"):
            self._handles[body["handle"]][1].extend(base64.b64decode(body["data"]))
            return 200, {}
        if route == ("POST", "dbfs/close"):
            path, data = self._handles.pop(body["handle"])
            self.dbfs[path] = bytes(data)
            return 200, {}
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no route {route}"}

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {"_unparsed": raw.decode("utf-8", "replace")}
                query = parse_qs(split.query)
                standin.requests.append(
                    {
                        "method": method,
                        "path": split.path,
                        "query": {k: v[0] for k, v in query.items()},
                        "body": body,
                        "headers": dict(self.headers),
                    }
                )
                status, answer = standin._answer(method, split.path, query, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

            def log_message(self, format, *args):  # keep pytest output quiet
                pass

        return Handler
