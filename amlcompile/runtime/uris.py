"""Datastore paths as the URIs that remote services (Databricks, ADLA) read them by."""

from __future__ import annotations

from pathlib import Path

from .binding import StepError


def storage_uri(datastores: dict, datastore: str, path: str, step: str) -> str:
    """The URI a Databricks cluster reads a datastore path by, as Azure ML passed it."""
    ds = datastores.get(datastore)
    if ds is None:
        raise StepError(f"step {step!r}: datastore {datastore!r} is not defined in this DAG")
    path = path.lstrip("/")
    if ds["kind"] == "azure_blob":
        return f"wasbs://{ds['path']}@{ds['account_name']}.blob.core.windows.net/{path}"
    if ds["kind"] == "adls_gen2":
        return f"abfss://{ds['path']}@{ds['account_name']}.dfs.core.windows.net/{path}"
    if ds["kind"] == "dbfs":  # the datastore's folder on the workspace's own DBFS
        root = "/".join(p for p in str(ds.get("path") or "").split("/") if p)
        return "dbfs:/" + "/".join(p for p in (root, path) if p)
    if ds["kind"] == "local":  # a folder the cluster shares with the worker (tests, DBFS FUSE)
        return "file://" + str(Path(ds["path"]) / path)
    raise StepError(f"step {step!r}: Databricks cannot read {ds['kind']} datastore {datastore!r}")
