"""Compute targets. Creating or attaching one records it in the compile-time workspace."""

from __future__ import annotations

from ..exceptions import ComputeTargetException
from .location import caller_location
from .warnings import azure_only_attribute, ignored, non_default


class _Status:
    def __init__(self, target):
        self._target = target

    def serialize(self) -> dict:
        return {
            "name": self._target.name,
            "type": self._target.type,
            "provisioningState": "Succeeded",
            "note": "recorded at compile time; nothing is provisioned",
        }


class ComputeTarget:
    """`ComputeTarget(ws, name)` (or `AmlCompute(ws, name)`, ...) finds a target of the
    workspace or raises ComputeTargetException, as the SDK does, so the get-or-create idiom
    (`try: lookup; except ComputeTargetException: create`) takes its create branch."""

    type = "Unknown"
    _kind = "local"

    def __new__(cls, workspace=None, name=None):
        if workspace is None or name is None or cls is LocalCompute:
            return super().__new__(cls)
        found = workspace._computes.get(name)
        if found is None:
            raise ComputeTargetException(
                f"ComputeTargetNotFound: compute target {name!r} not found in the workspace"
                " (create or attach it, or configure [compute.<name>] in amlcompile.toml)"
            )
        if cls is not ComputeTarget and not isinstance(found, cls):
            raise ComputeTargetException(
                f"compute target {name!r} is a {found.type} target, not {cls.type}"
            )
        return found

    def __init__(self, workspace=None, name=None):
        if getattr(self, "_initialised", False):
            return
        self._init(workspace, name)

    def _init(self, workspace, name) -> None:
        self._initialised = True
        self.workspace = workspace
        self.name = name
        self.provisioning_configuration = None
        self._from_config = False

    @classmethod
    def _make(cls, workspace, name):
        target = object.__new__(cls)
        target._init(workspace, name)
        return target

    @staticmethod
    def create(workspace, name, provisioning_configuration):
        existing = workspace._computes.get(name)
        if existing is not None and existing._from_config:
            # The project config describes the real cluster: it wins over the script. What
            # the config leaves out (often vm_size and node counts) comes from the script.
            _fill_from_script(existing, provisioning_configuration)
            return existing
        target = provisioning_configuration._target_class._make(workspace, name)
        target.provisioning_configuration = provisioning_configuration
        target._location = provisioning_configuration._location
        workspace._computes[name] = target
        return target

    @staticmethod
    def attach(workspace, name, attach_configuration):
        return ComputeTarget.create(workspace, name, attach_configuration)

    @staticmethod
    def list(workspace):
        return list(workspace._computes.values())

    # Azure-only attributes scripts print: a neutral value and one warning.
    @property
    def provisioning_state(self):
        return azure_only_attribute(type(self).__name__, "provisioning_state", "Succeeded")

    @property
    def cluster_resource_id(self):
        return azure_only_attribute(type(self).__name__, "cluster_resource_id", None)

    @property
    def location(self):
        return azure_only_attribute(type(self).__name__, "location", "local")

    @property
    def provisioning_errors(self):
        return azure_only_attribute(type(self).__name__, "provisioning_errors", None)

    def wait_for_completion(
        self,
        show_output=False,
        min_node_count=None,
        timeout_in_minutes=25,
        is_delete_operation=False,
    ):
        return None

    @property
    def status(self):
        return _Status(self)

    def get_status(self):
        return self.status

    def delete(self):
        self.workspace._computes.pop(self.name, None)

    def detach(self):
        self.delete()

    # what the IR needs
    def _ir_fields(self) -> dict:
        return {"kind": self._kind, **self._config_fields()}

    def _config_fields(self) -> dict:
        """What the project config says of this target (connection ids, account names)."""
        fields: dict = {}
        location = getattr(self, "_location", None)
        if location is not None:
            fields["location"] = location  # (file, line): capture makes it project-relative
        cfg = getattr(self.workspace, "_config", None)
        entry = cfg.compute.get(self.name) if cfg is not None else None
        if entry is not None and entry.conn_id:
            fields["conn_id"] = entry.conn_id
        if entry is not None and entry.account_name:
            fields["account_name"] = entry.account_name
        if entry is not None and entry.kind == "amlcompute":
            overrides = {
                "cpu": entry.cpu,
                "memory_gib": entry.memory_gib,
                "gpus": entry.gpus,
                "gpu_resource": entry.gpu_resource,
                "node_selector": None
                if entry.node_selector is None
                else tuple(sorted(entry.node_selector.items())),
            }
            if any(v is not None for v in overrides.values()):
                fields["resources"] = overrides
        return fields

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class _Config:
    def __init__(self, target_class, **values):
        self._target_class = target_class
        self._location = caller_location()
        self.__dict__.update(values)


class AmlCompute(ComputeTarget):
    type = "AmlCompute"
    _kind = "amlcompute"

    @staticmethod
    def provisioning_configuration(
        vm_size="",
        vm_priority="dedicated",
        min_nodes=0,
        max_nodes=None,
        idle_seconds_before_scaledown=1800,
        admin_username=None,
        admin_user_password=None,
        admin_user_ssh_key=None,
        vnet_resourcegroup_name=None,
        vnet_name=None,
        subnet_name=None,
        tags=None,
        description=None,
        remote_login_port_public_access="NotSpecified",
        identity_type=None,
        identity_id=None,
        location=None,
        enable_node_public_ip=True,
    ):
        # Only the size and node counts reach the Kubernetes lowering; the rest is Azure's.
        ignored(
            "AmlCompute.provisioning_configuration",
            **non_default(
                AmlCompute.provisioning_configuration,
                locals(),
                "vm_priority",
                "idle_seconds_before_scaledown",
                "admin_username",
                "admin_user_password",
                "admin_user_ssh_key",
                "vnet_resourcegroup_name",
                "vnet_name",
                "subnet_name",
                "tags",
                "description",
                "remote_login_port_public_access",
                "identity_type",
                "identity_id",
                "location",
                "enable_node_public_ip",
            ),
        )
        return _Config(
            AmlCompute,
            vm_size=vm_size,
            min_nodes=min_nodes,
            max_nodes=max_nodes,
            tags=tags,
            description=description,
        )

    def _ir_fields(self) -> dict:
        cfg = self.provisioning_configuration
        return {
            **super()._ir_fields(),
            "vm_size": getattr(cfg, "vm_size", None) or None,
            "min_nodes": getattr(cfg, "min_nodes", None),
            "max_nodes": getattr(cfg, "max_nodes", None),
        }


class DatabricksCompute(ComputeTarget):
    type = "Databricks"
    _kind = "databricks"

    @staticmethod
    def attach_configuration(
        resource_group=None, workspace_name=None, resource_id=None, access_token=""
    ):
        # The token is a secret: it is never kept. Airflow's databricks connection holds it.
        ignored(
            "DatabricksCompute.attach_configuration",
            resource_group=resource_group,
            resource_id=resource_id,
            access_token=access_token and "(use the Airflow connection instead)",
        )
        return _Config(
            DatabricksCompute,
            resource_group=resource_group,
            workspace_name=workspace_name,
            resource_id=resource_id,
        )

    def _ir_fields(self) -> dict:
        # The Airflow connection holds the workspace URL and token; its id defaults to the
        # provider's default and can be set per target in the project config.
        return {"conn_id": "databricks_default", **super()._ir_fields()}


class AdlaCompute(ComputeTarget):
    type = "ADLAnalytics"
    _kind = "adla"

    @staticmethod
    def attach_configuration(resource_group=None, account_name=None, resource_id=None):
        return _Config(
            AdlaCompute,
            resource_group=resource_group,
            account_name=account_name,
            resource_id=resource_id,
        )

    def _ir_fields(self) -> dict:
        cfg = self.provisioning_configuration
        account = getattr(cfg, "account_name", None) or _account_from_id(
            getattr(cfg, "resource_id", None)
        )
        return {"account_name": account or self.name, **super()._ir_fields()}


def _account_from_id(resource_id) -> str | None:
    """.../providers/Microsoft.DataLakeAnalytics/accounts/<name> → <name>."""
    if not resource_id:
        return None
    parts = str(resource_id).rstrip("/").split("/")
    return parts[-1] if len(parts) > 1 and parts[-2].lower() == "accounts" else None


class DataFactoryCompute(ComputeTarget):
    type = "DataFactory"
    _kind = "datafactory"

    @staticmethod
    def provisioning_configuration(location=None):
        return _Config(DataFactoryCompute, location=location)

    @staticmethod
    def attach_configuration(resource_group=None, factory_name=None, resource_id=None):
        return _Config(
            DataFactoryCompute,
            resource_group=resource_group,
            factory_name=factory_name,
            resource_id=resource_id,
        )


class LocalCompute(ComputeTarget):
    """Runs steps on the Airflow worker (amlcompile's own target, the default)."""

    type = "Local"
    _kind = "local"

    def __init__(self, workspace=None, name="local"):
        super().__init__(workspace, name)

    def __new__(cls, workspace=None, name="local"):
        return object.__new__(cls)


_CLASSES = {
    "amlcompute": AmlCompute,
    "databricks": DatabricksCompute,
    "adla": AdlaCompute,
    "datafactory": DataFactoryCompute,
    "local": LocalCompute,
}


def _fill_from_script(target, script_config) -> None:
    """A configured AmlCompute without vm_size / node counts takes the script's."""
    mine = target.provisioning_configuration
    if mine is None or not isinstance(script_config, _Config):
        return
    if script_config._target_class is not type(target):
        return
    for key in ("vm_size", "min_nodes", "max_nodes"):
        if getattr(mine, key, None) in (None, "") and getattr(script_config, key, None):
            setattr(mine, key, getattr(script_config, key))


def compute_from_config(workspace, name, cfg):
    target = _CLASSES[cfg.kind]._make(workspace, name)
    target._from_config = True
    if cfg.kind == "amlcompute":
        target.provisioning_configuration = _Config(
            AmlCompute, vm_size=cfg.vm_size, min_nodes=cfg.min_nodes, max_nodes=cfg.max_nodes
        )
    if cfg.kind == "adla":
        target.provisioning_configuration = _Config(AdlaCompute, account_name=cfg.account_name)
    # Errors about a target from the config point at the config file.
    target._location = (workspace._config.source or "amlcompile.toml", 0)
    return target
