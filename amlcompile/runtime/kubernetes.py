"""A KubernetesPodOperator whose arguments and data are bound at run time, with reuse."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tempfile
from pathlib import Path

from airflow.providers.cncf.kubernetes.backcompat.backwards_compat_converters import (
    convert_env_vars,
)
from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
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

    def run_workload(self, context) -> None:
        """Runs the bound pod (the provider's execute)."""
        KubernetesPodOperator.execute(self, context)

    def _run_pod(self, context, plan, params, fp) -> dict:
        self.ship_snapshot()
        self.bind(context, plan, fp)
        self.run_workload(context)
        metrics = self.collect_metrics(context)
        return {"outputs": self.worker_outputs(context, fp), "metrics": metrics}


# torch.distributed's conventional rendezvous port, and TensorFlow's per-task port.
MASTER_PORT = 29500
TF_PORT = 2222
LAUNCHER = f"{LIB_DIR}/amlcompile_launch.py"


class AmlJobOperator(AmlPodOperator, KubernetesJobOperator):
    """A distributed step: a Kubernetes indexed Job of `node_count` pods of the target's size
    (completionMode Indexed, parallelism = completions = node_count, no retries of single
    pods: one failed pod fails the Job, whose other pods are then stopped) and a headless
    Service named like the Job, so pod i is `<job>-<i>.<job>` in DNS. Each pod starts the
    step through steplib's amlcompile_launch.py, which runs `process_count_per_node`
    processes with their rank variables (JOB_COMPLETION_INDEX is the node rank); rank 0 of
    pod 0 is MASTER_ADDR. Reuse, data binding and staging are AmlPodOperator's."""

    def __init__(self, **kwargs):
        kwargs.setdefault("completion_mode", "Indexed")
        kwargs.setdefault("backoff_limit", 0)
        kwargs.setdefault("wait_until_job_complete", True)
        kwargs.setdefault("ttl_seconds_after_finished", 3600)
        kwargs["random_name_suffix"] = False  # the name is per run and try (job_name)
        super().__init__(**kwargs)
        nodes = int(self.step["distributed"].get("node_count", 1))
        self.completions = self.parallelism = nodes

    def job_name(self, context) -> str:
        """`job-<task>-<hash of dag, run, try>`: a DNS label that pod hostnames
        (`<job>-<index>`) keep under 63 characters."""
        ti = context.get("ti")
        key = f"{self.dag_id}/{context['run_id']}/{getattr(ti, 'try_number', 1)}"
        suffix = hashlib.sha256(key.encode()).hexdigest()[:10]
        task = re.sub(r"[^a-z0-9-]+", "-", self.task_id.lower()).strip("-")[:36].strip("-")
        return f"job-{task or 'step'}-{suffix}"

    def launch_config(self, job: str) -> dict:
        config = {"node_count": 1, "process_count_per_node": 1, **self.step["distributed"]}
        config.update(master_addr=f"{job}-0.{job}", master_port=MASTER_PORT)
        if config["kind"] == "tensorflow":
            nodes = config["node_count"]
            config["tf_addresses"] = [f"{job}-{i}.{job}:{TF_PORT}" for i in range(nodes)]
        return config

    def service_dict(self, job: str) -> dict:
        """The headless Service giving the Job's pods their DNS names (also before they are
        ready: the ranks look each other up while starting)."""
        ports = [{"name": "rendezvous", "port": MASTER_PORT, "targetPort": MASTER_PORT}]
        if self.step["distributed"]["kind"] == "tensorflow":
            ports.append({"name": "tf", "port": TF_PORT, "targetPort": TF_PORT})
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": job,
                "namespace": self.namespace or "default",
                "labels": {"app.kubernetes.io/managed-by": "amlcompile"},
            },
            "spec": {
                "clusterIP": "None",
                "selector": {"job-name": job},
                "publishNotReadyAddresses": True,
                "ports": ports,
            },
        }

    def bind(self, context, plan: dict, fp: str) -> None:
        super().bind(context, plan, fp)
        job = self.job_name(context)
        self.name = job[len("job-") :]  # the provider puts "job-" in front
        env = {e.name: e.value for e in self.env_vars}
        env["AMLCOMPILE_DISTRIBUTED"] = json.dumps(self.launch_config(job), sort_keys=True)
        self.env_vars = convert_env_vars(env)
        if self.cmds[:2] != ["python", LAUNCHER]:
            self.cmds = ["python", LAUNCHER, "--", *self.cmds]
        self.pod_template_dict["spec"]["subdomain"] = job
        self.service = self.service_dict(job)

    def run_workload(self, context) -> None:
        """The Service, then the Job (the provider's execute: create, wait, logs of every
        pod); the Service is deleted whatever the Job's outcome."""
        namespace = self.service["metadata"]["namespace"]
        self.client.create_namespaced_service(namespace=namespace, body=self.service)
        try:
            KubernetesJobOperator.execute(self, context)
        finally:
            self.delete_service()

    def delete_service(self) -> None:
        service = getattr(self, "service", None)
        if service is None:
            return
        try:
            self.client.delete_namespaced_service(
                name=service["metadata"]["name"], namespace=service["metadata"]["namespace"]
            )
        except Exception:  # the Job's outcome matters more than a leftover Service
            self.log.warning("could not delete Service %s", service["metadata"], exc_info=True)
        self.service = None

    def on_kill(self) -> None:
        KubernetesJobOperator.on_kill(self)  # deletes the Job and its pods
        self.delete_service()
