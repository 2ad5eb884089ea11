"""DatabricksStep → the provider's DatabricksSubmitRunOperator, with data and parameters bound
at run time and Azure ML-style reuse."""

from __future__ import annotations

import base64

from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

from .binding import render_token, snapshot_folder
from .reusable import ReusableStep
from .uris import storage_uri

DBFS_SNAPSHOTS = "dbfs:/amlcompile/snapshots"
_DBFS_CHUNK = 1 << 20  # dbfs add-block takes at most 1 MB per call


class AmlDatabricksOperator(ReusableStep, DatabricksSubmitRunOperator):
    """Submits the step as a one-time Databricks run and waits for its end.

    Nothing is Jinja-templated; parameters come from typed tokens. Inputs and outputs reach
    the job as storage URIs: notebook parameters named after the data for notebooks,
    `-<name> <uri>` pairs after the script's or JAR's own parameters otherwise.
    """

    template_fields = ()
    template_ext = ()
    ui_color = "#fde68a"

    def __init__(self, *, step: dict, datastores: dict, databricks: dict, **kwargs):
        super().__init__(**kwargs)
        self.take_step(step)
        self.datastores = datastores
        self.databricks = databricks

    def execute(self, context):
        return self.run_reusable(context, self._submit)

    def _submit(self, context, plan, params, fp) -> dict:
        step, spec = self.step, self.databricks
        refs = {**self.input_refs(context, plan), **self.output_refs(context, fp)}
        uris = {
            port: storage_uri(self.datastores, ds, path, step["name"])
            for port, (ds, path) in refs.items()
        }

        def value(token) -> str:
            return render_token(token, params, uris, step["name"])

        data_args = []
        for port in [*step["inputs"], *step["outputs"]]:
            data_args += [f"-{port['name']}", uris[port["name"]]]
        task = spec["task"]
        if task == "notebook":
            base = {key: value(tok) for key, tok in spec.get("notebook_params", [])}
            base.update({port: uri for port, uri in uris.items()})
            notebook = {"notebook_path": spec["notebook_path"], "base_parameters": base}
            job = {"notebook_task": notebook}
        elif task == "spark_jar":
            job = {
                "spark_jar_task": {
                    "main_class_name": spec["main_class_name"],
                    "parameters": [value(t) for t in spec.get("params", [])] + data_args,
                }
            }
        else:
            python_file = spec.get("python_script_path") or self._upload_snapshot()
            job = {
                "spark_python_task": {
                    "python_file": python_file,
                    "parameters": [value(t) for t in spec.get("params", [])] + data_args,
                }
            }
        if spec.get("existing_cluster_id"):
            job["existing_cluster_id"] = spec["existing_cluster_id"]
        else:
            job["new_cluster"] = spec["new_cluster"]
        if spec.get("libraries"):
            job["libraries"] = spec["libraries"]
        job["run_name"] = spec.get("run_name") or f"{self.dag_id}.{step['name']}"
        if spec.get("timeout_seconds"):
            job["timeout_seconds"] = spec["timeout_seconds"]
        self.json = job
        DatabricksSubmitRunOperator.execute(self, context)
        return {"outputs": self.worker_outputs(context, fp)}

    def _upload_snapshot(self) -> str:
        """Copies the step's code snapshot to DBFS once (content-addressed) → the script path."""
        step, hook = self.step, self._hook
        target = f"{DBFS_SNAPSHOTS}/{step['snapshot']}"
        script = f"{target}/{self.databricks['python_script_name']}"
        marker = f"{target}/.complete"
        try:
            hook._do_api_call(("GET", "2.0/dbfs/get-status"), {"path": marker})
            return script
        except Exception:  # noqa: BLE001 - any failure means "not there yet": upload again
            pass
        folder = snapshot_folder(step)
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            self._put(f"{target}/{file.relative_to(folder).as_posix()}", file.read_bytes())
        self._put(marker, b"")
        return script

    def _put(self, path: str, data: bytes) -> None:
        hook = self._hook
        handle = hook._do_api_call(("POST", "2.0/dbfs/create"), {"path": path, "overwrite": True})[
            "handle"
        ]
        for start in range(0, len(data), _DBFS_CHUNK):
            chunk = base64.b64encode(data[start : start + _DBFS_CHUNK]).decode()
            hook._do_api_call(("POST", "2.0/dbfs/add-block"), {"handle": handle, "data": chunk})
        hook._do_api_call(("POST", "2.0/dbfs/close"), {"handle": handle})
