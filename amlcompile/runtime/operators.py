"""The operator that runs a Python-script or command step on the Airflow worker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path

from airflow.sdk import BaseOperator

from .binding import StepError, input_path, render_token, safe_segment, snapshot_folder
from .metrics import METRICS_XCOM_KEY, STEPLIB, collect, step_env, tabular_inputs
from .planner import run_params, upstream_output
from .reusable import ReusableStep
from .steplib.amlcompile_run import read_metrics_file
from .storage import (
    bind_input,
    copy_tree,
    datastore_root,
    is_remote,
    local_target,
    location,
    remove_tree,
)


def staging_dir(workdir: Path) -> Path:
    """Where a step writes outputs bound for a remote datastore (beside, not in, its code)."""
    return workdir.parent / f"{workdir.name}-outputs"


class LocalStepOperator(ReusableStep, BaseOperator):
    """Runs one step from its code snapshot in a subprocess, with Azure ML-style reuse.

    Nothing here is templated: argument values come from typed tokens (literals, pipeline
    parameters from `params`, data paths), so user strings containing `{{ }}` reach the
    program unchanged, and no value is ever parsed by a shell.

    Reuse: the run's planner computed this step's fingerprint. If a completed record appeared
    since, the step is skipped and hands on the recorded outputs; if another run is computing
    the same fingerprint right now, the step reschedules itself (no worker slot held) until
    that run's record appears; otherwise it claims the fingerprint, runs, and writes the record
    last, only after success.
    """

    template_fields = ()
    ui_color = "#dbeafe"

    def __init__(self, *, step: dict, datastores: dict, xcom_log_tail: int = 20, **kwargs):
        """xcom_log_tail: how many of the step's last output lines its XCom keeps (the
        return value's "log_tail"; 0: none). A failure's message carries the last 20 lines
        whatever it says. See docs/security.md."""
        super().__init__(**kwargs)
        self.take_step(step)
        self.datastores = datastores
        self.xcom_log_tail = xcom_log_tail
        self._proc = None

    # ---- binding ----
    def _inputs(self, context, plan: dict, workdir: Path, only=None) -> dict[str, str]:
        """only: the names of the inputs to bind (default: all)."""
        step = self.step
        ports: dict[str, str] = {}
        refs = self.input_refs(context, plan)
        for port in step["inputs"]:
            if only is not None and port["name"] not in only:
                continue
            if port.get("step"):
                path = upstream_output(context, plan, port["step"], port["output"])
                if path is None:
                    raise StepError(
                        f"step {step['name']!r}: upstream step {port['step']!r}"
                        f" recorded no output {port['output']!r}"
                    )
                # Where this worker sees it, from the plan and its own roots; the upstream
                # task's location is where *its* worker saw the datastore (a shared folder
                # may be mounted elsewhere there).
                source = location(self.worker_location(refs[port["name"]]))
                if not is_remote(source) and not source.exists():
                    source = location(path)
                elif not is_remote(source):  # never read through a link out of the datastore
                    what = f"input {port['name']!r} ({source})"
                    ds = port["datastore"]
                    local_target(self.datastores, ds, str(source), step["name"], what)
            elif port.get("urls"):  # http(s) files, downloaded to the record datastore
                datastore, rel = self.url_input_ref(port, plan)
                source = datastore_root(self.datastores, datastore, step["name"]) / rel
            else:
                root = datastore_root(self.datastores, port["datastore"], step["name"])
                source = root / input_path(port, run_params(context), step["name"])
                if not is_remote(source):  # never read through a link out of the datastore
                    what = f"input {port['name']!r} ({source})"
                    ds = port["datastore"]
                    local_target(self.datastores, ds, str(source), step["name"], what)
            ports[port["name"]] = bind_input(port, source, workdir)
        return ports

    def _outputs(self, context, fp: str, workdir: Path) -> tuple[dict, dict]:
        """(the output locations, the remote ones' local staging folders): the step writes
        remote outputs to a local folder, uploaded after it succeeded. Local output folders
        were prepared empty by ReusableStep.prepare_outputs."""
        outputs = self.worker_outputs(context, fp)
        staging: dict[str, Path] = {}
        for name, where in outputs.items():
            if is_remote(location(where)):
                staging[name] = staging_dir(workdir) / name
                staging[name].mkdir(parents=True)
        return outputs, staging

    def _upload(self, outputs: dict[str, str], staging: dict[str, Path]) -> None:
        for name, local in staging.items():
            remote = location(outputs[name])
            remove_tree(remote)  # a retry or regeneration replaces what was there
            copy_tree(local, remote)
            self.log.info("step %s: uploaded output %s to %s", self.step["name"], name, remote)

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
        return self.run_reusable(context, self._compute)

    def _compute(self, context, plan, params, fp) -> dict:
        step = self.step
        snapshot = snapshot_folder(step)
        workdir = Path(tempfile.mkdtemp(prefix=f"amlcompile-{safe_segment(step['name'])}-"))
        metrics_file = self.metrics_path(context, workdir)
        try:
            shutil.copytree(snapshot, workdir, dirs_exist_ok=True)
            ports = self._inputs(context, plan, workdir)
            inputs = dict(ports)  # run.input_datasets: the inputs only
            outputs, staging = self._outputs(context, fp, workdir)
            ports.update(outputs)
            ports.update({name: str(path) for name, path in staging.items()})
            self.prepare_workdir(workdir, ports)
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
            env = step_env(env, inputs, metrics_file, tabular_inputs(step))
            if step.get("distributed"):  # several processes on this worker (launcher)
                argv, env[LAUNCH_CONFIG_ENV] = local_launch(step["distributed"], argv)
            self.log.info("step %s: running %s", step["name"], argv[1:] if argv else argv)
            tail: deque[str] = deque(maxlen=max(20, self.xcom_log_tail))
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
            self.process_started(metrics_file)
            echo = _Echo(self.task_id)
            for line in self._proc.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                self.log.info("%s", line)
                echo(line)
            code = self._proc.wait()
            self.process_ended()
            metrics = self._push_metrics(context, self.read_metrics(metrics_file))
            if code != 0:
                raise StepError(
                    f"step {step['name']!r} failed: {_exit_reason(code)}\n"
                    + "\n".join(list(tail)[-20:])
                )
            self._upload(outputs, staging)
            result = {"outputs": outputs, "metrics": metrics}
            if self.xcom_log_tail > 0:
                result["log_tail"] = list(tail)[-self.xcom_log_tail :]
            return result
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(staging_dir(workdir), ignore_errors=True)
            if not self.keep_metrics_file:
                metrics_file.unlink(missing_ok=True)

    # ---- hooks for steps that run the script in their own way (runtime/hyperdrive.py) ----
    keep_metrics_file = False  # the file outlives the task (others read it)

    def metrics_path(self, context, workdir: Path) -> Path:
        """Where the step's `Run.log` calls go, one JSON line each, as they are made."""
        return workdir.with_name(workdir.name + ".metrics.jsonl")

    def prepare_workdir(self, workdir: Path, ports: dict) -> None:
        """Called with the step's folder and its ports bound, before the program starts."""

    def process_started(self, metrics_file: Path) -> None:
        """Called once the program runs (`self._proc`)."""

    def process_ended(self) -> None:
        """Called once the program has ended, before its exit code is looked at."""

    def read_metrics(self, metrics_file: Path) -> dict:
        if self.keep_metrics_file:
            summary = read_metrics_file(metrics_file)
            return summary if (summary["metrics"] or summary["tags"] or "parent" in summary) else {}
        return collect(metrics_file)

    # ---- metrics logged through amlcompile_run.Run (runtime/metrics.py) ----
    def _push_metrics(self, context, metrics: dict) -> dict:
        if metrics:
            context["ti"].xcom_push(key=METRICS_XCOM_KEY, value=metrics)
        return metrics

    def on_kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()


LAUNCH_CONFIG_ENV = "AMLCOMPILE_DISTRIBUTED"


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on this machine now (the OS picks them, all held
    until the last is chosen, then released for the step's processes)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def local_launch(distributed: dict, argv: list[str]) -> tuple[list[str], str]:
    """(argv, launcher configuration) of a distributed step whose every process runs on this
    worker: rank 0 listens on 127.0.0.1 at a free port; TensorFlow tasks get a port each."""
    config = {"node_count": 1, "process_count_per_node": 1, **distributed}
    world = config["node_count"] * config["process_count_per_node"]
    tensorflow = config["kind"] == "tensorflow"
    master, *tasks = free_ports(1 + (world if tensorflow else 0))
    config.update(master_addr="127.0.0.1", master_port=master)
    if tensorflow:
        config["tf_addresses"] = [f"127.0.0.1:{port}" for port in tasks]
    launcher = str(STEPLIB / "amlcompile_launch.py")
    return [sys.executable, launcher, "--", *argv], json.dumps(config, sort_keys=True)


class _Echo:
    """In `amlcompile run` (AMLCOMPILE_EVENTS names its event file), each output line of the
    step also goes there, so the console shows it as it comes; elsewhere, nothing."""

    def __init__(self, task_id: str):
        path = os.environ.get("AMLCOMPILE_EVENTS")
        self.task_id = task_id
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND) if path else None

    def __call__(self, line: str) -> None:
        if self.fd is None:
            return
        event = {"ev": "line", "task": self.task_id, "text": line[:4000]}
        try:
            os.write(self.fd, (json.dumps(event) + "\n").encode())
        except OSError:
            self.fd = None

    def __del__(self):
        if self.fd is not None:
            os.close(self.fd)


def _exit_reason(code: int) -> str:
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    hint = " (a file grew past the size limit: disk or quota full?)" if name == "SIGXFSZ" else ""
    return f"killed by {name}{hint}"
