"""A KubernetesPodOperator whose arguments are bound from typed tokens at run time."""

from __future__ import annotations

from airflow.providers.cncf.kubernetes.backcompat.backwards_compat_converters import (
    convert_env_vars,
)
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from .binding import render_token, safe_segment

# Where datastores appear inside the pod; volumes for them are the compute-target issue's work.
DATA_ROOT = "/mnt/amlcompile"


class AmlPodOperator(KubernetesPodOperator):
    """Nothing user-written is templated (no `{{ }}` surprises, no `.json` file lookups)."""

    template_fields = ()
    template_ext = ()

    def __init__(self, *, step: dict, **kwargs):
        super().__init__(**kwargs)
        self.step = step

    def _ports(self, context) -> dict[str, str]:
        step = self.step
        run = safe_segment(context["run_id"])
        ports = {}
        for port in step["inputs"]:
            if port.get("step"):
                ports[port["name"]] = (
                    f"{DATA_ROOT}/{port['datastore']}/azureml/"
                    f"{safe_segment(self.dag_id)}/{run}/{port['step']}/"
                    f"{port['output']}"
                )
            else:
                ports[port["name"]] = f"{DATA_ROOT}/{port['datastore']}/{port['path']}"
        for port in step["outputs"]:
            ports[port["name"]] = (
                f"{DATA_ROOT}/{port['datastore']}/azureml/"
                f"{safe_segment(self.dag_id)}/{run}/{step['name']}/{port['name']}"
            )
        return ports

    def bind_arguments(self, context) -> list[str]:
        """Arguments, the command (when it holds parameters or data) and the environment."""
        step, params, ports = self.step, dict(context["params"]), self._ports(context)
        if step.get("command") is not None:
            self.cmds = [render_token(t, params, ports, step["name"]) for t in step["command"]]
        self.env_vars = convert_env_vars(
            {key: render_token(token, params, ports, step["name"]) for key, token in step["env"]}
        )
        return [render_token(t, params, ports, step["name"]) for t in step["arguments"]]

    def execute(self, context):
        self.arguments = self.bind_arguments(context)
        return super().execute(context)
