"""A loopback stand-in for the Databricks Jobs API (2.1 and 2.2 paths), for the provider's hook.

It implements what `DatabricksSubmitRunOperator.execute` calls: runs/submit, runs/get (state and
run page URL), runs/get-output (asked for the tasks of a failed run) and runs/cancel; and the
DBFS API 2.0 (get-status, list, read, mkdirs, create / add-block / close, move, delete) that code
shipping and DBFS datastores use. Every request is recorded; each run ends in the configured
result state after `polls` reads.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API_VERSIONS = ("2.0", "2.1", "2.2")


def _dbfs_key(path: str) -> str:
    """`dbfs:/x/y`, `/x/y/` and `x/y` all name `/x/y`."""
    return "/" + "/".join(p for p in str(path).removeprefix("dbfs:").split("/") if p)


class _DbfsFiles(dict):
    """File contents keyed by normalised DBFS path; looked up by either spelling."""

    def __getitem__(self, key):
        return super().__getitem__(_dbfs_key(key))

    def __setitem__(self, key, value):
        super().__setitem__(_dbfs_key(key), value)

    def __contains__(self, key):
        return super().__contains__(_dbfs_key(key))

    def __delitem__(self, key):
        super().__delitem__(_dbfs_key(key))

    def get(self, key, default=None):
        return super().get(_dbfs_key(key), default)

    def pop(self, key, *default):
        return super().pop(_dbfs_key(key), *default)


class DatabricksStandin:
    def __init__(self, conn_id: str = "databricks_standin", polls: int = 2):
        self.conn_id = conn_id
        self.polls = polls  # runs/get answers RUNNING this many times, then the end state
        self.result_state = "SUCCESS"
        self.requests: list[dict] = []  # {"method", "path", "query", "body", "headers"}
        self.runs: dict[int, dict] = {}
        self.dbfs: dict[str, bytes] = _DbfsFiles()  # file contents by path (/x or dbfs:/x)
        self.dbfs_dirs: set[str] = {"/"}
        self.dbfs_mtimes: dict[str, int] = {}
        self._clock = 0
        self._next_handle = 0
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
        """The DBFS API 2.0 as Databricks answers it: files and directories (a file's
        parents exist), modification times in ms, create refused on an existing file
        without overwrite, read and add-block at most 1 MB."""
        import base64

        method, endpoint = route
        args = {**{k: v[0] for k, v in query.items()}, **body}
        files, dirs = self.dbfs, self.dbfs_dirs
        path = _dbfs_key(args["path"]) if "path" in args else None

        def missing():
            return 404, {
                "error_code": "RESOURCE_DOES_NOT_EXIST",
                "message": f"No file or directory exists on path {path}.",
            }

        def status(key):
            is_dir = key in dirs
            return {
                "path": key,
                "is_dir": is_dir,
                "file_size": 0 if is_dir else len(files[key]),
                "modification_time": self.dbfs_mtimes.get(key, 0),
            }

        if endpoint == "dbfs/get-status":
            return (200, status(path)) if path in files or path in dirs else missing()
        if endpoint == "dbfs/list":
            if path in files:
                return 200, {"files": [status(path)]}
            if path not in dirs:
                return missing()
            prefix = path.rstrip("/") + "/"
            children = sorted(
                k for k in [*files, *dirs] if k.startswith(prefix) and "/" not in k[len(prefix) :]
            )
            return 200, {"files": [status(k) for k in children if k != "/"]}
        if endpoint == "dbfs/read":
            if path not in files:
                return missing()
            offset, length = int(args.get("offset", 0)), int(args.get("length", 0) or 1 << 20)
            if length > 1 << 20:
                return 400, {"error_code": "MAX_READ_SIZE_EXCEEDED", "message": "length > 1 MB"}
            data = files[path][offset : offset + length]
            return 200, {"bytes_read": len(data), "data": base64.b64encode(data).decode()}
        if endpoint == "dbfs/mkdirs":
            if path in files:
                return 400, {
                    "error_code": "RESOURCE_ALREADY_EXISTS",
                    "message": f"{path} is a file",
                }
            self._mkdirs(path)
            return 200, {}
        if endpoint == "dbfs/create":
            if path in dirs or (path in files and not args.get("overwrite")):
                return 400, {
                    "error_code": "RESOURCE_ALREADY_EXISTS",
                    "message": f"A file or directory already exists at the input path {path}.",
                }
            self._mkdirs(path.rpartition("/")[0] or "/")
            self._put_file(path, b"")
            self._next_handle += 1
            handle = self._next_handle
            self._handles[handle] = (path, bytearray())
            return 200, {"handle": handle}
        if endpoint == "dbfs/add-block":
            data = base64.b64decode(args["data"])
            if len(data) > 1 << 20:
                return 400, {"error_code": "MAX_BLOCK_SIZE_EXCEEDED", "message": "block > 1 MB"}
            self._handles[args["handle"]][1].extend(data)
            return 200, {}
        if endpoint == "dbfs/close":
            key, data = self._handles.pop(args["handle"])
            self._put_file(key, bytes(data))
            return 200, {}
        if endpoint == "dbfs/move":
            source, target = _dbfs_key(args["source_path"]), _dbfs_key(args["destination_path"])
            if source not in files and source not in dirs:
                path = source
                return missing()
            if target in files or target in dirs:
                return 400, {
                    "error_code": "RESOURCE_ALREADY_EXISTS",
                    "message": f"A file or directory already exists at the input path {target}.",
                }
            if source in dirs:
                return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "moving folders"}
            self._mkdirs(target.rpartition("/")[0] or "/")
            self._put_file(target, files.pop(source))
            return 200, {}
        if endpoint == "dbfs/delete":
            if path not in files and path not in dirs:
                return 200, {}  # deleting nothing succeeds, as on Databricks
            if path in dirs:
                inside = [k for k in [*files, *dirs] if k.startswith(path.rstrip("/") + "/")]
                if inside and not args.get("recursive"):
                    return 400, {"error_code": "IO_ERROR", "message": f"{path} is not empty"}
                for k in inside:
                    files.pop(k, None)
                    dirs.discard(k)
                if path != "/":
                    dirs.discard(path)
            else:
                del files[path]
            return 200, {}
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no route {route}"}

    def _mkdirs(self, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        for depth in range(len(parts) + 1):
            key = "/" + "/".join(parts[:depth])
            if key not in self.dbfs_dirs:
                self.dbfs_dirs.add(key)
                self.dbfs_mtimes[key] = self._now()

    def _put_file(self, key: str, data: bytes) -> None:
        self.dbfs[key] = data
        self.dbfs_mtimes[key] = self._now()

    def _now(self) -> int:
        """Milliseconds, strictly increasing: two writes never share a modification time."""
        import time

        self._clock = max(self._clock + 1, int(time.time() * 1000))
        return self._clock

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
