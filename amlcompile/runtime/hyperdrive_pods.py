"""A HyperDriveStep's trials on AmlCompute: one pod per trial (runtime/hyperdrive.py has the
list and best-trial tasks). Apart from `hyperdrive.py` so that a DAG with trials on the
worker does not need the Kubernetes provider."""

from __future__ import annotations

import copy
import threading

from airflow.sdk.exceptions import AirflowSkipException

from .binding import StepError, safe_segment
from .hyperdrive import RUN_OUTPUTS, _Search, _Watching, trial_fingerprint, trial_payload
from .kubernetes import CODE_DIR, AmlPodOperator
from .reuse import REGENERATE_PARAM
from .storage import is_remote, location


class HyperDriveTrialPodOperator(_Watching, _Search, AmlPodOperator):
    """One trial in a pod: the step's script with the trial's hyperparameters after its own
    arguments, reusable on its own fingerprint (as on the worker). Early termination as on
    the worker: the pod appends its `Run.log` lines to its metrics file on the step's record
    datastore (a local, shared folder: the build refuses a policy otherwise), which this task
    watches; a stopped trial's pod is deleted."""

    helper = True

    def __init__(self, *, step: dict, datastores: dict, mount_paths: dict, trial: dict, **kw):
        super().__init__(step=step, datastores=datastores, mount_paths=mount_paths, **kw)
        self.trial = trial
        self._search = self.step["hyperdrive"]
        self._reuse = self.step["allow_reuse"]
        self.step = {**trial_payload(self.step), "allow_reuse": True}
        self._stopped: str | None = None
        self._watch_stop = threading.Event()

    @property
    def search(self) -> dict:
        return self._search

    def plan_entry(self, plan: dict) -> dict:
        entry = dict(plan.get(self.step["name"]) or {})
        entry["fingerprint"] = trial_fingerprint(
            self.trial_base(plan), self.trial["hyperparameters"]
        )
        return entry

    def bind(self, context, plan: dict, fp: str) -> None:
        super().bind(context, plan, fp)
        for name, value in self.trial["hyperparameters"]:
            self.arguments += [str(name), str(value)]
        refs = self.output_refs(context, fp)
        if RUN_OUTPUTS in refs:  # the script's ./outputs is the trial's run_outputs port
            template = copy.deepcopy(self.pod_template_dict)
            spec = template["spec"]
            spec["initContainers"].append(
                {
                    "name": "amlcompile-outputs",
                    "image": self.image,
                    "command": [
                        "sh",
                        "-c",
                        'rm -rf "$2" && ln -s "$1" "$2"',
                        "link",
                        self.pod_path(refs[RUN_OUTPUTS]),
                        f"{CODE_DIR}/outputs",
                    ],
                    "volumeMounts": spec["containers"][0]["volumeMounts"],
                }
            )
            self.pod_template_dict = template

    def metrics_ref(self, context) -> tuple[str, str]:
        """Beside the other trials' (runtime/hyperdrive.live_folder), where the policy reads."""
        run = safe_segment(context["run_id"])
        step = safe_segment(self.step["name"])
        dag = safe_segment(self.dag_id)
        path = f"azureml/_hyperdrive/{dag}/{run}/{step}/trial_{self.trial['index']}.jsonl"
        return self.step["record_datastore"], path

    def stop_trial(self) -> None:
        self.on_kill()  # deletes the pod; the wait for it then fails, and execute skips

    def _run_pod(self, context, plan, params, fp) -> dict:
        if self.search.get("policy"):
            where = location(self.worker_location(self.metrics_ref(context)))
            if is_remote(where):
                raise StepError(
                    f"step {self.step['name']!r}: early termination reads the trials' metrics"
                    " on a local (shared) record datastore"
                )
            where.parent.mkdir(parents=True, exist_ok=True)
            where.unlink(missing_ok=True)  # a retry starts afresh
            where.with_name(f"trial_{self.trial['index']}.status.json").unlink(missing_ok=True)
            self.start_watching(where)
        try:
            return super()._run_pod(context, plan, params, fp)
        finally:
            self._watch_stop.set()

    def execute(self, context):
        if not self._reuse:  # HyperDriveStep(allow_reuse=False): every trial runs
            params = {**(context.get("params") or {}), REGENERATE_PARAM: True}
            context = {**context, "params": params}
        self._stopped = None
        try:
            result = self.run_reusable(context, self._run_pod)
        except Exception:
            if self._stopped is None:
                raise
            index = self.trial["index"]
            self.log.info("trial %d stopped early: %s", index, self._stopped)
            raise AirflowSkipException(f"trial {index} stopped early: {self._stopped}") from None
        return {
            **result,
            "trial": self.trial["index"],
            "hyperparameters": self.trial["hyperparameters"],
        }
