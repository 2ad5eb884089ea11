"""Project configuration: `amlcompile.toml`, or `[tool.amlcompile]` in `pyproject.toml`.

With no config at all the seed's code runs as written: `workspaceblobstore` and
`workspacefilestore` are local folders under `.amlcompile/`, and compute is local.
Secrets never live here: only Airflow connection ids and environment variable names.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CONFIG_FILE = "amlcompile.toml"
STATE_DIR = ".amlcompile"
_SECRET_KEY = re.compile(r"(password|secret|token|account_key|sas|credential|api_key)$", re.I)


class ConfigError(Exception):
    """A configuration problem, already phrased for the user (file and key included)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatastoreConfig(_Model):
    kind: Literal["local", "azure_blob", "adls_gen2", "azure_file"] = "local"
    path: str | None = None  # local folder (relative to the project root) or container/share
    conn_id: str | None = None  # Airflow connection id for remote stores

    @model_validator(mode="after")
    def _needs_conn(self):
        if self.kind != "local" and not self.conn_id:
            raise ValueError(f"a {self.kind} datastore needs conn_id (an Airflow connection id)")
        if self.kind != "local" and not self.path:
            raise ValueError(f"a {self.kind} datastore needs path (the container or share name)")
        return self


class ComputeConfig(_Model):
    kind: Literal["local", "amlcompute", "databricks", "adla", "datafactory"]
    vm_size: str | None = None
    min_nodes: int | None = Field(default=None, ge=0)
    max_nodes: int | None = Field(default=None, ge=1)


class KubernetesConfig(_Model):
    namespace: str = "default"
    conn_id: str = "kubernetes_default"


class AirflowConfig(_Model):
    url: str = "http://127.0.0.1:8080"
    username_env: str = "AIRFLOW_USERNAME"
    password_env: str = "AIRFLOW_PASSWORD"
    token_env: str = "AIRFLOW_TOKEN"  # a ready JWT, used before username/password
    dags_folder: str | None = None  # where `amlcompile deploy` copies dags_out/


class ProjectConfig(_Model):
    root: Path = Path(".")
    source: str | None = None  # which file the config came from, for messages
    dags_out: str = "dags_out"
    default_datastore: str = "workspaceblobstore"
    default_image: str = "python:3.11-slim"
    datastores: dict[str, DatastoreConfig] = Field(default_factory=dict)
    compute: dict[str, ComputeConfig] = Field(default_factory=dict)
    kubernetes: KubernetesConfig = KubernetesConfig()
    airflow: AirflowConfig = AirflowConfig()

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def dags_out_path(self) -> Path:
        return (self.root / self.dags_out).resolve()

    def datastore_root(self, name: str) -> str:
        ds = self.datastores[name]
        if ds.kind == "local":
            base = Path(ds.path) if ds.path else Path(STATE_DIR) / "datastores" / name
            return str((self.root / base).resolve())
        return ds.path or ""


def _defaults() -> dict[str, DatastoreConfig]:
    return {"workspaceblobstore": DatastoreConfig(), "workspacefilestore": DatastoreConfig()}


def find_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding amlcompile.toml or pyproject.toml."""
    start = start.resolve()
    for folder in [start, *start.parents]:
        if (folder / CONFIG_FILE).is_file() or (folder / "pyproject.toml").is_file():
            return folder
    return start


def load(root: Path | None = None) -> ProjectConfig:
    root = find_root(root or Path.cwd())
    raw: dict = {}
    source = None
    toml_file = root / CONFIG_FILE
    pyproject = root / "pyproject.toml"
    try:
        if toml_file.is_file():
            source = str(toml_file)
            raw = tomllib.loads(toml_file.read_text(encoding="utf-8"))
        elif pyproject.is_file():
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            if "amlcompile" in data.get("tool", {}):
                source = f"{pyproject} [tool.amlcompile]"
                raw = data["tool"]["amlcompile"]
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source or toml_file}: not valid TOML: {exc}") from None

    _refuse_secrets(raw, source or "config", [])
    raw = dict(raw)
    raw["datastores"] = {**_defaults(), **raw.get("datastores", {})}
    try:
        cfg = ProjectConfig(root=root, source=source, **raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            lines.append(f"{source or 'config'}: {key}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
    if cfg.default_datastore not in cfg.datastores:
        raise ConfigError(
            f"{source}: default_datastore: {cfg.default_datastore!r} is not a configured datastore"
        )
    return cfg


def _refuse_secrets(node, source: str, path: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if _SECRET_KEY.search(str(key)) and not str(key).endswith("_env"):
                dotted = ".".join([*path, str(key)])
                raise ConfigError(
                    f"{source}: {dotted}: secrets do not belong in the config; store them in an"
                    " Airflow connection and give its id (conn_id) instead"
                )
            _refuse_secrets(value, source, [*path, str(key)])
