"""Runs of a small pipeline through the real reuse protocol without Airflow's scheduler: the
planner (`compute_plan`) first, then each step's `ReusableStep.run_reusable` in order, with a
stand-in task instance for XCom. A step's "program" is a Python function given its output
locations (local paths, or object-storage URLs), as a step program is given its arguments."""

from __future__ import annotations

import logging

from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSkipException

from amlcompile.runtime.planner import compute_plan
from amlcompile.runtime.reusable import ReusableStep
from amlcompile.runtime.reuse import PLAN_TASK_ID, PLAN_XCOM_KEY
from amlcompile.runtime.storage import location

LOG = logging.getLogger("tests.reuse_runs")


def step(name, *, inputs=(), outputs=("out",), allow_reuse=True, datastore="ds", static=None):
    """A step payload; `inputs` are (port, upstream step, its output) or (port, datastore path)."""
    ports = []
    for item in inputs:
        if len(item) == 3:
            port, upstream, output = item
            ports.append({"name": port, "step": upstream, "output": output, "datastore": datastore})
        else:
            port, path = item
            ports.append({"name": port, "datastore": datastore, "path": path, "mode": "mount"})
    return {
        "name": name,
        "kind": "command",
        "fingerprint": static or f"static-{name}",
        "params": [],
        "record_datastore": datastore,
        "inputs": ports,
        "outputs": [{"name": o, "datastore": datastore} for o in outputs],
        "allow_reuse": allow_reuse,
        "arguments": [],
        "env": [],
    }


def plan_entry(s: dict) -> dict:
    """What the compiled DAG gives the planner of a step (targets/base.plan_entry)."""
    entry = {k: s[k] for k in ("name", "fingerprint", "params", "allow_reuse", "record_datastore")}
    entry["inputs"] = s["inputs"]
    if s["allow_reuse"] and s["outputs"]:
        entry["outputs"] = s["outputs"]
    return entry


class Ti:
    def __init__(self, plan: dict, results: dict, try_number: int = 1):
        self.plan, self.results, self.pushed = plan, results, {}
        self.try_number, self.map_index = try_number, -1

    def xcom_pull(self, task_ids, key="return_value"):
        if task_ids == PLAN_TASK_ID and key == PLAN_XCOM_KEY:
            return self.plan
        return self.results.get(task_ids)

    def xcom_push(self, key, value):
        self.pushed[key] = value


class Step(ReusableStep):
    dag_id = "dag"

    def __init__(self, payload: dict, datastores: dict, program):
        self.step, self.datastores, self.program = payload, datastores, program
        self.task_id = payload["name"]
        self.log = LOG

    def compute(self, context, plan, params, fp):
        outputs = self.worker_outputs(context, fp)
        inputs = {}
        refs = self.input_refs(context, plan)
        for port in self.step["inputs"]:
            inputs[port["name"]] = self.worker_location(refs[port["name"]])
        self.program(inputs, outputs)
        return {"outputs": outputs}


def run(steps, datastores, programs, run_id="run1", params=None) -> dict:
    """{step: "reused at plan" | "reused" | "ran" | "waiting" | exception} of one run."""
    params = dict(params or {})
    plan = compute_plan([plan_entry(s) for s in steps], datastores, params, False, LOG)
    results: dict = {}
    states: dict = {}
    for s in steps:
        entry = plan[s["name"]]
        if entry["reuse"]:
            states[s["name"]] = "reused at plan"
            results[s["name"]] = {"outputs": entry["outputs"], "manifests": entry.get("manifests")}
            continue
        ti = Ti(plan, results)
        context = {"params": params, "ti": ti, "run_id": run_id}
        try:
            results[s["name"]] = _run(s, datastores, programs[s["name"]], context)
            states[s["name"]] = "ran"
        except AirflowSkipException:
            results[s["name"]] = ti.pushed.get("return_value")
            states[s["name"]] = "reused"
        except AirflowRescheduleException:
            states[s["name"]] = "waiting"
    return states


def _run(s, datastores, program, context):
    one = Step(s, datastores, program)
    return one.run_reusable(context, one.compute)


def write(where: str, rel: str, data: bytes) -> None:
    """Writes a file under an output location, local or remote."""
    target = location(where) / rel
    if hasattr(target, "parent") and not hasattr(target, "fs"):
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def read(where: str, rel: str) -> bytes:
    return (location(where) / rel).read_bytes()


def writes(data: bytes = b"result"):
    """A program writing `data` to part.txt of each output."""

    def program(inputs, outputs):
        for where in outputs.values():
            write(where, "part.txt", data)

    return program


def copies(inputs, outputs):
    """A program writing "copy of" its inputs' part.txt to each output."""
    data = b"".join(read(where, "part.txt") for where in inputs.values())
    for where in outputs.values():
        write(where, "part.txt", b"copy of " + data)
