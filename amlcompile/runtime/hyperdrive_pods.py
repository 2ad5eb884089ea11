"""A HyperDriveStep's trials on AmlCompute: one pod per trial (runtime/hyperdrive.py has the
list and best-trial tasks). Apart from `hyperdrive.py` so that a DAG with trials on the
worker does not need the Kubernetes provider."""

from __future__ import annotations

import copy

from .binding import safe_segment
from .hyperdrive import RUN_OUTPUTS, _Search, trial_fingerprint, trial_payload
from .kubernetes import CODE_DIR, AmlPodOperator
from .reuse import REGENERATE_PARAM


class HyperDriveTrialPodOperator(_Search, AmlPodOperator):
    """One trial in a pod: the step's script with the trial's hyperparameters after its own
    arguments, reusable on its own fingerprint (as on the worker). No early termination: the
    build refuses a policy for trials on AmlCompute."""

    helper = True

    def __init__(self, *, step: dict, datastores: dict, mount_paths: dict, trial: dict, **kw):
        super().__init__(step=step, datastores=datastores, mount_paths=mount_paths, **kw)
        self.trial = trial
        self._search = self.step["hyperdrive"]
        self._reuse = self.step["allow_reuse"]
        self.step = {**trial_payload(self.step), "allow_reuse": True}

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
        run = safe_segment(context["run_id"])
        step = safe_segment(self.step["name"])
        dag = safe_segment(self.dag_id)
        path = f"azureml/metrics/{dag}/{run}/{step}/trial_{self.trial['index']}.jsonl"
        return self.step["record_datastore"], path

    def execute(self, context):
        if not self._reuse:  # HyperDriveStep(allow_reuse=False): every trial runs
            params = {**(context.get("params") or {}), REGENERATE_PARAM: True}
            context = {**context, "params": params}
        result = self.run_reusable(context, self._run_pod)
        return {
            **result,
            "trial": self.trial["index"],
            "hyperparameters": self.trial["hyperparameters"],
        }
