"""HyperDriveStep on the Airflow side: three tasks per step.

- `HyperDriveTrialsOperator` (`<step>__trials`): the trials of the search that have no
  reusable record, as the list the mapped task expands over.
- `HyperDriveTrialOperator` (`<step>__trial`, mapped): one trial, the step's script with its
  hyperparameters appended as `--name value` arguments (as Azure ML passes them). A trial is
  an ordinary reusable step (runtime/reusable.py) under its own fingerprint:
  sha256(the step's planned trial base, the hyperparameters), so adding grid points runs
  only the new trials. While it runs its `Run.log` lines go to a file other trials can read
  (`<record datastore>/azureml/_hyperdrive/<dag>/<run>/<step>/trial_<i>.jsonl`, one JSON line
  per call, appended and closed each time); the task watches its own file and stops the
  process when the early-termination policy says so, comparing against the trials logged so
  far. A stopped trial writes no record and ends *skipped*.
- `HyperDriveBestOperator` (`<step>`): reads every trial's record, picks the best by the
  primary metric, copies its outputs to the step's, writes the metrics output, and records
  every trial's hyperparameters, status and metric (XCom `amlcompile_metrics`, shown by
  `amlcompile status`). It is the step's reusable task: a whole search is reused at once.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import statistics
import tempfile
import threading
from pathlib import Path

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from .binding import StepError, safe_segment
from .metrics import METRICS_XCOM_KEY
from .operators import LocalStepOperator
from .planner import expected_outputs, plan_of, run_params
from .reusable import ReusableStep, _same_inputs
from .reuse import REGENERATE_PARAM, digest
from .steplib.amlcompile_run import read_metrics_file
from .storage import (
    copy_tree,
    datastore_root,
    is_remote,
    location,
    open_store,
    record_roots,
    remove_tree,
)

PROPOSED_XCOM_KEY = "amlcompile_proposed_trials"  # a Bayesian round's trials
RUN_OUTPUTS = "run_outputs"  # a trial's ./outputs folder (targets/base.py TRIAL_RUN_OUTPUTS)
POLL_SECONDS = float(os.environ.get("AMLCOMPILE_HYPERDRIVE_POLL_SECONDS", "0.1"))


def trial_fingerprint(base: str, hyperparameters: list) -> str:
    return digest({"hyperdrive_trial": base, "hyperparameters": hyperparameters})


def trial_payload(step: dict) -> dict:
    """The step payload a trial runs with: a script step writing the outputs trials write."""
    hd = step["hyperdrive"]
    keep = set(hd.get("trial_outputs") or ())
    outputs = [o for o in step["outputs"] if o["name"] in keep]
    models = hd.get("model_outputs") or []
    if models:
        ds = next(o["datastore"] for o in step["outputs"] if o["name"] == models[0][0])
        outputs.append({"name": RUN_OUTPUTS, "datastore": ds})
    return {**step, "kind": "python_script", "outputs": outputs}


def trial_id(step: str, index: int) -> str:
    return f"{step}_{index}"


def live_folder(datastores: dict, step: dict, dag_id: str, run_id: str) -> Path:
    """Where this run's trials log as they run (a local datastore; else the worker's temp)."""
    root = datastore_root(datastores, step["record_datastore"], step["name"])
    base = Path(tempfile.gettempdir()) / "amlcompile-hyperdrive" if is_remote(root) else Path(root)
    return (
        base
        / "azureml"
        / "_hyperdrive"
        / safe_segment(dag_id)
        / safe_segment(run_id)
        / safe_segment(step["name"])
    )


def primary_values(entries, name: str) -> list[float]:
    """The numeric values logged for the primary metric, in order."""
    out = []
    for e in entries:
        if (
            isinstance(e, dict)
            and e.get("kind") == "metric"
            and e.get("name") == name
            and e.get("scope", "step") == "step"
            and isinstance(e.get("value"), int | float)
            and not isinstance(e.get("value"), bool)
        ):
            out.append(float(e["value"]))
    return out


def read_entries(path: Path) -> list:
    entries = []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    continue  # a line being written
    except FileNotFoundError:
        pass
    return entries


def should_stop(policy: dict | None, goal: str, mine: list[float], others: list[list[float]]):
    """Whether the early-termination policy stops a trial that has logged `mine` so far
    (primary metric values, one per interval), given the values other trials logged; the
    reason as text, or None. Evaluated at interval k = len(mine) when k is a multiple of
    evaluation_interval and past delay_evaluation, as Azure ML does."""
    if not policy or not mine:
        return None
    k = len(mine)
    if k <= policy.get("delay_evaluation", 0) or k % policy.get("evaluation_interval", 1):
        return None
    maximize = goal == "maximize"
    now = mine[-1]
    kind = policy["kind"]
    if kind == "bandit":
        peers = [o[k - 1] for o in others if len(o) >= k]
        if not peers:
            return None
        best = max(peers) if maximize else min(peers)
        factor, amount = policy.get("slack_factor"), policy.get("slack_amount")
        if factor is not None:
            limit = best / (1 + factor) if maximize else best * (1 + factor)
        else:
            limit = best - amount if maximize else best + amount
        # Azure ML's rule: the trial's best value so far against the best trial's at k.
        mine_best = max(mine) if maximize else min(mine)
        if (mine_best < limit) if maximize else (mine_best > limit):
            return (
                f"bandit policy at interval {k}: best so far {mine_best:g} is not within the"
                f" slack of the best trial's {best:g} (limit {limit:g})"
            )
        return None
    if kind == "median_stopping":
        averages = [statistics.fmean(o[:k]) for o in others if len(o) >= k]
        if not averages:
            return None
        median = statistics.median(averages)
        mine_best = max(mine) if maximize else min(mine)
        if (mine_best < median) if maximize else (mine_best > median):
            return (
                f"median stopping policy at interval {k}: best so far {mine_best:g} is worse"
                f" than the median {median:g} of the other trials' running averages"
            )
        return None
    if kind == "truncation_selection":
        peers = [o[k - 1] for o in others if len(o) >= k]
        n = len(peers) + 1
        cut = int(n * policy["truncation_percentage"] / 100)
        worse = sum(1 for v in peers if (v < now if maximize else v > now))
        if n >= 2 and worse < cut:
            return (
                f"truncation selection policy at interval {k}: {now:g} is in the worst"
                f" {policy['truncation_percentage']}% of {n} trials"
            )
        return None
    return None


class _Search:
    """What the three tasks share: the search's trials and where their records are."""

    step: dict
    datastores: dict
    helper = False  # a task of the step other than its own: `<step>__trials[_<round>]`, ...

    def take_step(self, step: dict) -> None:
        super().take_step(step)
        if self.helper:  # the step's name, from the task id targets/hyperdrive.py gave it
            self.step["name"] = re.sub(r"__trials?(_\d+)?$", "", self.task_id)

    def all_trials(self, context) -> list[tuple[int, list]]:
        """(index, hyperparameters) of every trial of the search: fixed at build (grid,
        random), else what the Bayesian rounds of this run proposed (their list tasks' XCom)."""
        if "bayesian" not in self.search:
            return list(enumerate(self.search["trials"]))
        out = []
        for r in range(len(self.search["bayesian"]["rounds"])):
            task = f"{self.step['name']}__trials_{r}"
            got = context["ti"].xcom_pull(task_ids=task, key=PROPOSED_XCOM_KEY) or []
            out += [(t["index"], t["hyperparameters"]) for t in got]
        return out

    def trial_rows(self, context, plan: dict, trials) -> list[dict]:
        """Every trial's result: completed (a record), early terminated, or not run."""
        step, search = self.step, self.search
        base = self.trial_base(plan)
        trial_step = trial_payload(step)
        store = open_store(self.datastores, step["record_datastore"], step["name"])
        folder = live_folder(self.datastores, step, self.dag_id, context["run_id"])
        name = search["primary_metric_name"]
        rows = []
        for index, hyper in trials:
            fp = trial_fingerprint(base, hyper)
            row = {
                "trial": index,
                "run_id": trial_id(step["name"], index),
                "hyperparameters": hyper,
                "fingerprint": fp,
                "status": "not run",
                "metric": None,
                "metrics": {},
            }
            record = self.trial_record(store, trial_step, fp)
            if record is not None:
                summary = record.get("metrics") or {}
                row.update(
                    status="completed",
                    metrics=summary.get("metrics") or {},
                    refs=expected_outputs(trial_step, fp),
                    produced_by=(record.get("produced_by") or {}).get("run_id"),
                )
            else:
                status = folder / f"trial_{index}.status.json"
                if status.exists():
                    row["status"] = "early terminated"
                    row["reason"] = json.loads(status.read_text()).get("reason")
                row["metrics"] = read_metrics_file(folder / f"trial_{index}.jsonl")["metrics"]
            values = primary_values(_entries_of({"metrics": row["metrics"]}), name)
            row["metric"] = values[-1] if values else None
            rows.append(row)
        return rows

    @property
    def search(self) -> dict:
        return self.step["hyperdrive"]

    def trial_base(self, plan: dict) -> str:
        base = (plan.get(self.step["name"]) or {}).get("trial_base")
        if base is None:
            raise StepError(
                f"step {self.step['name']!r}: the reuse plan of this run has no trial base for"
                " it; clear the whole run, not the step alone"
            )
        return base

    def trial_record(self, store, trial_step: dict, fp: str) -> dict | None:
        expect = expected_outputs(trial_step, fp)
        return store.read_record(fp, self.log, record_roots(self.datastores), expect=expect)


class HyperDriveTrialsOperator(_Search, ReusableStep, BaseOperator):
    """The trials to run: every trial of the search but those with a reusable record."""

    template_fields = ()
    ui_color = "#ede9fe"
    helper = True

    def __init__(self, *, step: dict, datastores: dict, round: int | None = None, **kwargs):
        """round: a Bayesian search's round (0, 1, ...), whose trials this task proposes."""
        super().__init__(**kwargs)
        self.take_step(step)
        self.datastores = datastores
        self.round = round

    def round_trials(self, context, plan: dict) -> list[tuple[int, list]]:
        """A Bayesian round's trials: proposed from the completed trials of the rounds before
        it, by a generator seeded with the search's seed and the round (the same results
        give the same proposals, so a re-run reuses its trials)."""
        bayes = self.search["bayesian"]
        earlier = []
        for r in range(self.round):
            task = f"{self.step['name']}__trials_{r}"
            got = context["ti"].xcom_pull(task_ids=task, key=PROPOSED_XCOM_KEY) or []
            earlier += [(t["index"], t["hyperparameters"]) for t in got]
        rows = self.trial_rows(context, plan, earlier)
        history = [
            (r["hyperparameters"], r["metric"])
            for r in rows
            if r["status"] == "completed" and r["metric"] is not None
        ]
        rng = random.Random(f"{bayes['seed']}/{self.round}")
        proposals = propose(
            bayes["space"],
            history,
            bayes["rounds"][self.round],
            rng,
            self.search["primary_metric_goal"],
            exclude=[h for _, h in earlier],
        )
        offset = sum(bayes["rounds"][: self.round])
        trials = [(offset + j, h) for j, h in enumerate(proposals)]
        self.log.info(
            "step %s: round %d proposes %s from %d completed trials",
            self.step["name"],
            self.round + 1,
            [h for _, h in trials],
            len(history),
        )
        context["ti"].xcom_push(
            key=PROPOSED_XCOM_KEY,
            value=[{"index": i, "hyperparameters": h} for i, h in trials],
        )
        return trials

    def execute(self, context):
        step = self.step
        plan = plan_of(context)
        base = self.trial_base(plan)
        trial_step = trial_payload(step)
        store = open_store(self.datastores, step["record_datastore"], step["name"])
        folder = live_folder(self.datastores, step, self.dag_id, context["run_id"])
        folder.mkdir(parents=True, exist_ok=True)
        regenerate = bool(run_params(context).get(REGENERATE_PARAM))
        consumed = None
        to_run = []
        trials = (
            self.round_trials(context, plan)
            if self.round is not None
            else enumerate(self.search["trials"])
        )
        for index, hyper in trials:
            fp = trial_fingerprint(base, hyper)
            (folder / f"trial_{index}.jsonl").unlink(missing_ok=True)
            (folder / f"trial_{index}.status.json").unlink(missing_ok=True)
            record = None
            if step["allow_reuse"] and not regenerate:
                record = self.trial_record(store, trial_step, fp)
                if record is not None:
                    if consumed is None:
                        consumed = self.input_digests(context, plan)
                    if not _same_inputs(record, consumed, self.log, step["name"]):
                        record = None
            if record is None:
                to_run.append({"index": index, "hyperparameters": hyper})
                continue
            origin = (record.get("produced_by") or {}).get("run_id")
            self.log.info(
                "step %s: trial %d %s reused from run %s", step["name"], index, hyper, origin
            )
            # Its metric values, for the policy of the trials that run (as if it had run).
            values = primary_values(
                _entries_of(record.get("metrics") or {}), self.search["primary_metric_name"]
            )
            name = self.search["primary_metric_name"]
            with open(folder / f"trial_{index}.jsonl", "w", encoding="utf-8") as fh:
                for v in values:
                    fh.write(
                        json.dumps({"scope": "step", "kind": "metric", "name": name, "value": v})
                    )
                    fh.write("\n")
        self.log.info(
            "step %s: %d of %d trials to run", step["name"], len(to_run), len(self.search["trials"])
        )
        return to_run


def _entries_of(summary: dict) -> list:
    """A metrics summary (a value, or a list of values per name) → metric entries."""
    out = []
    for name, value in (summary.get("metrics") or {}).items():
        for v in value if isinstance(value, list) else [value]:
            out.append({"scope": "step", "kind": "metric", "name": name, "value": v})
    return out


class _Watching:
    """A trial's early termination: a thread reading the trial's metrics file as the script
    appends to it, comparing with the other trials' files beside it, and stopping the trial
    (`stop_trial`) when the policy says so."""

    trial: dict
    search: dict
    _stopped: str | None
    _watch_stop: threading.Event

    def stop_trial(self) -> None:
        raise NotImplementedError

    def start_watching(self, metrics_file: Path) -> None:
        if not self.search.get("policy"):
            return
        self._watch_stop.clear()
        threading.Thread(target=self._watch, args=(metrics_file,), daemon=True).start()

    def _others(self, mine: Path) -> list[list[float]]:
        name = self.search["primary_metric_name"]
        return [
            primary_values(read_entries(p), name)
            for p in sorted(mine.parent.glob("trial_*.jsonl"))
            if p.name != mine.name
        ]

    def _watch(self, metrics_file: Path) -> None:
        name = self.search["primary_metric_name"]
        goal = self.search["primary_metric_goal"]
        policy = self.search["policy"]
        seen = 0
        while not self._watch_stop.wait(POLL_SECONDS):
            mine = primary_values(read_entries(metrics_file), name)
            for k in range(seen + 1, len(mine) + 1):
                reason = should_stop(policy, goal, mine[:k], self._others(metrics_file))
                if reason is None:
                    continue
                self._stopped = reason
                status = {"status": "early_terminated", "reason": reason, "interval": k}
                (metrics_file.with_name(f"trial_{self.trial['index']}.status.json")).write_text(
                    json.dumps(status)
                )
                self.stop_trial()
                return
            seen = len(mine)


class HyperDriveTrialOperator(_Watching, _Search, LocalStepOperator):
    """One trial: the step's script with the trial's hyperparameters, reusable on its own
    fingerprint, stopped early when the policy says so."""

    ui_color = "#ddd6fe"
    keep_metrics_file = True
    helper = True

    def __init__(self, *, step: dict, datastores: dict, trial: dict, **kwargs):
        super().__init__(step=step, datastores=datastores, **kwargs)
        self.trial = trial
        self._search = self.step["hyperdrive"]
        # Trials always write under their fingerprint and leave a record (the best task reads
        # it); with allow_reuse=False on the step they never reuse one (see execute).
        self._reuse = self.step["allow_reuse"]
        self.step = {**trial_payload(self.step), "allow_reuse": True}
        self._stopped: str | None = None
        self._watch_stop = threading.Event()
        self._folder: Path | None = None

    @property
    def search(self) -> dict:
        return self._search

    def plan_entry(self, plan: dict) -> dict:
        entry = dict(plan.get(self.step["name"]) or {})
        entry["fingerprint"] = trial_fingerprint(
            self.trial_base(plan), self.trial["hyperparameters"]
        )
        return entry

    def _argv(self, params: dict, ports: dict) -> list[str]:
        argv = super()._argv(params, ports)
        for name, value in self.trial["hyperparameters"]:
            argv += [str(name), str(value)]
        return argv

    def metrics_path(self, context, workdir: Path) -> Path:
        self._folder = live_folder(self.datastores, self.step, self.dag_id, context["run_id"])
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._folder / f"trial_{self.trial['index']}.jsonl"
        path.unlink(missing_ok=True)  # a retry starts afresh
        (self._folder / f"trial_{self.trial['index']}.status.json").unlink(missing_ok=True)
        return path

    def prepare_workdir(self, workdir: Path, ports: dict) -> None:
        if RUN_OUTPUTS in ports:  # the script's ./outputs is the trial's run_outputs port
            target = workdir / "outputs"
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.exists():
                remove_tree(target)
            target.symlink_to(ports[RUN_OUTPUTS], target_is_directory=True)

    def process_started(self, metrics_file: Path) -> None:
        self.start_watching(metrics_file)

    def process_ended(self) -> None:
        self._watch_stop.set()

    def stop_trial(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def execute(self, context):
        index, hyper = self.trial["index"], self.trial["hyperparameters"]
        self._stopped = None
        if not self._reuse:  # HyperDriveStep(allow_reuse=False): every trial runs
            context = {
                **context,
                "params": {**(context.get("params") or {}), REGENERATE_PARAM: True},
            }
        try:
            result = self.run_reusable(context, self._compute)
        except StepError:
            if self._stopped is None:
                raise
            self.log.info("trial %d %s stopped early: %s", index, hyper, self._stopped)
            raise AirflowSkipException(f"trial {index} stopped early: {self._stopped}") from None
        finally:
            self._watch_stop.set()
        return {**result, "trial": index, "hyperparameters": hyper}


class HyperDriveBestOperator(_Search, ReusableStep, BaseOperator):
    """The step's own task: the best trial's outputs become the step's; every trial's
    hyperparameters, status and metric are recorded."""

    template_fields = ()
    ui_color = "#c4b5fd"

    def __init__(self, *, step: dict, datastores: dict, **kwargs):
        super().__init__(**kwargs)
        self.take_step(step)
        self.datastores = datastores

    def execute(self, context):
        return self.run_reusable(context, self._pick)

    def _pick(self, context, plan, params, fp) -> dict:
        step, search = self.step, self.search
        rows = self.trial_rows(context, plan, self.all_trials(context))
        name = search["primary_metric_name"]
        done = [r for r in rows if r["status"] == "completed" and r["metric"] is not None]
        if not done:
            raise StepError(
                f"step {step['name']!r}: no trial completed with a numeric {name!r} logged"
                " (Run.get_context().log(name, value) in the script)"
            )
        maximize = search["primary_metric_goal"] == "maximize"
        # The best metric; of equal ones, the first trial.
        best = min(done, key=lambda r: (-r["metric"] if maximize else r["metric"], r["trial"]))
        outputs = self.worker_outputs(context, fp)
        for port in search.get("trial_outputs") or []:
            src = location(self.worker_location(best["refs"][port]))
            dst = location(outputs[port])
            remove_tree(dst)
            copy_tree(src, dst)
        for port, model_file in search.get("model_outputs") or []:
            src = location(self.worker_location(best["refs"][RUN_OUTPUTS]))
            dst = location(outputs[port])
            if model_file:
                rel = str(model_file).replace("\\", "/")
                rel = rel[len("outputs/") :] if rel.startswith("outputs/") else rel
                src = src / rel
                dst.mkdir(parents=True, exist_ok=True)
                dst = dst / Path(rel).name
            else:
                remove_tree(dst)
            if not src.exists():
                raise StepError(
                    f"step {step['name']!r}: the best trial ({best['run_id']}) wrote no"
                    f" {model_file or 'outputs/'} for output {port!r}"
                )
            copy_tree(src, dst)
        table = {
            r["run_id"]: {k: v for k, v in r["metrics"].items() if not isinstance(v, dict)}
            for r in rows
            if r["status"] != "not run"
        }
        for port in search.get("metrics_outputs") or []:
            dst = location(outputs[port])
            remove_tree(dst)
            with dst.open("w", encoding="utf-8") as fh:
                fh.write(json.dumps(table, sort_keys=True, indent=1))
        hyper = " ".join(f"{n} {v}" for n, v in best["hyperparameters"])
        self.log.info(
            "step %s: best trial %s (%s) with %s %g of %d completed",
            step["name"],
            best["run_id"],
            hyper,
            name,
            best["metric"],
            len(done),
        )
        # One line per trial in `amlcompile status`: "trial tune_3: completed, accuracy 0.91
        # (--lr 0.1 --layers 8)".
        summary = {
            "metrics": {
                name: best["metric"],
                "best_trial": best["run_id"],
                "best_hyperparameters": hyper,
                **{f"trial {r['run_id']}": _trial_line(r, name) for r in rows},
            },
            "tags": {},
        }
        context["ti"].xcom_push(key=METRICS_XCOM_KEY, value=summary)
        return {"outputs": outputs, "metrics": summary, "best_trial": best["trial"]}


def _trial_line(row: dict, metric: str) -> str:
    hyper = " ".join(f"{n} {v}" for n, v in row["hyperparameters"])
    value = "no value" if row["metric"] is None else f"{row['metric']:g}"
    return f"{row['status']}, {metric} {value} ({hyper})"


# ---- Bayesian proposals (a Parzen-estimator search, standard library only) ----


def _sample(kind: str, args: list, rng: random.Random):
    if kind == "choice":
        return rng.choice(list(args))
    x = rng.uniform(args[0], args[1])
    if kind == "quniform":
        q = args[2]
        x = round(x / q) * q
        return int(x) if isinstance(q, int) and float(x).is_integer() else float(x)
    return float(x)


def _density(kind: str, args: list, value, points: list) -> float:
    """A Parzen density of `points` at `value` for one hyperparameter (a smoothed histogram
    for a choice, Gaussian kernels a fifth of the range wide otherwise, with a uniform prior
    weighted as one point)."""
    if kind == "choice":
        options = list(args)
        return (sum(1 for p in points if p == value) + 1) / (len(points) + len(options))
    low, high = float(args[0]), float(args[1])
    width = max(high - low, 1e-12)
    sigma = width / 5
    total = 1 / width
    for p in points:
        total += math.exp(-0.5 * ((float(value) - float(p)) / sigma) ** 2) / (
            sigma * math.sqrt(2 * math.pi)
        )
    return total / (len(points) + 1)


def propose(
    space: list, history: list, count: int, rng: random.Random, goal: str, exclude=()
) -> list[list]:
    """`count` new trials ([[argument, value], ...]) for a Bayesian round. `history`:
    (hyperparameters, metric) of the completed trials so far. With fewer than two, draws at
    random; else the candidate (of 32 drawn around the best quarter of the trials) with the
    highest ratio of the good trials' density to the others', per hyperparameter (TPE)."""
    seen = {json.dumps(h) for h in exclude}
    out: list[list] = []
    ranked = sorted(history, key=lambda t: -t[1] if goal == "maximize" else t[1])
    good = ranked[: max(1, math.ceil(len(ranked) / 4))]
    rest = ranked[len(good) :]
    for _ in range(count):
        best, best_score = None, -math.inf
        for attempt in range(64):
            if len(history) < 2 or attempt >= 32:
                candidate = [[n, _sample(k, a, rng)] for n, k, a in space]
            else:
                anchor = dict((n, v) for n, v in rng.choice(good)[0])
                candidate = []
                for n, k, a in space:
                    v = anchor.get(n)
                    if k == "choice":
                        v = v if (v in a and rng.random() < 0.8) else rng.choice(list(a))
                    else:
                        low, high = float(a[0]), float(a[1])
                        v = min(high, max(low, rng.gauss(float(v), (high - low) / 5)))
                        if k == "quniform":
                            q = a[2]
                            v = round(v / q) * q
                            v = int(v) if isinstance(q, int) and float(v).is_integer() else v
                    candidate.append([n, v])
            if json.dumps(candidate) in seen:
                continue
            if len(history) < 2:
                best = candidate
                break
            score = 0.0
            for (n, k, a), (_, v) in zip(space, candidate, strict=True):
                g = _density(k, a, v, [dict((x, y) for x, y in h)[n] for h, _ in good])
                b = _density(k, a, v, [dict((x, y) for x, y in h)[n] for h, _ in rest])
                score += math.log(g) - math.log(b)
            if score > best_score:
                best, best_score = candidate, score
        if best is None:  # the space is used up
            break
        seen.add(json.dumps(best))
        out.append(best)
    return out
