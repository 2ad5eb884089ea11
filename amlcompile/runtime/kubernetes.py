"""A KubernetesPodOperator whose arguments and data are bound at run time, with reuse."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

from airflow.providers.cncf.kubernetes.backcompat.backwards_compat_converters import (
    convert_env_vars,
)
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from .binding import render_token, safe_segment, snapshot_folder
from .metrics import METRICS_XCOM_KEY, STEPLIB, collect, step_env, tabular_inputs
from .planner import run_params
from .reusable import ReusableStep
from .storage import copy_tree, datastore_root, location, reference_type

CODE_DIR = "/amlcompile/code"
LIB_DIR = "/amlcompile/lib"  # amlcompile_run, for Run.get_context() in step scripts
INPUTS_DIR = "/amlcompile/inputs"
# Copies (source, target) pairs given as arguments: paths are data to the shell, never code.
STAGE_SCRIPT = (
    'set -eu; while [ "$#" -gt 1 ]; do mkdir -p "$2"; if [ -z "$1" ]; then :;'
    ' elif [ -d "$1" ]; then cp -R "$1"/. "$2"; else cp "$1" "$2"/; fi; shift 2; done'
)


class AmlPodOperator(ReusableStep, KubernetesPodOperator):
    """Nothing user-written is templated (no `{{ }}` surprises, no `.json` file lookups)."""

    template_fields = ()
    template_ext = ()

    def __init__(self, *, step: dict, datastores: dict, mount_paths: dict, **kwargs):
        # The entrypoint, when it is plain text: a script, or a command string for bash. A
        # command list (with parameters or data in it) is bound at run time (bind).
        if "cmds" not in kwargs:
            if step.get("script") is not None:
                kwargs["cmds"] = ["python", step["script"]]
            elif step.get("shell_command") is not None:
                kwargs["cmds"] = ["bash", "-c", step["shell_command"]]
        super().__init__(**kwargs)
        self.take_step(step)
        self.datastores = datastores
        self.mount_paths = mount_paths

    def pod_path(self, ref: tuple[str, str]) -> str:
        datastore, path = ref
        return f"{self.mount_paths[datastore]}/{path}".rstrip("/")

    def bind(self, context, plan: dict, fp: str) -> None:
        """Arguments, command, environment and the staging init container of this run."""
        step, params = self.step, run_params(context)
        ports, stage = {}, []
        snapshot_ref = (step["record_datastore"], f"azureml/snapshots/{step['snapshot']}")
        stage += [self.pod_path(snapshot_ref), CODE_DIR]
        inputs = {port["name"]: port for port in step["inputs"]}
        for name, ref in self.input_refs(context, plan).items():
            if inputs[name].get("mode") == "download":
                target = inputs[name].get("path_on_compute") or f"{INPUTS_DIR}/{name}"
                stage += [self.pod_path(ref), target]
                source = location(self.worker_location(ref))
                is_file = reference_type(source) == "file"
                ports[name] = f"{target}/{source.name}" if is_file else target
            else:
                ports[name] = self.pod_path(ref)
        for name, ref in self.output_refs(context, fp).items():
            ports[name] = self.pod_path(ref)
            stage += ["", ports[name]]  # outputs exist before the step starts, as in Azure ML
        self.arguments = [render_token(t, params, ports, step["name"]) for t in step["arguments"]]
        if step.get("command") is not None:
            self.cmds = [render_token(t, params, ports, step["name"]) for t in step["command"]]
        env = {key: render_token(token, params, ports, step["name"]) for key, token in step["env"]}
        # Run.get_context() in the pod: the step-side library, its metrics file on the
        # record datastore (read back after the pod), the input paths.
        stage += [self.pod_path(self.steplib_ref()), LIB_DIR]
        inputs_only = {name: ports[name] for name in inputs}
        metrics_file = Path(self.pod_path(self.metrics_ref(context)))
        env = step_env(env, inputs_only, metrics_file, tabular_inputs(step))
        env["PYTHONPATH"] = LIB_DIR
        self.env_vars = convert_env_vars(env)
        template = copy.deepcopy(self.pod_template_dict)
        mounts = template["spec"]["containers"][0]["volumeMounts"]
        template["spec"]["initContainers"] = [
            {
                "name": "amlcompile-stage",
                "image": self.image,
                "command": ["sh", "-c", STAGE_SCRIPT, "stage", *stage],
                "volumeMounts": mounts,
            }
        ]
        self.pod_template_dict = template

    def steplib_ref(self) -> tuple[str, str]:
        # Versioned by the runtime package's own name (its content hash).
        version = Path(__file__).resolve().parent.name
        return self.step["record_datastore"], f"azureml/steplib/{version}"

    def metrics_ref(self, context) -> tuple[str, str]:
        run = safe_segment(context["run_id"])
        path = f"azureml/metrics/{safe_segment(self.dag_id)}/{run}/{self.step['name']}.jsonl"
        return self.step["record_datastore"], path

    def collect_metrics(self, context) -> dict:
        """What the pod's script logged through Run.get_context(), pushed like a local step's."""
        where = location(self.worker_location(self.metrics_ref(context)))
        if reference_type(where) != "file":
            return {}
        with tempfile.TemporaryDirectory() as folder:
            local = Path(folder) / "metrics.jsonl"
            copy_tree(where, local)
            metrics = collect(local)
        if metrics:
            context["ti"].xcom_push(key=METRICS_XCOM_KEY, value=metrics)
        return metrics

    def ship_snapshot(self) -> None:
        """Puts the code snapshot on the datastore the pod mounts (once: content-addressed)."""
        step = self.step
        source = snapshot_folder(step)
        root = datastore_root(self.datastores, step["record_datastore"], step["name"])
        target = root / "azureml" / "snapshots" / step["snapshot"]
        if not (target / ".complete").exists():
            copy_tree(source, target)
            (target / ".complete").write_text("")
        lib = root / self.steplib_ref()[1]
        if not (lib / ".complete").exists():
            copy_tree(STEPLIB, lib)
            (lib / ".complete").write_text("")

    def execute(self, context):
        return self.run_reusable(context, self._run_pod)

    def _run_pod(self, context, plan, params, fp) -> dict:
        self.ship_snapshot()
        self.bind(context, plan, fp)
        KubernetesPodOperator.execute(self, context)
        metrics = self.collect_metrics(context)
        return {"outputs": self.worker_outputs(context, fp), "metrics": metrics}
