"""PostgreSQL and Redis from the Debian packages (`.ci/run` installs them), started by a test on
free loopback ports with their data in temporary folders, and stopped with it.

PostgreSQL refuses to run as root: as root, its folder belongs to the `postgres` user the
package created and its commands run through `runuser`.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


class Unavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(tool: str) -> str:
    found = shutil.which(tool) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), reverse=True)), None
    )
    if not found:
        raise Unavailable(
            f"PostgreSQL's {tool} is not installed (apt-get install -y postgresql; .ci/run does)"
        )
    return found


class Postgres:
    """One throwaway cluster: user `airflow` (trust auth on loopback), database `airflow`."""

    def __init__(self, user: str = "airflow", database: str = "airflow"):
        self.user, self.database = user, database
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="amlcompile-pg-"))  # not under a 0700 tmp
        self.data = self.dir / "data"
        self._as: list[str] = []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *argv, timeout=120):
        r = subprocess.run(
            [*self._as, *map(str, argv)], capture_output=True, text=True, timeout=timeout
        )
        if r.returncode != 0:
            raise Unavailable(f"{argv[0]} failed: {(r.stderr or r.stdout)[-1500:]}")
        return r

    def start(self) -> Postgres:
        initdb, pg_ctl, createdb = _pg_bin("initdb"), _pg_bin("pg_ctl"), _pg_bin("createdb")
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise Unavailable("running as root and runuser is missing: cannot start postgres")
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = [runuser, "-u", "postgres", "--"]
        self._run(initdb, "-D", self.data, "-U", self.user, "-A", "trust", "-E", "UTF8", "-N")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F -c max_connections=200"
        self._run(pg_ctl, "-D", self.data, "-l", self.dir / "log", "-w", "-o", options, "start")
        self._run(createdb, "-h", "127.0.0.1", "-p", self.port, "-U", self.user, self.database)
        return self

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                [*self._as, _pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="amlcompile-redis-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        server = shutil.which("redis-server")
        if server is None:
            raise Unavailable(
                "redis-server is not installed (apt-get install -y redis-server; .ci/run does)"
            )
        argv = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.dir)]
        self.log = open(self.dir / "log", "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(f"redis-server did not start: {(self.dir / 'log').read_text()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def airflow_healthy(url: str) -> bool:
    """The api-server answers and reports its database, scheduler and dag-processor healthy."""
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as resp:
            health = json.loads(resp.read())
    except (OSError, ValueError):
        return False
    parts = ("metadatabase", "scheduler", "dag_processor")
    return all((health.get(p) or {}).get("status") == "healthy" for p in parts)


def stop_process_groups(procs: list[subprocess.Popen], term_grace: float = 5.0) -> None:
    """SIGTERM to each process group at once, SIGKILL to what is left after `term_grace`."""
    for sig, grace in ((signal.SIGTERM, term_grace), (signal.SIGKILL, 5.0)):
        for proc in procs:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            time.sleep(0.2)
    for proc in procs:
        proc.wait(timeout=5)
