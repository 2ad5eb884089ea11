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
import threading

from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSkipException

from .binding import StepError, expand_step, input_path, step_doc
from .digests import LinkOutside
from .downloads import fetch, url_file_name
from .metrics import METRICS_XCOM_KEY
from .planner import output_relpath, plan_of, run_params, upstream_manifest
from .reuse import (
    CLAIM_STALE_SECONDS,
    CONTINUE_PARAM,
    HEARTBEAT_SECONDS,
    REGENERATE_PARAM,
    OutsideDatastore,
    Store,
)
from .storage import (
    datastore_root,
    has_directories,
    is_remote,
    local_target,
    location,
    open_store,
    output_manifest,
    record_roots,
    remove_tree,
)

WAIT_POKE_SECONDS = float(os.environ.get("AMLCOMPILE_REUSE_POKE_SECONDS", "15"))


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
        urls = planned.get("urls") or port["urls"]
        fetch(urls, planned["versions"], root, planned["path"], step, self.log)
        rel = planned["path"]
        if len(urls) == 1:
            rel = f"{rel}/{url_file_name(urls[0])}"
        return port["datastore"], rel

    def worker_location(self, ref: tuple[str, str]) -> str:
        """Where the worker sees a datastore path (a folder, or an object-storage URL)."""
        datastore, path = ref
        root = datastore_root(self.datastores, datastore, self.step["name"])
        return str(root / path) if path else str(root)

    def prepare_outputs(self, context, fp: str) -> None:
        """Output folders on local datastores exist, empty, before the step starts (as Azure
        ML prepared them; a retry or regeneration starts afresh), and so on file shares and
        DBFS, where folders are real too; on blob storage a folder exists once something is
        written in it. A fixed destination is left as it is."""
        step = self.step
        for port, ref in self.output_refs(context, fp).items():
            if not any(p["name"] == port and p.get("path") for p in step["outputs"]):
                target = location(self.worker_location(ref))
                if not has_directories(target):
                    continue
                what = f"output {port!r} ({target})"
                remote = is_remote(target)  # a share or DBFS: no links to follow there
                # Nothing is deleted or created through a link out of the datastore (an
                # `azureml/fp/<fingerprint>` made a link elsewhere by someone who can write it).
                if not remote:
                    local_target(self.datastores, ref[0], str(target), step["name"], what)
                try:
                    if not remote and target.is_symlink():
                        target.unlink()  # the link only, never what it points at
                    else:
                        remove_tree(target)
                    target.mkdir(parents=True)
                    if not remote:
                        local_target(self.datastores, ref[0], str(target), step["name"], what)
                except OSError as exc:
                    raise StepError(
                        f"step {step['name']!r}: cannot prepare output {port!r} on datastore"
                        f" {ref[0]!r} ({target}): {exc.strerror or exc}"
                    ) from None

    def worker_outputs(self, context, fp: str) -> dict[str, str]:
        """The step's outputs as the worker sees them: what its XCom and record hold."""
        refs = self.output_refs(context, fp)
        return {name: self.worker_location(ref) for name, ref in refs.items()}

    # ---- what a record holds about the data: manifests of outputs and of inputs read ----
    def input_digests(self, context, plan: dict) -> dict[str, str | None]:
        """The content digest of each input that is an upstream step's output, as it is now
        (cheap when the upstream's manifest is known and its stat signature still holds)."""
        ports = [p for p in self.step["inputs"] if p.get("step")]
        if not ports:
            return {}
        refs = self.input_refs(context, plan)
        found = {}
        for port in ports:
            ref = refs[port["name"]]
            where = self.worker_location(ref)
            known = upstream_manifest(context, plan, port["step"], port["output"])
            try:
                now = output_manifest(self.datastores, ref[0], where, self.step["name"], known)
            except LinkOutside as exc:
                raise StepError(
                    f"step {self.step['name']!r}: input {port['name']!r}: {exc}"
                ) from None
            if now is None:
                # Not visible from this worker (a pod's volume): what its producer said it
                # wrote, else unknown (None); the fingerprint chain alone decides then.
                found[port["name"]] = (known or {}).get("digest")
                continue
            found[port["name"]] = now["digest"]
        return found

    def output_manifests(self, expect: dict) -> dict[str, dict] | None:
        """The manifest of each output just written; None when one is not there (a blob
        output nothing was written to): then no record is written."""
        manifests = {}
        for port, ref in expect.items():
            where = self.worker_location(ref)
            try:
                now = output_manifest(self.datastores, ref[0], where, self.step["name"])
            except LinkOutside as exc:
                raise StepError(
                    f"step {self.step['name']!r}: output {port!r}: {exc}; no record is written"
                ) from None
            if now is None:
                self.log.warning(
                    "step %s: output %s is not there (%s): no reuse record; the step runs"
                    " again next time",
                    self.step["name"],
                    port,
                    where,
                )
                return None
            manifests[port] = now
        return manifests

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
    def plan_entry(self, plan: dict) -> dict:
        """The step's entry of the run's reuse plan (its fingerprint); a HyperDriveStep trial
        derives its own from it (runtime/hyperdrive.py)."""
        return plan.get(self.step["name"]) or {}

    def run_reusable(self, context, compute) -> dict:
        """Reuse a record, wait for another run computing the same fingerprint, or claim it,
        compute and write the record last.

        compute(context, plan, params, fp) → {"outputs": {port: location}, ...}: `metrics`
        goes into the record too, anything else only into the task's XCom.
        """
        step = self.step
        params = run_params(context)
        plan = plan_of(context)
        entry = self.plan_entry(plan)
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
        expect = self.output_refs(context, fp)
        consumed = self.input_digests(context, plan)
        if not params.get(REGENERATE_PARAM):
            record = self.read_record(store, fp, expect)
            if record is not None and not _same_inputs(record, consumed, self.log, step["name"]):
                record = None
            if record is not None:
                origin = record.get("produced_by") or {}
                if record.get("metrics"):
                    context["ti"].xcom_push(key=METRICS_XCOM_KEY, value=record["metrics"])
                context["ti"].xcom_push(
                    key="return_value",
                    value={
                        "outputs": record["outputs"],
                        "manifests": record["manifests"],
                        "fingerprint": fp,
                        "reused_from": origin,
                    },
                )
                raise AirflowSkipException(f"reused from run {origin.get('run_id')}")
        owner = {"dag_id": self.dag_id, "run_id": context["run_id"], "task_id": self.task_id}
        ti = context.get("ti")
        for key in ("try_number", "map_index"):
            value = getattr(ti, key, None)
            if type(value) is int:
                owner[key] = value
        try:
            claimed, current = store.try_claim(fp, owner)
        except OutsideDatastore as exc:
            raise StepError(f"step {step['name']!r}: {exc}") from None
        if not claimed:
            self.log.info("%s", _waiting_for(step["name"], fp, current or {}))
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
            if result.pop("reusable", True) is False:  # complete, but not to be reused
                return {**result, "fingerprint": fp}
            manifests = self.output_manifests(expect)
            result = {**result, **({"manifests": manifests} if manifests else {})}
            if manifests is None:
                return {**result, "fingerprint": fp}
            record = {
                "fingerprint": fp,
                "outputs": result["outputs"],
                "manifests": manifests,
                "inputs": consumed,
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

    def read_record(self, store: Store, fp: str, expect: dict) -> dict | None:
        return store.read_record(fp, self.log, record_roots(self.datastores), expect=expect)

    def write_record(self, store: Store, fp: str, record: dict) -> None:
        try:
            store.write_record(fp, record)
        except OutsideDatastore as exc:
            raise StepError(f"step {self.step['name']!r}: {exc}") from None
        except OSError as exc:
            raise StepError(
                f"step {self.step['name']!r}: its outputs are written but the reuse record"
                f" could not be ({store.record_path(fp)}: {exc.strerror or exc}); the task"
                " fails so that nothing half-written is reused"
            ) from None


def _same_inputs(record: dict, consumed: dict, log, step: str) -> bool:
    """Whether the upstream outputs this step reads are, by content, those it read when the
    record was made. They are keyed by the producer's fingerprint in the step's own
    fingerprint; this catches an output rewritten on the datastore since."""
    if not consumed:
        return True
    recorded = record.get("inputs")
    if not isinstance(recorded, dict):
        log.warning("ignoring reuse record of step %s: it holds no input digests", step)
        return False
    changed = sorted(p for p, d in consumed.items() if recorded.get(p) != d)
    if changed:
        log.warning(
            "ignoring reuse record of step %s: input %s changed since it ran; the step runs again",
            step,
            ", ".join(changed),
        )
        return False
    return True


def _waiting_for(step: str, fp: str, owner: dict) -> str:
    """Who a waiting step waits for, and until when at most."""
    age = owner.get("heartbeat_age")
    age = float(age) if isinstance(age, int | float) else 0.0
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=max(0.0, CLAIM_STALE_SECONDS - age))
    who = ", ".join(
        f"{key} {owner[key]!r}"
        for key in ("run_id", "task_id", "try_number", "host", "pid")
        if owner.get(key) is not None
    )
    return (
        f"step {step}: fingerprint {fp[:12]} is being computed by {who or 'an unknown owner'}"
        f" (last heartbeat {age:.0f} s ago); waiting, checking every {WAIT_POKE_SECONDS:.0f} s;"
        f" if its heartbeat stops it is taken over at {until:%H:%M:%S} UTC"
    )


def _heartbeat(store: Store, fp: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        store.heartbeat(fp)
