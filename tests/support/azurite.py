"""Microsoft's storage emulator (npm package `azurite`, pinned in tools/azurite/) for tests.

The first use installs it with `npm ci` under a file lock (pytest-xdist workers share the
checkout); each worker then runs its own blob service on a free loopback port.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOL_DIR = REPO / "tools" / "azurite"
BLOB_MAIN = TOOL_DIR / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
# Azurite's documented well-known development account (public, not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
MARKER = TOOL_DIR / "node_modules" / ".amlcompile-installed"
LISTENING = re.compile(r"Blob service successfully listens on (http://\S+)")
START_TIMEOUT = 90.0


class AzuriteUnavailable(RuntimeError):
    pass


def _lock_digest() -> str:
    return hashlib.sha256((TOOL_DIR / "package-lock.json").read_bytes()).hexdigest()


def is_installed() -> bool:
    """True once `npm ci` completed for the current package-lock.json (an interrupted
    install leaves no marker and is redone)."""
    try:
        return MARKER.read_text() == _lock_digest() and BLOB_MAIN.exists()
    except OSError:
        return False


def ensure_installed() -> None:
    """`npm ci --prefix tools/azurite` once per checkout, whichever worker gets there first."""
    if is_installed():
        return
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise AzuriteUnavailable(f"{tool} is not on PATH; Azurite tests need Node.js and npm")
    with open(TOOL_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_installed():
            return
        proc = subprocess.run(
            ["npm", "ci", "--prefix", str(TOOL_DIR), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0 or not BLOB_MAIN.exists():
            raise AzuriteUnavailable(f"npm ci in {TOOL_DIR} failed:\n{proc.stderr[-3000:]}")
        MARKER.write_text(_lock_digest())


class Azurite:
    """One running blob service. `.conn_id` names an Airflow connection set in the environment."""

    def __init__(self, location: Path, conn_id: str = "azurite"):
        self.location = location
        self.conn_id = conn_id
        self.blob_endpoint = ""
        self._proc: subprocess.Popen | None = None
        self._output: list[str] = []

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def airflow_connection(self) -> dict:
        """The form the provider's abfs filesystem (fs/adls.py) and WasbHook both accept:
        a connection string in the extras overrides every other field."""
        return {"conn_type": "wasb", "extra": {"connection_string": self.connection_string}}

    def env(self) -> dict[str, str]:
        return {f"AIRFLOW_CONN_{self.conn_id.upper()}": json.dumps(self.airflow_connection())}

    def service_client(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def create_container(self, name: str | None = None) -> str:
        """A new, empty container (a unique name unless one is given)."""
        name = name or f"c{uuid.uuid4().hex[:20]}"
        self.service_client().create_container(name)
        return name

    def start(self) -> Azurite:
        ensure_installed()
        self.location.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [
                shutil.which("node") or "node",
                str(BLOB_MAIN),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",  # a free port; Azurite prints the one it took
                "--location",
                str(self.location),
                "--skipApiVersionCheck",  # the Python SDK may be newer than the emulator
                "--loose",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        found = threading.Event()

        def read() -> None:
            assert self._proc is not None and self._proc.stdout is not None
            for line in self._proc.stdout:
                self._output.append(line)
                match = LISTENING.search(line)
                if match and not found.is_set():
                    self.blob_endpoint = f"{match.group(1).rstrip('/')}/{ACCOUNT}"
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while not found.wait(0.1):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AzuriteUnavailable("Azurite did not start:\n" + "".join(self._output)[-3000:])
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.kill()  # its data folder is thrown away: no graceful close needed (it takes seconds)
        proc.wait(timeout=10)


def environ_with(values: dict[str, str]):
    """Set environment variables for the block, restoring the previous values after."""
    import contextlib

    @contextlib.contextmanager
    def scope():
        old = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, value in old.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    return scope()
