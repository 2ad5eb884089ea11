"""Workspace, Datastore and Experiment with their SDK v1 signatures.

The workspace is the project config (amlcompile.toml) plus what the script registers while
it runs; nothing is provisioned and nothing reaches Azure.
"""

from __future__ import annotations

from pathlib import Path

from .. import config as config_mod
from ..exceptions import DatastoreNotFoundError, UserErrorException
from . import session
from .compute import ComputeTarget, compute_from_config
from .location import caller_location
from .warnings import AzureOnlyAttributeWarning, ignored, warn_once


class Workspace:
    def __init__(
        self,
        subscription_id=None,
        resource_group=None,
        workspace_name=None,
        auth=None,
        _location=None,
        _disable_service_check=False,
        _workspace_id=None,
        sku="basic",
        tags=None,
        _cloud="AzureCloud",
        *,
        _config: config_mod.ProjectConfig | None = None,
    ):
        if _config is None:
            file, _ = caller_location()
            _config = config_mod.load(Path(file).parent if file != "<unknown>" else None)
        self._config = _config
        wcfg = _config.workspace
        self.subscription_id = str(subscription_id or wcfg.subscription_id)
        self.resource_group = str(resource_group or wcfg.resource_group)
        self.name = str(workspace_name or wcfg.name or _config.root.name)
        self.location = str(_location or wcfg.location)
        self.sku = sku
        self.tags = tags or {}
        self.datasets: dict = {}  # registered in this build: Dataset.register
        self.environments: dict = {}  # registered in this build: Environment.register
        self.experiments: dict = _Experiments(self)
        self._datastores: dict[str, Datastore] = {}
        self._computes: dict[str, ComputeTarget] = {}
        for name in _config.datastores:
            self._datastores[name] = Datastore._from_config(self, name)
        for name, c in _config.compute.items():
            self._computes[name] = compute_from_config(self, name, c)
        self._default_datastore = _config.default_datastore

    @classmethod
    def from_config(cls, path=None, auth=None, _logger=None, _file_name=None):
        """Reads amlcompile.toml (or pyproject's [tool.amlcompile]) above `path` or the caller."""
        if path is None:
            file, _ = caller_location()
            start = Path(file).parent if file != "<unknown>" else Path.cwd()
        else:
            start = Path(path)
            start = start.parent if start.is_file() else start
        return cls(_config=config_mod.load(start))

    @classmethod
    def get(
        cls,
        name=None,
        auth=None,
        subscription_id=None,
        resource_group=None,
        location=None,
        cloud="AzureCloud",
        id=None,
    ):
        """The project's workspace (the config above the caller), under the name given."""
        file, _ = caller_location()
        start = Path(file).parent if file != "<unknown>" else Path.cwd()
        return cls(
            subscription_id,
            resource_group,
            name,
            _location=location,
            _config=config_mod.load(start),
        )

    @classmethod
    def create(
        cls, name, auth=None, subscription_id=None, resource_group=None, location=None, **kwargs
    ):
        return cls.get(name, auth, subscription_id, resource_group, location)

    def get_details(self) -> dict:
        return {
            "id": f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.name}",
            "name": self.name,
            "location": self.location,
            "subscriptionId": self.subscription_id,
            "resourceGroup": self.resource_group,
            "sku": self.sku,
            "tags": dict(self.tags),
        }

    def write_config(self, path=None, file_name=None):
        """Azure's config.json is not needed: amlcompile.toml is the workspace."""

    def get_mlflow_tracking_uri(self) -> str:
        return "file:" + str(self._config.state_dir / "mlruns")

    @property
    def datastores(self) -> dict[str, Datastore]:
        return dict(self._datastores)

    @property
    def compute_targets(self) -> dict[str, ComputeTarget]:
        return dict(self._computes)

    def get_default_datastore(self) -> Datastore:
        return self._datastores[self._default_datastore]

    def set_default_datastore(self, name: str) -> None:
        if name not in self._datastores:
            raise UserErrorException(f"unknown datastore {name!r}")
        self._default_datastore = name

    def __repr__(self) -> str:
        return (
            f"Workspace.create(name={self.name!r}, subscription_id={self.subscription_id!r},"
            f" resource_group={self.resource_group!r})"
        )


def not_found_error() -> type:
    """DatastoreNotFoundError, also an msrest HttpOperationError where msrest is installed:
    SDK scripts catch that around `Datastore.get`."""
    try:
        from msrest.exceptions import HttpOperationError
    except ImportError:
        return DatastoreNotFoundError

    def __init__(self, message):  # HttpOperationError wants an HTTP response; there is none
        Exception.__init__(self, message)
        self.message, self.response, self.error = message, None, None

    return type(
        "DatastoreNotFoundError",
        (DatastoreNotFoundError, HttpOperationError),
        {"__init__": __init__, "__str__": lambda self: self.message},
    )


class _Experiments(dict):
    """`ws.experiments[name]`: every experiment name exists (runs create them, as on Azure)."""

    def __init__(self, workspace):
        super().__init__()
        self._workspace = workspace

    def __missing__(self, name):
        self[name] = session.actions().experiment(self._workspace, name)
        return self[name]


class Datastore:
    """A named storage location. `Datastore(ws, name)` looks one up."""

    def __new__(cls, workspace=None, name=None):
        if workspace is not None and name is not None:
            if name in workspace._datastores:
                return workspace._datastores[name]
            # As the SDK: an unknown name raises, so `try: get / except: register` registers.
            known = ", ".join(sorted(workspace._datastores)) or "none"
            raise not_found_error()(
                f"datastore {name!r} not found in the workspace (known: {known}); register it"
                f" or configure [datastores.{name}] in amlcompile.toml"
            )
        return super().__new__(cls)

    def __init__(self, workspace=None, name=None):
        if getattr(self, "_initialised", False):
            return
        self._initialised = True
        self.workspace = workspace
        self.name = name or (workspace._default_datastore if workspace else None)
        self.datastore_type = "Unknown"
        self._location = caller_location()
        # An unknown name is reported by validation with this location, with every other error.
        self._known = False

    @classmethod
    def _from_config(cls, workspace, name):
        ds = super().__new__(cls)
        ds._initialised = True
        ds.workspace = workspace
        ds.name = name
        ds._known = True
        ds._location = ("<config>", 0)
        kind = workspace._config.datastores[name].kind
        ds.datastore_type = {
            "local": "Local",
            "azure_blob": "AzureBlob",
            "adls_gen2": "AzureDataLakeGen2",
            "azure_file": "AzureFile",
            "dbfs": "DBFS",
        }[kind]
        return ds

    @staticmethod
    def get(workspace, datastore_name):
        return Datastore(workspace, datastore_name)

    # ---- registering: the datastore joins this build's workspace; credentials never do ----
    @staticmethod
    def register_azure_blob_container(
        workspace,
        datastore_name,
        container_name,
        account_name,
        sas_token=None,
        account_key=None,
        protocol=None,
        endpoint=None,
        overwrite=False,
        create_if_not_exists=False,
        skip_validation=False,
        blob_cache_timeout=None,
        grant_workspace_access=False,
        subscription_id=None,
        resource_group=None,
    ):
        ignored(  # credentials live in the Airflow connection, never in a build
            "Datastore.register_azure_blob_container",
            sas_token=sas_token,
            account_key=account_key,
            protocol=protocol,
            endpoint=endpoint,
            create_if_not_exists=create_if_not_exists,
            skip_validation=skip_validation,
            blob_cache_timeout=blob_cache_timeout,
            grant_workspace_access=grant_workspace_access,
            subscription_id=subscription_id,
            resource_group=resource_group,
        )
        return Datastore._register(
            workspace, datastore_name, "azure_blob", container_name, account_name, overwrite
        )

    @staticmethod
    def register_azure_file_share(
        workspace,
        datastore_name,
        file_share_name,
        account_name,
        sas_token=None,
        account_key=None,
        protocol=None,
        endpoint=None,
        overwrite=False,
        create_if_not_exists=False,
        skip_validation=False,
    ):
        ignored(
            "Datastore.register_azure_file_share",
            sas_token=sas_token,
            account_key=account_key,
            protocol=protocol,
            endpoint=endpoint,
            create_if_not_exists=create_if_not_exists,
            skip_validation=skip_validation,
        )
        return Datastore._register(
            workspace, datastore_name, "azure_file", file_share_name, account_name, overwrite
        )

    @staticmethod
    def register_azure_data_lake(
        workspace,
        datastore_name,
        store_name,
        tenant_id=None,
        client_id=None,
        client_secret=None,
        resource_url=None,
        authority_url=None,
        subscription_id=None,
        resource_group=None,
        overwrite=False,
        grant_workspace_access=False,
    ):
        """ADLS Gen1 was retired by Microsoft in February 2024: the store is registered as
        an ADLS Gen2 account of the same name (filesystem `store_name`), with a warning."""
        ignored(
            "Datastore.register_azure_data_lake",
            client_secret=client_secret and "(given)",
            tenant_id=tenant_id,
            client_id=client_id,
            resource_url=resource_url,
            authority_url=authority_url,
            subscription_id=subscription_id,
            resource_group=resource_group,
            grant_workspace_access=grant_workspace_access,
        )
        warn_once(
            f"Datastore.register_azure_data_lake({datastore_name!r}): ADLS Gen1 is retired;"
            f" registered as ADLS Gen2 account {store_name!r}, filesystem {store_name!r}"
            f" (configure [datastores.{datastore_name}] to say otherwise)",
            AzureOnlyAttributeWarning,
        )
        return Datastore._register(
            workspace, datastore_name, "adls_gen2", store_name, store_name, overwrite
        )

    @staticmethod
    def register_azure_data_lake_gen2(
        workspace,
        datastore_name,
        filesystem,
        account_name,
        tenant_id=None,
        client_id=None,
        client_secret=None,
        resource_url=None,
        authority_url=None,
        protocol=None,
        endpoint=None,
        overwrite=False,
        subscription_id=None,
        resource_group=None,
        grant_workspace_access=False,
    ):
        ignored(
            "Datastore.register_azure_data_lake_gen2",
            client_secret=client_secret,
            tenant_id=tenant_id,
            client_id=client_id,
            resource_url=resource_url,
            authority_url=authority_url,
            protocol=protocol,
            endpoint=endpoint,
            subscription_id=subscription_id,
            resource_group=resource_group,
            grant_workspace_access=grant_workspace_access,
        )
        return Datastore._register(
            workspace, datastore_name, "adls_gen2", filesystem, account_name, overwrite
        )

    @staticmethod
    def register_dbfs(workspace, datastore_name):
        """The Databricks File System of the workspace's Databricks: data a DatabricksStep
        reads and writes in place (`dbfs:/...`), and the worker reaches through the Airflow
        connection named after the datastore (or `[datastores.<name>] conn_id`)."""
        existing = workspace._config.datastores.get(datastore_name)
        configured = existing is not None and existing.kind == "dbfs"
        root = (existing.path or "") if configured else "/"
        return Datastore._register(workspace, datastore_name, "dbfs", root, None, False)

    @staticmethod
    def _register(workspace, name, kind, path, account_name, overwrite):
        """Adds the datastore to this build's workspace. Its Airflow connection id is the
        config's `[datastores.<name>] conn_id` when set, else the datastore's own name."""
        cfg = workspace._config
        existing = cfg.datastores.get(name)
        if (
            existing is not None
            and not overwrite
            and (existing.kind != kind or (existing.path or "") != str(path))
        ):
            raise UserErrorException(
                f"datastore {name!r} is registered as {kind} {str(path)!r} but configured as"
                f" {existing.kind} {existing.path!r} in {cfg.source or 'the project config'}"
                " (pass overwrite=True to replace it)"
            )
        entry = config_mod.DatastoreConfig(
            kind=kind,
            path=str(path),
            conn_id=(existing.conn_id if existing else None) or str(name),
            account_name=str(account_name) if account_name else None,
            k8s_pvc=existing.k8s_pvc if existing else None,
            k8s_secret_name=existing.k8s_secret_name if existing else None,
            shared=bool(existing and existing.shared and kind == "local"),
        )
        workspace._config = cfg.model_copy(update={"datastores": {**cfg.datastores, name: entry}})
        ds = Datastore._from_config(workspace, name)
        ds._location = caller_location()
        workspace._datastores[name] = ds
        return ds

    @staticmethod
    def get_default(workspace):
        return workspace.get_default_datastore()

    def set_as_default(self):
        self.workspace.set_default_datastore(self.name)

    def upload_files(
        self, files, relative_root=None, target_path=None, overwrite=False, show_progress=True
    ):
        """Copies files onto the datastore (deferred to `amlcompile run` during a build)."""
        file, _ = caller_location()
        base = Path(file).parent if file != "<unknown>" else Path.cwd()
        pairs = []
        for f in files:
            src = _resolve_local(f, base)
            rel = (
                Path(src).relative_to(Path(relative_root).resolve())
                if relative_root
                else Path(src).name
            )
            pairs.append((str(src), str(Path(target_path or "") / rel).replace("\\", "/")))
        return self._upload(pairs, overwrite, show_progress)

    def upload(self, src_dir, target_path=None, overwrite=False, show_progress=True):
        file, _ = caller_location()
        base = Path(file).parent if file != "<unknown>" else Path.cwd()
        src_root = Path(_resolve_local(src_dir, base))
        pairs = [
            (str(p), str(Path(target_path or "") / p.relative_to(src_root)).replace("\\", "/"))
            for p in sorted(src_root.rglob("*"))
            if p.is_file()
        ]
        return self._upload(pairs, overwrite, show_progress)

    def _upload(self, pairs, overwrite, show_progress):
        build = session.current()
        if build is not None:
            build.uploads.append(session.Upload(self.name, pairs, overwrite))
            return None
        from .. import uploads

        cfg = self.workspace._config
        entry = uploads.entry_for(self.name, uploads.store_of(cfg, self.name), pairs, overwrite)
        # Outside a build (the script run with python): now, as deploy would make it.
        uploads.perform({"": [entry]}, progress=print if show_progress else lambda line: None)
        return None

    def download(self, target_path, prefix=None, overwrite=False, show_progress=True):
        """Copies the datastore's files (those under `prefix`) into the local folder
        `target_path`, keeping their paths, as the SDK did; returns how many it copied. A
        build reads no remote data: during one, a remote datastore's files are not fetched
        (a warning says so) and 0 is returned."""
        from .. import uploads

        cfg = self.workspace._config
        store = uploads.store_of(cfg, self.name)
        if session.current() is not None and store["kind"] != "local":
            warn_once(
                f"Datastore.download of {self.name!r} ({store['kind']}): a build does not"
                " fetch remote data; nothing was downloaded"
            )
            return 0
        copied = uploads.download(
            self.name, store, str(prefix or ""), Path(target_path), bool(overwrite)
        )
        if show_progress:
            print(f"downloaded {copied} files from {self.name} to {target_path}")
        return copied

    def as_mount(self):
        from .data import DataReference

        return DataReference(
            self, data_reference_name=self.name, path_on_datastore=None, mode="mount"
        )

    def path(self, path=None, data_reference_name=None):
        from .data import DataReference

        return DataReference(self, data_reference_name=data_reference_name, path_on_datastore=path)

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r}, type={self.datastore_type!r})"


def _resolve_local(path, base: Path) -> str:
    p = Path(path)
    if p.is_absolute():
        return str(p)
    for candidate in (Path.cwd() / p, base / p):
        if candidate.exists():
            return str(candidate.resolve())
    raise UserErrorException(
        f"upload source {str(path)!r} not found (looked in {Path.cwd()} and {base})"
    )


__all__ = ["Workspace", "Datastore", "ignored"]
