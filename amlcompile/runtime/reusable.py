"""Reuse, one protocol for every step operator (local subprocess, pod, Databricks, ADLA, copy).

The operator on the worker decides: reuse a record that appeared since the plan, wait for a
run computing the same fingerprint, or claim it, compute, and write the record last. Where
the step's data lives is derived, not passed around: a reusable step's outputs are at
`azureml/fp/<fingerprint>/<port>` of their datastore, others at
`azureml/<dag>/<run>/<step>/<port>`, and a fixed destination (a transfer's) where it says.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading

from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSkipException

from .binding import StepError, expand_step, input_path, safe_segment, step_doc
from .downloads import fetch, url_file_name
from .metrics import METRICS_XCOM_KEY
from .planner import plan_of, run_params
from .reuse import CONTINUE_PARAM, HEARTBEAT_SECONDS, REGENERATE_PARAM, Store
from .storage import datastore_root, is_remote, location, open_store, record_roots

WAIT_POKE_SECONDS = float(os.environ.get("AMLCOMPILE_REUSE_POKE_SECONDS", "15"))


def output_relpath(
    *, fixed: str | None, allow_reuse: bool, fp: str, dag_id: str, run_id: str, step: str, port: str
) -> str:
    if fixed is not None:
        return fixed
    if allow_reuse:
        return f"azureml/fp/{fp}/{port}"
    return f"azureml/{safe_segment(dag_id)}/{safe_segment(run_id)}/{step}/{port}"


class ReusableStep:
    """Mixin: `self.step` (the step payload) and `self.datastores` (the DAG's DATASTORES)."""

    step: dict
    datastores: dict

    def take_step(self, step: dict) -> None:
        """The step payload, from the DAG file's STEPS table (keyed by task id, defaults left
        out), in full; the task's doc_md from it unless the file gives one."""
        self.step = expand_step(step, self.task_id)
        if self.doc_md is None:
            self.doc_md = step_doc(self.step)

    # ---- where data is, as (datastore, path on it) ----
    def output_refs(self, context, fp: str) -> dict[str, tuple[str, str]]:
        step = self.step
        return {
            port["name"]: (
                port["datastore"],
                output_relpath(
                    fixed=port.get("path"),
                    allow_reuse=step["allow_reuse"],
                    fp=fp,
                    dag_id=self.dag_id,
                    run_id=context["run_id"],
                    step=step["name"],
                    port=port["name"],
                ),
            )
            for port in step["outputs"]
        }

    def input_refs(self, context, plan: dict) -> dict[str, tuple[str, str]]:
        refs = {}
        for port in self.step["inputs"]:
            if port.get("step"):
                upstream = plan.get(port["step"]) or {}
                if "fingerprint" not in upstream:
                    raise StepError(
                        f"step {self.step['name']!r}: the reuse plan has no entry for"
                        f" upstream step {port['step']!r}"
                    )
                refs[port["name"]] = (
                    port["datastore"],
                    output_relpath(
                        fixed=port.get("output_path"),
                        allow_reuse=port.get("producer_allow_reuse", True),
                        fp=upstream["fingerprint"],
                        dag_id=self.dag_id,
                        run_id=context["run_id"],
                        step=port["step"],
                        port=port["output"],
                    ),
                )
            elif port.get("urls"):
                refs[port["name"]] = self.url_input_ref(port, plan)
            else:
                path = input_path(port, run_params(context), self.step["name"])
                refs[port["name"]] = (port["datastore"], path)
        return refs

    def url_input_ref(self, port: dict, plan: dict) -> tuple[str, str]:
        """An http(s) input, downloaded (once per planned version) to the record datastore:
        the file of a single URL, else the folder of them."""
        step = self.step["name"]
        planned = ((plan.get(step) or {}).get("downloads") or {}).get(port["name"])
        if planned is None:
            raise StepError(
                f"step {step!r}: the reuse plan of this run has no download for input"
                f" {port['name']!r}; clear the whole run, not the step alone"
            )
        root = datastore_root(self.datastores, port["datastore"], step)
        fetch(port["urls"], planned["versions"], root, planned["path"], step, self.log)
        rel = planned["path"]
        if len(port["urls"]) == 1:
            rel = f"{rel}/{url_file_name(port['urls'][0])}"
        return port["datastore"], rel

    def worker_location(self, ref: tuple[str, str]) -> str:
        """Where the worker sees a datastore path (a folder, or an object-storage URL)."""
        datastore, path = ref
        root = datastore_root(self.datastores, datastore, self.step["name"])
        return str(root / path) if path else str(root)

    def prepare_outputs(self, context, fp: str) -> None:
        """Output folders on local datastores exist, empty, before the step starts (as Azure
        ML prepared them; a retry or regeneration starts afresh); on object storage a folder
        exists once something is written in it. A fixed destination is left as it is."""
        step = self.step
        for port, ref in self.output_refs(context, fp).items():
            if not any(p["name"] == port and p.get("path") for p in step["outputs"]):
                target = location(self.worker_location(ref))
                if is_remote(target):
                    continue
                try:
                    if target.exists():
                        shutil.rmtree(target)
                    target.mkdir(parents=True)
                except OSError as exc:
                    raise StepError(
                        f"step {step['name']!r}: cannot prepare output {port!r} on datastore"
                        f" {ref[0]!r} ({target}): {exc.strerror or exc}"
                    ) from None

    def worker_outputs(self, context, fp: str) -> dict[str, str]:
        """The step's outputs as the worker sees them: what its XCom and record hold."""
        refs = self.output_refs(context, fp)
        return {name: self.worker_location(ref) for name, ref in refs.items()}

    # ---- continue_on_step_failure ----
    def stop_after_failure(self, context, entry: dict) -> None:
        """Azure ML's default (continue_on_step_failure=False): once a step of the run has
        failed, no further step starts. A step that depends on the failed one never gets here
        (`upstream_failed`); this stops the independent ones as they come up. Steps already
        running finish, and their results stay reusable."""
        if entry.get(CONTINUE_PARAM, True):  # the planner's reading of the run's conf
            return
        states = context["ti"].get_task_states(dag_id=self.dag_id, run_ids=[context["run_id"]])
        failed = sorted(
            t for t, state in states.get(context["run_id"], {}).items() if state == "failed"
        )
        if failed:
            raise AirflowSkipException(
                f"not started: {', '.join(failed)} failed in this run and {CONTINUE_PARAM} is false"
            )

    # ---- the reuse protocol ----
    def run_reusable(self, context, compute) -> dict:
        """Reuse a record, wait for another run computing the same fingerprint, or claim it,
        compute and write the record last.

        compute(context, plan, params, fp) → {"outputs": {port: location}, ...}: `metrics`
        goes into the record too, anything else only into the task's XCom.
        """
        step = self.step
        params = run_params(context)
        plan = plan_of(context)
        entry = plan.get(step["name"]) or {}
        self.stop_after_failure(context, entry)
        fp = entry.get("fingerprint")
        if fp is None:
            raise StepError(
                f"step {step['name']!r}: the reuse plan of this run has no entry"
                " for it; clear the whole run, not the step alone"
            )
        if entry.get("static", step["fingerprint"]) != step["fingerprint"]:
            # The DAG file was redeployed during the run and this task parsed the new one:
            # running it under the planned fingerprint would record new code as the old.
            raise StepError(
                f"step {step['name']!r} changed since this run was planned (a new build was"
                " deployed during the run); start a new run"
            )
        store = open_store(self.datastores, step["record_datastore"], step["name"])
        if not step["allow_reuse"]:  # always runs, into a folder of its own run: no claim
            self.prepare_outputs(context, fp)
            return {**compute(context, plan, params, fp), "fingerprint": fp}
        if not params.get(REGENERATE_PARAM):
            record = store.read_record(fp, self.log, record_roots(self.datastores))
            if record is not None:
                origin = record.get("produced_by") or {}
                if record.get("metrics"):
                    context["ti"].xcom_push(key=METRICS_XCOM_KEY, value=record["metrics"])
                context["ti"].xcom_push(
                    key="return_value",
                    value={"outputs": record["outputs"], "fingerprint": fp, "reused_from": origin},
                )
                raise AirflowSkipException(f"reused from run {origin.get('run_id')}")
        owner = {"dag_id": self.dag_id, "run_id": context["run_id"], "task_id": self.task_id}
        claimed, current = store.try_claim(fp, owner)
        if not claimed:
            self.log.info(
                "step %s: fingerprint %s is being computed by run %s; waiting",
                step["name"],
                fp[:12],
                (current or {}).get("run_id"),
            )
            raise AirflowRescheduleException(
                dt.datetime.now(dt.UTC) + dt.timedelta(seconds=WAIT_POKE_SECONDS)
            )
        stop = threading.Event()
        beat = threading.Thread(target=_heartbeat, args=(store, fp, stop), daemon=True)
        beat.start()
        try:
            self.prepare_outputs(context, fp)
            result = compute(context, plan, params, fp)
            produced_by = {
                "dag_id": self.dag_id,
                "run_id": context["run_id"],
                "task_id": self.task_id,
                "finished": dt.datetime.now(dt.UTC).isoformat(),
            }
            record = {
                "fingerprint": fp,
                "outputs": result["outputs"],
                "produced_by": produced_by,
                "source": step.get("source"),
            }
            refs = self.portable_refs(context, fp, result["outputs"])
            if refs:
                record["refs"] = refs
            if result.get("metrics"):
                record["metrics"] = result["metrics"]
            # Written last: only a step that succeeded with complete outputs is reusable.
            self.write_record(store, fp, record)
            return {**result, "fingerprint": fp}
        finally:
            stop.set()
            store.release(fp)

    def portable_refs(self, context, fp: str, outputs: dict) -> dict | None:
        """The outputs as [datastore, path on it], when each is exactly where this worker
        put it: a reader on another worker locates them on its own roots (a shared folder
        mounted elsewhere there) instead of trusting this worker's absolute paths."""
        refs = self.output_refs(context, fp)
        if set(refs) != set(outputs):
            return None
        if any(outputs[port] != self.worker_location(ref) for port, ref in refs.items()):
            return None
        return {port: list(ref) for port, ref in refs.items()}

    def write_record(self, store: Store, fp: str, record: dict) -> None:
        try:
            store.write_record(fp, record)
        except OSError as exc:
            raise StepError(
                f"step {self.step['name']!r}: its outputs are written but the reuse record"
                f" could not be ({store.record_path(fp)}: {exc.strerror or exc}); the task"
                " fails so that nothing half-written is reused"
            ) from None


def _heartbeat(store: Store, fp: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        store.heartbeat(fp)
