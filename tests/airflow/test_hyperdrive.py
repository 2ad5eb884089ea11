"""HyperDriveStep in the real embedded Airflow (`amlcompile run`): trials as mapped tasks,
early termination while a trial runs, the best trial's outputs read by a downstream step,
every trial in `amlcompile status`, and per-trial reuse when grid points are added.

`dag.test()` runs mapped instances one after another, so a policy compares the running
trial against the trials that logged before it (as Azure's Bandit compares against the best
run so far)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import amlcompile_cli

TRAIN = """\
import argparse, os, time
from azureml.core import Run

p = argparse.ArgumentParser()
p.add_argument("--out")
p.add_argument("--lr", type=float)
p.add_argument("--layers", type=int)
a = p.parse_args()
run = Run.get_context()
score = 1.0 - abs(a.lr - 0.1) * 2 - 0.01 * a.layers
for epoch in range(1, 4):
    run.log("accuracy", round(score * epoch / 3, 4))
    time.sleep(0.5)
os.makedirs("outputs/model", exist_ok=True)
with open("outputs/model/weights.txt", "w") as fh:
    fh.write(f"lr={a.lr} layers={a.layers}\\n")
with open(os.path.join(a.out, "note.txt"), "w") as fh:
    fh.write(f"{a.lr} {a.layers}\\n")
print("trained", a.lr, a.layers)
"""

USE = """\
import argparse, json, os
p = argparse.ArgumentParser()
p.add_argument("--metrics")
p.add_argument("--model")
p.add_argument("--note")
a = p.parse_args()
metrics = json.load(open(a.metrics))
print("TRIALS", sorted(metrics))
print("MODEL", open(os.path.join(a.model, "weights.txt")).read().strip())
print("NOTE", open(os.path.join(a.note, "note.txt")).read().strip())
"""

PIPELINE = """\
from azureml.core import Workspace, ScriptRunConfig
from azureml.pipeline.core import Pipeline, PipelineData, TrainingOutput
from azureml.pipeline.steps import HyperDriveStep, PythonScriptStep
from azureml.train.hyperdrive import (
    BanditPolicy, GridParameterSampling, HyperDriveConfig, NoTerminationPolicy, PrimaryMetricGoal,
)
from azureml.train.hyperdrive.parameter_expressions import choice

ws = Workspace.from_config()
ds = ws.get_default_datastore()
note = PipelineData("note", datastore=ds)
metrics = PipelineData("metrics", datastore=ds, training_output=TrainingOutput("Metrics"))
best = TrainingOutput("Model", model_file="outputs/model/weights.txt")
model = PipelineData("model", datastore=ds, training_output=best)
src = ScriptRunConfig(source_directory="src", script="train.py", arguments=["--out", note])
space = GridParameterSampling({"--lr": choice(LRS), "--layers": choice(1, 30)})
config = HyperDriveConfig(run_config=src, hyperparameter_sampling=space, policy=POLICY,
                          primary_metric_name="accuracy",
                          primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                          max_total_runs=100, max_concurrent_runs=2)
tune = HyperDriveStep(name="tune", hyperdrive_config=config, outputs=[note, model],
                      metrics_output=metrics)
use = PythonScriptStep("use.py", name="use", source_directory="src", inputs=[metrics, model, note],
                       arguments=["--metrics", metrics, "--model", model, "--note", note])
pipeline = Pipeline(ws, steps=[use])
"""


def _pipeline(lrs: str, policy: str) -> str:
    return PIPELINE.replace("LRS", lrs).replace("POLICY", policy)


def _trial_states(out: str) -> dict[int, str]:
    return {int(i): state for i, state in re.findall(r"tune__trial\[(\d+)\]\s+(\w+)", out)}


def _run_id(out: str) -> str:
    return re.search(r"Run (\S+) of pipeline", out).group(1)


@pytest.mark.airflow
def test_grid_search_stops_bad_trials_and_hands_the_best_on(project):
    project.write("src/train.py", TRAIN)
    project.write("src/use.py", USE)
    project.write("pipe.py", _pipeline("0.1, 0.5, 0.3", "BanditPolicy(slack_factor=0.1)"))
    proc = amlcompile_cli("run", "pipe.py", cwd=project.root)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-3000:]
    states = _trial_states(out)
    assert sorted(states) == [0, 1, 2, 3, 4, 5], out[-3000:]  # six mapped trials
    stopped = [i for i, state in states.items() if state == "skipped"]
    assert stopped, out[-3000:]  # at least one stopped by the Bandit policy
    assert set(states.values()) <= {"success", "skipped"}
    # The best trial (lr 0.1, 1 layer) is what the downstream step reads.
    assert "MODEL lr=0.1 layers=1" in out
    assert "NOTE 0.1 1" in out
    # The metrics output has every trial that logged (stopped ones too, as in Azure).
    assert "TRIALS ['tune_0', 'tune_1', 'tune_2', 'tune_3', 'tune_4', 'tune_5']" in out
    status = amlcompile_cli("status", "pipeline", _run_id(out), cwd=project.root)
    assert status.returncode == 0, status.stderr
    text = status.stdout
    assert "metric best_trial: tune_0" in text
    assert "metric trial tune_0: completed, accuracy 0.99 (--lr 0.1 --layers 1)" in text
    for i in stopped:
        assert f"metric trial tune_{i}: early terminated" in text


@pytest.mark.airflow
def test_adding_grid_points_runs_only_the_new_trials(project):
    project.write("src/train.py", TRAIN)
    project.write("src/use.py", USE)
    project.write("pipe.py", _pipeline("0.1, 0.5", "NoTerminationPolicy()"))
    first = amlcompile_cli("run", "pipe.py", cwd=project.root)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-3000:]
    assert sorted(_trial_states(first.stdout)) == [0, 1, 2, 3]
    assert "MODEL lr=0.1 layers=1" in first.stdout
    # Two more grid points: lr 0.3 with 1 and 30 layers (trials 4 and 5 of the new grid).
    project.write("pipe.py", _pipeline("0.1, 0.5, 0.3", "NoTerminationPolicy()"))
    second = amlcompile_cli("run", "pipe.py", cwd=project.root)
    out = second.stdout
    assert second.returncode == 0, out[-4000:] + second.stderr[-3000:]
    states = _trial_states(out)
    assert len(states) == 2 and set(states.values()) == {"success"}, out[-3000:]
    assert "trained 0.3 1\n" in out and "trained 0.3 30\n" in out
    assert "trained 0.1" not in out and "trained 0.5" not in out
    # The step itself ran (a new search), picking among all six trials.
    assert "TRIALS ['tune_0', 'tune_1', 'tune_2', 'tune_3', 'tune_4', 'tune_5']" in out
    assert "MODEL lr=0.1 layers=1" in out
    # And a third run reuses the whole search without starting Airflow.
    third = amlcompile_cli("run", "pipe.py", cwd=project.root)
    assert third.returncode == 0, third.stdout[-3000:]
    assert "every step reused" in third.stdout


BAYES_TRAIN = """\
import argparse
from azureml.core import Run

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--act")
a = p.parse_args()
score = 1 - abs(a.lr - 0.3) + (0.1 if a.act == "tanh" else 0)
Run.get_context().log("score", score)
print("trained", a.lr, a.act)
"""

BAYES = """\
from azureml.core import Workspace, ScriptRunConfig
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import HyperDriveStep
from azureml.train.hyperdrive import (
    BayesianParameterSampling, HyperDriveConfig, PrimaryMetricGoal, choice, uniform,
)

ws = Workspace.from_config()
src = ScriptRunConfig(source_directory="src", script="train.py")
space = BayesianParameterSampling({"--lr": uniform(0, 1), "--act": choice("relu", "tanh")})
config = HyperDriveConfig(run_config=src, hyperparameter_sampling=space,
                          primary_metric_name="score", primary_metric_goal="maximize",
                          max_total_runs=TOTAL, max_concurrent_runs=2)
tune = HyperDriveStep(name="tune", hyperdrive_config=config)
pipeline = Pipeline(ws, steps=[tune])
"""


@pytest.mark.airflow
def test_bayesian_rounds_propose_from_earlier_results_and_reuse_them(project):
    project.write("src/train.py", BAYES_TRAIN)
    project.write("pipe.py", BAYES.replace("TOTAL", "6"))
    first = amlcompile_cli("run", "pipe.py", cwd=project.root)
    out = first.stdout
    assert first.returncode == 0, out[-4000:] + first.stderr[-3000:]
    for r in range(3):  # three rounds of two trials, one after the other
        assert re.search(rf"tune__trials_{r}\s+success", out), out[-3000:]
    trained = set(re.findall(r"\| trained (\S+ \S+)", out))
    assert len(trained) == 6, trained
    status = amlcompile_cli("status", "pipeline", _run_id(out), cwd=project.root).stdout
    assert len(re.findall(r"metric trial tune_\d: completed", status)) == 6, status
    # Two more trials: the three rounds propose what they proposed (same seeds, same
    # results), so only the fourth round's two trials run.
    project.write("pipe.py", BAYES.replace("TOTAL", "8"))
    second = amlcompile_cli("run", "pipe.py", cwd=project.root)
    out = second.stdout
    assert second.returncode == 0, out[-4000:] + second.stderr[-3000:]
    again = set(re.findall(r"\| trained (\S+ \S+)", out))
    assert len(again) == 2 and not again & trained, (again, trained)
    assert re.search(r"tune\s+success", out)


@pytest.mark.airflow
def test_allow_reuse_false_runs_every_trial_again(project):
    project.write("src/train.py", BAYES_TRAIN)
    body = (
        BAYES.replace("BayesianParameterSampling", "GridParameterSampling")
        .replace("uniform(0, 1)", "choice(0.1, 0.3)")
        .replace("max_total_runs=TOTAL", "max_total_runs=10")
        .replace("hyperdrive_config=config)", "hyperdrive_config=config, allow_reuse=False)")
    )
    project.write("pipe.py", body)
    for attempt in (1, 2):
        proc = amlcompile_cli("run", "pipe.py", cwd=project.root)
        out = proc.stdout
        assert proc.returncode == 0, out[-4000:] + proc.stderr[-3000:]
        assert len(set(re.findall(r"\| trained (\S+ \S+)", out))) == 4, (attempt, out[-3000:])
        assert "metric best_hyperparameters: --lr 0.3 --act tanh" in out
