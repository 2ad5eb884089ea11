"""HyperDriveStep: a task listing the trials to run (those with no reusable record), the
trials as one mapped task (`.partial().expand(trial=...)`, at most max_concurrent_runs at a
time), and the step's own task, which picks the best trial and writes the step's outputs.
The tasks are in runtime/hyperdrive.py; trials run on the Airflow worker, or each in a pod on
AmlCompute (runtime/hyperdrive_pods.py)."""

from __future__ import annotations

from ..ir import models as ir
from ..render.pyliteral import one_line
from . import kubernetes
from .base import LoweringError, OperatorRef, TaskSpec, doc_md, step_payload

MODULE = "{runtime}.hyperdrive"


def lower(p: ir.Pipeline, s: ir.Step, compute: ir.ComputeTarget, ctx) -> TaskSpec:
    hd = s.hyperdrive
    assert hd is not None
    on_pods = compute.kind == "amlcompute" and not ctx.force_local
    if compute.kind not in ("local", "amlcompute") and not ctx.force_local:
        raise LoweringError(
            f"{s.location}: step {s.name!r}: HyperDriveStep trials run on the Airflow worker"
            f" or on AmlCompute, not on compute target {compute.name!r} ({compute.kind})"
        )
    record = s.outputs[0].datastore if s.outputs else p.default_datastore
    kinds = {d.name: d.kind for d in p.datastores}
    if on_pods and hd.policy is not None and kinds.get(record) != "local":
        raise LoweringError(
            f"{s.location}: step {s.name!r}: early termination of trials in pods reads their"
            f" metrics on a local (shared) datastore, and {record!r} is {kinds.get(record)}:"
            " write the step's first output to a local datastore, use NoTerminationPolicy(),"
            " a LocalCompute target, or build with --local"
        )
    payload = step_payload(p, s)
    label = one_line(s.display_name or s.name)
    shared = {"datastores": "DATASTORES"}
    where = f"the Airflow worker ({compute.name})"
    trial_kwargs: dict = {"step": payload}
    trial_operator = OperatorRef(MODULE, "HyperDriveTrialOperator")
    if on_pods:  # one pod per trial: the image, volumes and resources of a script step's pod
        pod = kubernetes.lower(p, s, compute, ctx)
        trial_kwargs.update({k: v for k, v in pod.kwargs.items() if k != "step"})
        trial_operator = OperatorRef("{runtime}.hyperdrive_pods", "HyperDriveTrialPodOperator")
        where = f"Kubernetes ({compute.name}, {compute.vm_size or 'any size'})"
    elif p.xcom_log_tail != 20:
        trial_kwargs["xcom_log_tail"] = p.xcom_log_tail
    if hd.max_concurrent_runs is not None:
        trial_kwargs["max_active_tis_per_dagrun"] = hd.max_concurrent_runs
    policy = hd.policy.kind.replace("_", " ") + " policy" if hd.policy else "no early termination"
    # Grid and random: one list and one mapped task. Bayesian: a pair per round, each round's
    # list task proposing its trials from the results of the rounds before it.
    rounds = hd.rounds() if hd.sampling == "bayesian" else [len(hd.trials)]
    before: list[TaskSpec] = []
    for r, count in enumerate(rounds):
        tag = f"_{r}" if hd.sampling == "bayesian" else ""
        what = f" (round {r + 1} of {len(rounds)})" if tag else ""
        trials = TaskSpec(
            task_id=f"{s.name}__trials{tag}",
            operator=OperatorRef(MODULE, "HyperDriveTrialsOperator"),
            kwargs={"step": payload, **({"round": r} if tag else {})},
            doc_md=f"**{label}**: lists the {count} trials{what} of the search ({hd.sampling}"
            " sampling) that have no reusable result; the mapped task runs those.",
            shared=dict(shared),
            of_step=s.name,
            display_name=f"{label}: trials to run{what}",
        )
        trial = TaskSpec(
            task_id=f"{s.name}__trial{tag}",
            operator=trial_operator,
            kwargs=dict(trial_kwargs),
            doc_md=f"**{label}**: one trial per mapped instance{what}, the script run with its"
            f" hyperparameters as `--name value` arguments on {where}; {policy} on"
            f" `{one_line(hd.primary_metric_name)}`.",
            shared=dict(shared),
            expand=("trial", trials.task_id),
            of_step=s.name,
            display_name=f"{label}: trial{what}",
        )
        before += [trials, trial]
    most = "highest" if hd.primary_metric_goal == "maximize" else "lowest"
    best = TaskSpec(
        task_id=s.name,
        operator=OperatorRef(MODULE, "HyperDriveBestOperator"),
        kwargs={"step": payload},
        doc_md=doc_md(s, where) + f"; picks the trial with the {most}"
        f" `{one_line(hd.primary_metric_name)}` of {sum(rounds)} trials",
        shared=dict(shared),
    )
    best.before = before
    return best
