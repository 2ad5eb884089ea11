"""ParallelRunStep on AmlCompute (docs/parallel-run.md): the mapped task as pods.

`ParallelRunBatchPodOperator` is the pod variant of `parallel.ParallelRunBatchOperator`: one
mapped task instance per worker process group, each one pod (AmlPodOperator: the target's
image, resources, node selector, volumes and pool) running steplib's amlcompile_parallel.py
with the same job description the worker variant gives its subprocess, its paths those of the
pod's datastore mounts. The job file and the per-batch result files are on the record
datastore, which both the worker and the pod see (a local datastore: a PersistentVolumeClaim
in the pod). After the pod, the worker reads the results and writes each complete batch's
record last, exactly as the worker variant does. The split and gather tasks stay on the
worker.
"""

from __future__ import annotations

import json
import os

from airflow.providers.cncf.kubernetes.backcompat.backwards_compat_converters import (
    convert_env_vars,
)

from .binding import StepError, render_token, safe_segment
from .kubernetes import CODE_DIR, LIB_DIR, STAGE_SCRIPT, AmlPodOperator
from .parallel import OWN, ROWS, ParallelRunBatchOperator, _ParallelBase, spec_of
from .planner import plan_of, run_params
from .storage import is_remote, location, open_store, remove_tree

POD_DRIVER = f"{LIB_DIR}/amlcompile_parallel.py"
POD_OUTPUT_DIR = "/amlcompile/own"  # EntryScript().output_dir in the pod (its own disk)


class ParallelRunBatchPodOperator(_ParallelBase, AmlPodOperator):
    """A group of mini-batches as one pod: init() once, then run() per mini-batch."""

    ui_color = "#fde68a"
    template_fields = ()
    template_ext = ()

    # The worker variant's batch folders and records, unchanged.
    batch_ref = ParallelRunBatchOperator.batch_ref
    _record = ParallelRunBatchOperator._record

    def __init__(self, *, step: dict, datastores: dict, mount_paths: dict, batches: list, **kwargs):
        kwargs.setdefault("cmds", ["python", POD_DRIVER])
        AmlPodOperator.__init__(
            self, step=step, datastores=datastores, mount_paths=mount_paths, **kwargs
        )
        self.batches = batches
        # The instance's return value (its mini-batches' results) is the XCom the step's own
        # task gathers; KubernetesPodOperator turns that off by default, and with it on it
        # would add its XCom sidecar to the pod: run_workload turns it off for the pod.
        self.do_xcom_push = True

    def run_workload(self, context) -> None:
        """The pod (the provider's execute) without the provider's XCom sidecar: the results
        are on the datastore, read by execute."""
        push, self.do_xcom_push = self.do_xcom_push, False
        try:
            AmlPodOperator.run_workload(self, context)
        finally:
            self.do_xcom_push = push

    def work_ref(self, context) -> tuple[str, str]:
        """This instance's job file and result files, on the record datastore."""
        ti = context.get("ti")
        index = getattr(ti, "map_index", None)
        return (
            self.step["record_datastore"],
            f"azureml/prs/{safe_segment(self.dag_id)}/{safe_segment(context['run_id'])}"
            f"/{self.step['name']}/{0 if index is None or index < 0 else index}",
        )

    def execute(self, context):
        step = self.step
        spec = spec_of(step)
        plan = plan_of(context)
        params = run_params(context)
        store = open_store(self.datastores, step["record_datastore"], step["name"])
        reusable = self.reuse_batches(context)
        folders = {}
        for batch in self.batches:
            folder = location(self.worker_location(self.batch_ref(context, batch)))
            if is_remote(folder):
                raise StepError(
                    f"step {step['name']!r}: mini-batches need a local record datastore"
                )
            remove_tree(folder)  # a retry starts afresh; the record is written last
            (folder / OWN).mkdir(parents=True)
            folders[batch["key"]] = folder
        work_ref = self.work_ref(context)
        work = location(self.worker_location(work_ref))
        if is_remote(work):
            raise StepError(f"step {step['name']!r}: mini-batches need a local record datastore")
        remove_tree(work)
        work.mkdir(parents=True)
        self.ship_snapshot()
        job = self.job(context, plan, params, spec, work_ref)
        (work / "job.json").write_text(json.dumps(job))
        self.bind_pod(context, params, job, f"{self.pod_path(work_ref)}/job.json")
        self.run_workload(context)
        results = []
        for batch in self.batches:
            result_file = work / f"{batch['index']}.json"
            if not result_file.is_file():
                raise StepError(
                    f"step {step['name']!r}: the pod of mini-batches"
                    f" {', '.join(str(b['index']) for b in self.batches)} left no result for"
                    f" mini-batch {batch['index']}"
                )
            result = json.loads(result_file.read_text())
            result.update(
                index=batch["index"], key=batch["key"], location=str(folders[batch["key"]])
            )
            if result["error"] or result["failed_items"]:
                why = result["error"] or (
                    f"run() returned {result['returned']} results for {result['items']} files"
                )
                self.log.warning(
                    "step %s: mini-batch %s failed: %s", step["name"], batch["index"], why
                )
                result["error"] = why[-4000:]
            elif reusable:
                self._record(store, folders[batch["key"]], batch, context)
            results.append(result)
        remove_tree(work)
        return {"batches": results}  # the step's own task decides (error_threshold)

    def batch_input_paths(self, context, plan: dict, spec: dict) -> dict[str, tuple[str, bool]]:
        """Each mini-batch input: (its path in the pod, whether it is a single file)."""
        refs = self.input_refs(context, plan)
        out = {}
        for port in spec["batch_inputs"]:
            where = self.worker_location(refs[port])
            if is_remote(location(where)):
                raise StepError(
                    f"step {self.step['name']!r}: input {port!r} is on a remote datastore; a"
                    " ParallelRunStep reads mini-batches from local datastores only (so far)"
                )
            out[port] = (self.pod_path(refs[port]), os.path.isfile(where))
        return out

    def job(self, context, plan, params, spec, work_ref) -> dict:
        """amlcompile_parallel.py's job description, as the worker variant writes it, with the
        pod's paths."""
        step = self.step
        roots = self.batch_input_paths(context, plan, spec)
        tabular = {p["name"]: p.get("tabular") for p in step["inputs"]}
        refs = self.input_refs(context, plan)
        ports = {
            p["name"]: self.pod_path(refs[p["name"]])
            for p in step["inputs"]
            if p["name"] not in spec["batch_inputs"]
        }
        self._side = dict(ports)  # Run.get_context()'s input datasets, as the worker variant
        for port, (path, _) in roots.items():
            ports[port] = path
        for port in step["outputs"]:  # the entry script's own files
            ports[port["name"]] = POD_OUTPUT_DIR
        jobs = []
        work = self.pod_path(work_ref)
        for batch in self.batches:
            files, tables = [], {}
            for port, name in batch["files"]:
                path, is_file = roots[port]
                files.append(path if is_file else f"{path}/{name}")
                if tabular.get(port) is not None:
                    tables.setdefault(port, {"path": path, "spec": tabular[port]})
                    tables[port].setdefault("files", []).append(name)
            folder = self.pod_path(self.batch_ref(context, batch))
            jobs.append(
                {
                    "index": batch["index"],
                    "tables": list(tables.values()),
                    "mini_batch": files,
                    "rows_file": f"{folder}/{ROWS}",
                    "result_file": f"{work}/{batch['index']}.json",
                    "own_dir": f"{folder}/{OWN}",
                }
            )
        self._ports = ports
        return {
            "entry_script": f"{CODE_DIR}/{step['script']}",
            "argv": [render_token(t, params, ports, step["name"]) for t in step["arguments"]],
            "timeout": spec["run_invocation_timeout"],
            "max_try": spec["run_max_try"],
            "output_dir": POD_OUTPUT_DIR,
            "batches": jobs,
        }

    def bind_pod(self, context, params: dict, job: dict, job_file: str) -> None:
        """The pod's command, environment and staging init container (code and steplib)."""
        step, spec = self.step, spec_of(self.step)
        self.cmds = ["python", POD_DRIVER]
        self.arguments = [job_file]
        env = {
            key: render_token(token, params, self._ports, step["name"])
            for key, token in step["env"]
        }
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": LIB_DIR,
                "AZUREML_RUN_ID": f"{context['run_id']}/{step['name']}",
                "AMLCOMPILE_STEP": step["name"],
                "AMLCOMPILE_DAG_ID": self.dag_id,
                "AMLCOMPILE_PRS_OUTPUT_DIR": POD_OUTPUT_DIR,
                "AMLCOMPILE_PRS_LOG_LEVEL": spec["logging_level"],
                # Run.get_context() in the entry script: beside the job, removed after it
                "AMLCOMPILE_METRICS_FILE": f"{job_file.rsplit('/', 1)[0]}/metrics.jsonl",
                "AMLCOMPILE_INPUT_DATASETS": json.dumps(self._side, sort_keys=True),
            }
        )
        self.env_vars = convert_env_vars(env)
        snapshot = (step["record_datastore"], f"azureml/snapshots/{step['snapshot']}")
        stage = [self.pod_path(snapshot), CODE_DIR, self.pod_path(self.steplib_ref()), LIB_DIR]
        stage += ["", POD_OUTPUT_DIR]
        template = json.loads(json.dumps(self.pod_template_dict))
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


__all__ = ["ParallelRunBatchPodOperator"]
