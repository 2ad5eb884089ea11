"""The operator that runs a Python-script or command step on the Airflow worker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path

from airflow.sdk import BaseOperator

from .binding import StepError, bind_input, datastore_root, render_token, safe_segment

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"


class LocalStepOperator(BaseOperator):
    """Runs one step from its code snapshot in a subprocess.

    Nothing here is templated: argument values come from typed tokens (literals, pipeline
    parameters from `params`, data paths), so user strings containing `{{ }}` reach the
    program unchanged, and no value is ever parsed by a shell.
    """

    template_fields = ()
    ui_color = "#dbeafe"

    def __init__(self, *, step: dict, datastores: dict, **kwargs):
        super().__init__(**kwargs)
        self.step = step
        self.datastores = datastores
        self._proc = None

    # ---- binding ----
    def _ports(self, context, workdir: Path) -> tuple[dict, dict]:
        step = self.step
        ti = context["ti"]
        ports: dict[str, str] = {}
        for port in step["inputs"]:
            if port.get("step"):
                upstream = ti.xcom_pull(task_ids=port["step"]) or {}
                path = (upstream.get("outputs") or {}).get(port["output"])
                if path is None:
                    raise StepError(
                        f"step {step['name']!r}: upstream step {port['step']!r}"
                        f" recorded no output {port['output']!r}"
                    )
                source = Path(path)
            else:
                source = (
                    datastore_root(self.datastores, port["datastore"], step["name"]) / port["path"]
                )
            ports[port["name"]] = bind_input(port, source, workdir)
        outputs: dict[str, str] = {}
        run = safe_segment(context["run_id"])
        for port in step["outputs"]:
            root = datastore_root(self.datastores, port["datastore"], step["name"])
            path = root / "azureml" / safe_segment(self.dag_id) / run / step["name"] / port["name"]
            if path.exists():  # a retry starts from an empty output folder
                shutil.rmtree(path)
            path.mkdir(parents=True)
            outputs[port["name"]] = str(path)
        ports.update(outputs)
        return ports, outputs

    def _argv(self, params: dict, ports: dict) -> list[str]:
        step = self.step
        args = [render_token(t, params, ports, step["name"]) for t in step["arguments"]]
        if step["kind"] == "python_script":
            return [sys.executable, step["script"], *args]
        if step.get("shell_command") is not None:
            return ["bash", "-c", step["shell_command"], *args]
        argv = [render_token(t, params, ports, step["name"]) for t in step["command"]] + args
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable  # the worker's interpreter, not whatever is first on PATH
        return argv

    def execute(self, context):
        step = self.step
        params = dict(context["params"])
        snapshot = SNAPSHOTS / step["snapshot"]
        if not snapshot.is_dir():
            raise StepError(
                f"step {step['name']!r}: code snapshot {snapshot} is missing;"
                " redeploy the whole dags_out/ folder"
            )
        workdir = Path(tempfile.mkdtemp(prefix=f"amlcompile-{safe_segment(step['name'])}-"))
        try:
            shutil.copytree(snapshot, workdir, dirs_exist_ok=True)
            ports, outputs = self._ports(context, workdir)
            argv = self._argv(params, ports)
            env = dict(os.environ)
            for key, token in step["env"]:
                env[key] = render_token(token, params, ports, step["name"])
            env.update(
                {
                    "PYTHONUNBUFFERED": "1",
                    "AZUREML_RUN_ID": f"{context['run_id']}/{step['name']}",
                    "AMLCOMPILE_STEP": step["name"],
                    "AMLCOMPILE_DAG_ID": self.dag_id,
                }
            )
            self.log.info("step %s: running %s", step["name"], argv[1:] if argv else argv)
            tail: deque[str] = deque(maxlen=20)
            self._proc = subprocess.Popen(
                argv,
                cwd=workdir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            assert self._proc.stdout is not None
            for line in self._proc.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                self.log.info("%s", line)
            code = self._proc.wait()
            if code != 0:
                raise StepError(
                    f"step {step['name']!r} failed: exit code {code}\n" + "\n".join(tail)
                )
            return {"outputs": outputs, "log_tail": list(tail)}
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def on_kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
