"""Project configuration: `amlcompile.toml`, or `[tool.amlcompile]` in `pyproject.toml`.

With no config at all the seed's code runs as written: `workspaceblobstore` and
`workspacefilestore` are local folders under `.amlcompile/`, and compute is local.
Secrets never live here: only Airflow connection ids and environment variable names.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from .credentials import secret_name
from .plugins_pause import PluginsPaused

_plugins_paused = PluginsPaused()  # until the last model class below is made

CONFIG_FILE = "amlcompile.toml"
STATE_DIR = ".amlcompile"
# Values that carry a credential whatever their key: URLs with a password, Azure connection
# strings, SAS query strings, private keys.
_SECRET_VALUE = re.compile(
    r"://[^/\s:@]+:[^/\s@]+@|AccountKey=|SharedAccessSignature=|SharedAccessKey=|[?&]sig="
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----",
    re.I,
)


class ConfigError(Exception):
    """A configuration problem, already phrased for the user (file and key included)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatastoreConfig(_Model):
    kind: Literal["local", "azure_blob", "adls_gen2", "azure_file", "dbfs"] = "local"
    # local folder (relative to the project root), container/share, or a DBFS folder ("/")
    path: str | None = None
    conn_id: str | None = None  # Airflow connection id for remote stores
    account_name: str | None = None  # storage account, for URIs given to Databricks
    k8s_pvc: str | None = None  # pods: the PersistentVolumeClaim holding a local datastore
    k8s_secret_name: str | None = None  # pods: the Kubernetes secret the CSI driver mounts with
    # local: a shared filesystem every Airflow worker mounts (at `path`, or where the Airflow
    # Variable amlcompile_datastore__<name> says); deploy refuses a local datastore that is
    # not shared when Airflow's executor runs tasks on several machines.
    shared: bool = False

    @model_validator(mode="after")
    def _needs_conn(self):
        if self.kind != "local" and not self.conn_id:
            raise ValueError(f"a {self.kind} datastore needs conn_id (an Airflow connection id)")
        if self.kind not in ("local", "dbfs") and not self.path:
            raise ValueError(f"a {self.kind} datastore needs path (the container or share name)")
        if self.kind != "local" and self.shared:
            raise ValueError(f"shared applies to local datastores; a {self.kind} one is shared")
        return self


# Kubernetes names: an extended resource (`nvidia.com/gpu`), a label key (optional DNS prefix,
# then a name of at most 63 characters) and a label value.
_RESOURCE_NAME = re.compile(
    r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
POD_OVERRIDES = ("cpu", "memory_gib", "gpus", "gpu_resource", "node_selector")


class ComputeConfig(_Model):
    kind: Literal["local", "amlcompute", "databricks", "adla", "datafactory"]
    vm_size: str | None = None
    min_nodes: int | None = Field(default=None, ge=0)
    max_nodes: int | None = Field(default=None, ge=1)
    conn_id: str | None = None  # databricks: Airflow connection id (host + token live there)
    account_name: str | None = None  # adla: the Data Lake Analytics account
    queue: str | None = None  # steps on this target run on Airflow workers of this queue
    # amlcompute: what a step's pod asks for instead of one node of vm_size (requests as
    # given, no headroom taken off), and where it goes. node_selector = {} means none.
    cpu: float | None = Field(default=None, gt=0, le=1024)
    memory_gib: float | None = Field(default=None, gt=0, le=65536)
    gpus: int | None = Field(default=None, ge=0, le=64)
    gpu_resource: str | None = None  # the extended resource GPUs are requested as
    node_selector: dict[str, str] | None = None

    @model_validator(mode="after")
    def _pod_overrides(self):
        given = [k for k in POD_OVERRIDES if getattr(self, k) is not None]
        if given and self.kind != "amlcompute":
            raise ValueError(
                f'{", ".join(given)} only apply to kind = "amlcompute" (Kubernetes pods),'
                f" not {self.kind}"
            )
        if self.gpu_resource is not None and not _RESOURCE_NAME.match(self.gpu_resource):
            raise ValueError(
                f"gpu_resource {self.gpu_resource!r} is not a Kubernetes extended resource name"
                " (like nvidia.com/gpu or amd.com/gpu)"
            )
        for key, value in (self.node_selector or {}).items():
            prefix, _, name = key.rpartition("/")
            if not _LABEL_NAME.match(name) or (prefix and not _LABEL_PREFIX.match(prefix)):
                raise ValueError(f"node_selector key {key!r} is not a Kubernetes label key")
            if not _LABEL_VALUE.match(value):
                raise ValueError(
                    f"node_selector[{key!r}] = {value!r} is not a Kubernetes label value (at most"
                    " 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric)"
                )
        return self


class EnvironmentConfig(_Model):
    """A named environment for `Environment.get(ws, name)` (Azure's registered ones)."""

    image: str | None = None
    python_version: str | None = None
    conda_packages: list[str] = Field(default_factory=list)
    pip_packages: list[str] = Field(default_factory=list)
    environment_variables: dict[str, str] = Field(default_factory=dict)


class KubernetesConfig(_Model):
    namespace: str = "default"
    conn_id: str = "kubernetes_default"


class AirflowConfig(_Model):
    url: str = "http://127.0.0.1:8080"
    username_env: str = "AIRFLOW_USERNAME"
    password_env: str = "AIRFLOW_PASSWORD"
    token_env: str = "AIRFLOW_TOKEN"  # a ready JWT, used before username/password
    dags_folder: str | None = None  # where `amlcompile deploy` copies dags_out/
    plugins_folder: str | None = None  # Airflow's [core] plugins_folder: the REST plugin
    # Airflow's [core] executor, when its API does not tell (see docs/production.md).
    executor: str | None = None


class WorkspaceConfig(_Model):
    """What `ws.name`, `ws.subscription_id`, ... answer (scripts print and join them)."""

    name: str | None = None  # default: the project folder's name
    subscription_id: str = "00000000-0000-0000-0000-000000000000"
    resource_group: str = "amlcompile"
    location: str = "local"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.I)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value) -> float:
    """Seconds from a number of seconds or text like "90s", "5m", "2h", "1h30m", "1d"."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '90s', '5m', '1h30m'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION.findall(text)
        if not text or "".join(n + u for n, u in parts).lower() != text.lower():
            raise ValueError(
                f"{value!r} is not a duration: write seconds (300) or text like '90s', '5m',"
                " '2h', '1h30m', '1d'"
            )
        seconds = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)
    else:
        raise ValueError("a duration is a number of seconds or text like '90s', '5m', '1h30m'")
    if not 0 < seconds <= 366 * 86400:
        raise ValueError(f"{value!r}: a duration must be above 0 and at most a year")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class TaskSettingsConfig(_Model):
    """What Airflow runs a task with: its owner, retries and time limit (`[dag]` for every
    step, `[dag.steps.NAME]` for one step)."""

    owner: str | None = Field(default=None, min_length=1, max_length=500)
    retries: int | None = Field(default=None, ge=0, le=100)
    retry_delay: Duration | None = None
    execution_timeout: Duration | None = None


class DagConfig(TaskSettingsConfig):
    """`[dag]`: what every generated DAG file carries (see docs/compute-targets.md)."""

    max_active_runs: int = Field(default=16, ge=1, le=10000)  # Airflow's own default
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list)
    # Lines of a step's output kept in its XCom (return_value "log_tail"); 0 keeps none.
    xcom_log_tail: int = Field(default=20, ge=0, le=1000)
    steps: dict[str, TaskSettingsConfig] = Field(default_factory=dict)


class ProjectConfig(_Model):
    root: Path = Path(".")
    source: str | None = None  # which file the config came from, for messages
    # Who owns the files written into a (shared) DAGs folder; default: pyproject's
    # [project] name, else the project folder's name. Clones of one project share it.
    project: str | None = None
    dags_out: str = "dags_out"
    default_datastore: str = "workspaceblobstore"
    default_image: str = "python:3.11-slim"
    datastores: dict[str, DatastoreConfig] = Field(default_factory=dict)
    compute: dict[str, ComputeConfig] = Field(default_factory=dict)
    environments: dict[str, EnvironmentConfig] = Field(default_factory=dict)
    kubernetes: KubernetesConfig = KubernetesConfig()
    airflow: AirflowConfig = AirflowConfig()
    workspace: WorkspaceConfig = WorkspaceConfig()
    dag: DagConfig = DagConfig()

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def dags_out_path(self) -> Path:
        return (self.root / self.dags_out).resolve()

    @property
    def project_id(self) -> str:
        name = self.project
        if not name:
            try:
                data = tomllib.loads((self.root / "pyproject.toml").read_text(encoding="utf-8"))
                name = (data.get("project") or {}).get("name")
            except (OSError, ValueError):  # TOMLDecodeError and UnicodeDecodeError too
                name = None
        name = str(name or Path(self.root).resolve().name)
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "project"

    def datastore_root(self, name: str) -> str:
        ds = self.datastores[name]
        if ds.kind == "local":
            base = Path(ds.path) if ds.path else Path(STATE_DIR) / "datastores" / name
            return str((self.root / base).resolve())
        if ds.kind == "dbfs":  # an absolute DBFS folder, the DBFS root by default
            return "/" + "/".join(p for p in (ds.path or "").split("/") if p)
        return ds.path or ""


_plugins_paused.end()


def _defaults() -> dict[str, DatastoreConfig]:
    return {"workspaceblobstore": DatastoreConfig(), "workspacefilestore": DatastoreConfig()}


def find_root(start: Path) -> Path:
    """The project root for a pipeline file in folder `start`: the nearest folder at or
    above it holding amlcompile.toml or pyproject.toml. With none, the working directory
    when `start` lies inside it, as the SDK's `Workspace.from_config()` searches from the
    working directory: `amlcompile build examples/` in a folder without a config gives one
    project (one dags_out/, one .amlcompile/) there, not one per example folder. A file
    outside the working directory with no config above it is its own project."""
    start = start.resolve()
    for folder in [start, *start.parents]:
        if (folder / CONFIG_FILE).is_file() or (folder / "pyproject.toml").is_file():
            return folder
    cwd = Path.cwd().resolve()
    if start == cwd or cwd in start.parents:
        return cwd
    return start


# The loader fills these in; a config file setting them is refused like any unknown key.
_LOADER_FIELDS = ("root", "source")
# Top-level keys whose value is a table (the rest are refused by validation as usual).
_TABLES = ("datastores", "compute", "environments", "kubernetes", "airflow", "workspace")


def _read_toml(path: Path) -> dict:
    """A TOML file as a dict; ConfigError naming the file (and the line) when it cannot be
    read, is not UTF-8 text or is not valid TOML."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = re.search(r"\(at line (\d+), column \d+\)|\(at end of document\)", message)
        line = (where.group(1) or str(text.count("\n") + 1)) if where else None
        prefix = f"{path}:{line}" if line else str(path)
        raise ConfigError(f"{prefix}: not valid TOML: {message}") from None


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key_path(parts) -> str:
    """A dotted key as TOML writes it: parts that are not bare keys quoted and escaped, so a
    key holding a newline or a terminal escape stays one harmless line."""
    return ".".join(str(p) if _BARE_KEY.fullmatch(str(p)) else json.dumps(str(p)) for p in parts)


def _type_name(value) -> str:
    return {str: "a string", list: "an array", bool: "a boolean", int: "an integer"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _check_shape(raw: dict, source: str) -> None:
    """What validation cannot phrase well: keys the loader owns, and tables given as
    something else (before they are merged with the defaults)."""
    for key in _LOADER_FIELDS:
        if key in raw:
            raise ConfigError(f"{source}: {key}: not a config key (it is set by amlcompile)")
    for key in _TABLES:
        if key in raw and not isinstance(raw[key], dict):
            example = f"[{key}.NAME]" if key in ("datastores", "compute", "environments") else ""
            hint = f" ({example} sections)" if example else f" ([{key}] section)"
            raise ConfigError(f"{source}: {key}: must be a table{hint}, not {_type_name(raw[key])}")


def load(root: Path | None = None) -> ProjectConfig:
    root = find_root(root or Path.cwd())
    raw: dict = {}
    source = None
    toml_file = root / CONFIG_FILE
    pyproject = root / "pyproject.toml"
    if toml_file.is_file():
        source = str(toml_file)
        raw = _read_toml(toml_file)
    elif pyproject.is_file():
        data = _read_toml(pyproject)
        tool = data.get("tool")
        if isinstance(tool, dict) and "amlcompile" in tool:
            source = f"{pyproject} [tool.amlcompile]"
            raw = tool["amlcompile"]
            if not isinstance(raw, dict):
                raise ConfigError(
                    f"{pyproject}: tool.amlcompile: must be a table ([tool.amlcompile]"
                    f" section), not {_type_name(raw)}"
                )

    _refuse_secrets(raw, source or "config", [])
    _check_shape(raw, source or "config")
    raw = dict(raw)
    raw["datastores"] = {**_defaults(), **raw.get("datastores", {})}
    try:
        cfg = ProjectConfig(root=root, source=source, **raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = key_path(err["loc"])
            lines.append(f"{source or 'config'}: {key}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
    if cfg.default_datastore not in cfg.datastores:
        raise ConfigError(
            f"{source}: default_datastore: {cfg.default_datastore!r} is not a configured datastore"
        )
    return cfg


def _refuse_secrets(node, source: str, path: list[str]) -> None:
    """Secret-looking keys and credential-carrying values, in nested tables and arrays too.

    The message names the key, never the value: the error must not leak what it refuses.
    """
    advice = (
        "secrets do not belong in the config; store them in an Airflow connection and give"
        " its id (conn_id), or name an environment variable (..._env)"
    )
    if isinstance(node, dict):
        for key, value in node.items():
            if secret_name(str(key)):  # by word parts: accountKey, STORAGE_ACCOUNTKEY, ...
                raise ConfigError(f"{source}: {key_path([*path, key])}: {advice}")
            _refuse_secrets(value, source, [*path, str(key)])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _refuse_secrets(value, source, [*path, str(index)])
    elif isinstance(node, str) and _SECRET_VALUE.search(node):
        raise ConfigError(f"{source}: {key_path(path)}: this value holds a credential; {advice}")
