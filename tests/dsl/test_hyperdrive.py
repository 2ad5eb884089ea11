"""HyperDriveStep at build: SDK v1 names (azureml.train.hyperdrive and its
parameter_expressions), the trials sampled at build (grid order, seeded random draws), what
the DAG gets (a trial list task, a mapped trial task bounded by max_concurrent_runs, the
step's own task), and bad input refused with file:line. The policies' arithmetic is tested
here too (runtime/hyperdrive.should_stop); runs are in tests/airflow/test_hyperdrive.py."""

from __future__ import annotations

import pytest

from amlcompile.compiler import check, render_files
from amlcompile.dsl.hyperdrive import (
    GridParameterSampling,
    RandomParameterSampling,
    choice,
    loguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)
from amlcompile.exceptions import BuildError

HEAD = """\
from azureml.core import Workspace, ScriptRunConfig
from azureml.pipeline.core import Pipeline, PipelineData, TrainingOutput
from azureml.pipeline.steps import HyperDriveStep
from azureml.train.hyperdrive import (
    BanditPolicy, BayesianParameterSampling, GridParameterSampling, HyperDriveConfig,
    PrimaryMetricGoal, choice, loguniform, uniform,
)
ws = Workspace.from_config()
src = ScriptRunConfig(source_directory="src", script="train.py")
"""

GOOD = (
    HEAD
    + """\
space = GridParameterSampling({"--lr": choice(0.1, 0.2), "batch": choice(16, 32, 64)})
config = HyperDriveConfig(run_config=src, hyperparameter_sampling=space,
                          policy=BanditPolicy(evaluation_interval=2, slack_amount=0.2),
                          primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                          max_total_runs=5, max_concurrent_runs=3)
step = HyperDriveStep(name="tune", hyperdrive_config=config)
pipeline = Pipeline(ws, steps=[step])
"""
)


def _write(project, body: str):
    project.script("src/train.py")
    return project.write("pipe.py", body)


def _problems(project, body: str) -> list[str]:
    with pytest.raises(BuildError) as info:
        render_files(check([_write(project, body)]))
    return [str(p) for p in info.value.problems]


def _line(project, needle: str) -> int:
    lines = (project.root / "pipe.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_grid_trials_in_order_capped_by_max_total_runs(project):
    (compiled,) = check([_write(project, GOOD)])
    step = compiled.pipeline.step("tune")
    assert step.kind == "hyperdrive"
    hd = step.hyperdrive
    assert hd.sampling == "grid" and hd.primary_metric_goal == "maximize"
    assert [list(t) for t in hd.trials] == [
        [("--lr", 0.1), ("--batch", 16)],
        [("--lr", 0.1), ("--batch", 32)],
        [("--lr", 0.1), ("--batch", 64)],
        [("--lr", 0.2), ("--batch", 16)],
        [("--lr", 0.2), ("--batch", 32)],
    ]
    assert hd.policy.kind == "bandit" and hd.policy.evaluation_interval == 2


def test_the_dag_has_a_list_task_a_bounded_mapped_trial_task_and_the_step(project):
    (compiled,) = check([_write(project, GOOD)])
    files, _ = render_files([compiled])
    src = files[f"{compiled.pipeline.name}.py"][0].decode()
    assert "tune__trials = HyperDriveTrialsOperator(" in src
    assert "tune__trial = HyperDriveTrialOperator.partial(" in src
    assert ").expand(trial=tune__trials.output)" in src
    assert "max_active_tis_per_dagrun=3," in src
    assert "tune = HyperDriveBestOperator(" in src
    assert "tune__trials >> tune__trial" in src and "tune__trial >> tune" in src
    assert "'helper_tasks': ['tune__trials', 'tune__trial']" in src


def test_random_sampling_is_seeded_and_the_same_every_build():
    space = {
        "--lr": loguniform(-6, -1),
        "--n": quniform(1, 10, 1),
        "--k": randint(4),
        "--m": qnormal(0, 1, 0.5),
        "--act": choice("relu", "tanh"),
    }
    a = RandomParameterSampling(space, properties={"seed": 7}).trials(20)
    b = RandomParameterSampling(space, properties={"seed": 7}).trials(20)
    c = RandomParameterSampling(space, properties={"seed": 8}).trials(20)
    assert a == b and a != c and len(a) == 20
    for trial in a:
        values = dict(trial)
        assert 0 < values["--lr"] < 1 and isinstance(values["--n"], int)
        assert values["--k"] in range(4) and values["--act"] in ("relu", "tanh")
        assert values["--m"] * 2 == int(values["--m"] * 2)
    # A space of choices only: no repeats, at most its size.
    small = RandomParameterSampling({"a": choice(1, 2), "b": choice("x", "y")}).trials(10)
    assert len(small) == 4 and len({repr(t) for t in small}) == 4


def test_grid_of_a_range():
    trials = GridParameterSampling({"--n": choice(range(3))}).trials(10)
    assert trials == [[("--n", 0)], [("--n", 1)], [("--n", 2)]]
    assert uniform(0, 1).discrete is False


@pytest.mark.parametrize(
    ("body", "needle", "message"),
    [
        (
            "space = GridParameterSampling({})\nconfig = HyperDriveConfig(run_config=src,"
            ' hyperparameter_sampling=space, primary_metric_name="acc",'
            " primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=4)\n",
            "GridParameterSampling({})",
            "the search space is empty",
        ),
        (
            'space = GridParameterSampling({"--lr": choice(1, 2)})\nconfig = HyperDriveConfig('
            'run_config=src, hyperparameter_sampling=space, primary_metric_name="acc",'
            ' primary_metric_goal="biggest", max_total_runs=4)\n',
            "config = HyperDriveConfig(",
            "unknown primary_metric_goal 'biggest'",
        ),
        (
            'space = GridParameterSampling({"--lr": choice(1, 2)})\nconfig = HyperDriveConfig('
            'run_config=src, hyperparameter_sampling=space, primary_metric_name="acc",'
            ' primary_metric_goal="MINIMIZE", max_total_runs=0)\n',
            "config = HyperDriveConfig(",
            "max_total_runs must be an integer >= 1, got 0",
        ),
        (
            'space = GridParameterSampling({"--lr": uniform(0, 1)})\nconfig = HyperDriveConfig('
            'run_config=src, hyperparameter_sampling=space, primary_metric_name="acc",'
            ' primary_metric_goal="MINIMIZE", max_total_runs=3)\n',
            "GridParameterSampling({",
            "hyperparameter '--lr' is uniform(0, 1), a continuous expression",
        ),
        (
            'space = GridParameterSampling({"--lr": choice(1, 2)})\nconfig = HyperDriveConfig('
            'estimator=object(), hyperparameter_sampling=space, primary_metric_name="acc",'
            ' primary_metric_goal="MINIMIZE", max_total_runs=3)\n',
            "config = HyperDriveConfig(",
            "estimator= is the legacy form",
        ),
        (
            'space = BayesianParameterSampling({"--lr": loguniform(0, 1)})\nconfig ='
            " HyperDriveConfig(run_config=src, hyperparameter_sampling=space,"
            ' primary_metric_name="acc", primary_metric_goal="MINIMIZE", max_total_runs=3)\n',
            "BayesianParameterSampling({",
            "Bayesian sampling takes choice(), uniform() and quniform()",
        ),
        (
            'space = BayesianParameterSampling({"--lr": uniform(0, 1)})\nconfig ='
            " HyperDriveConfig(run_config=src, hyperparameter_sampling=space,"
            ' primary_metric_name="acc", primary_metric_goal="MINIMIZE", max_total_runs=3,'
            " policy=BanditPolicy(slack_factor=0.2))\n",
            "config =",
            "Bayesian sampling takes no early-termination policy",
        ),
        (
            'space = GridParameterSampling({"--lr": choice(1, 2)})\nconfig = HyperDriveConfig('
            'run_config=src, hyperparameter_sampling=space, primary_metric_name="acc",'
            ' primary_metric_goal="MINIMIZE", max_total_runs=3,'
            " policy=BanditPolicy(slack_factor=0.1, slack_amount=1))\n",
            "config = HyperDriveConfig(",
            "give exactly one of slack_factor and slack_amount",
        ),
    ],
)
def test_bad_input_is_refused_with_file_and_line(project, body, needle, message):
    tail = (
        'step = HyperDriveStep(name="tune", hyperdrive_config=config)\n'
        "pipeline = Pipeline(ws, [step])\n"
    )
    problems = _problems(project, HEAD + body + tail)
    found = [p for p in problems if message in p]
    assert found, problems
    assert found[0].startswith(f"pipe.py:{_line(project, needle)}:"), found[0]


def test_a_trial_argument_cannot_name_the_metrics_output(project):
    body = (
        HEAD
        + """\
ds = ws.get_default_datastore()
m = PipelineData("m", datastore=ds, training_output=TrainingOutput("Metrics"))
src2 = ScriptRunConfig(source_directory="src", script="train.py", arguments=["--m", m])
config = HyperDriveConfig(run_config=src2, hyperparameter_sampling=GridParameterSampling(
    {"--lr": choice(1, 2)}), primary_metric_name="acc", primary_metric_goal="MINIMIZE",
    max_total_runs=3)
step = HyperDriveStep(name="tune", hyperdrive_config=config, outputs=[m])
pipeline = Pipeline(ws, [step])
"""
    )
    problems = _problems(project, body)
    assert any("a trial's arguments cannot name it" in p for p in problems), problems


# ---- the policies (runtime/hyperdrive.should_stop) ----


def test_bandit_compares_with_the_best_trial_at_the_same_interval():
    from amlcompile.runtime.hyperdrive import should_stop

    bandit = {"kind": "bandit", "evaluation_interval": 1, "delay_evaluation": 0}
    factor = {**bandit, "slack_factor": 0.1}
    # best at interval 2 is 0.88: limit 0.8
    assert should_stop(factor, "maximize", [0.5, 0.79], [[0.6, 0.88], [0.1]]) is not None
    assert should_stop(factor, "maximize", [0.5, 0.81], [[0.6, 0.88], [0.1]]) is None
    # the trial's best value so far counts, as in Azure ML's definition
    assert should_stop(factor, "maximize", [0.85, 0.5], [[0.6, 0.88], [0.1]]) is None
    # nothing to compare with yet
    assert should_stop(factor, "maximize", [0.1], []) is None
    amount = {**bandit, "slack_amount": 0.2}
    assert should_stop(amount, "minimize", [1.3], [[1.0]]) is not None
    assert should_stop(amount, "minimize", [1.1], [[1.0]]) is None
    # only at multiples of evaluation_interval, after delay_evaluation
    spaced = {**factor, "evaluation_interval": 2, "delay_evaluation": 2}
    assert should_stop(spaced, "maximize", [0.0, 0.0], [[1, 1, 1, 1]]) is None
    assert should_stop(spaced, "maximize", [0.0, 0.0, 0.0], [[1, 1, 1, 1]]) is None
    assert should_stop(spaced, "maximize", [0.0] * 4, [[1, 1, 1, 1]]) is not None


def test_median_stopping_and_truncation_selection():
    from amlcompile.runtime.hyperdrive import should_stop

    median = {"kind": "median_stopping", "evaluation_interval": 1, "delay_evaluation": 0}
    others = [[0.5, 0.7], [0.6, 0.8], [0.2, 0.4]]  # running averages at 2: 0.6, 0.7, 0.3
    assert should_stop(median, "maximize", [0.3, 0.5], others) is not None  # best 0.5 < 0.6
    assert should_stop(median, "maximize", [0.3, 0.65], others) is None
    trunc = {
        "kind": "truncation_selection",
        "evaluation_interval": 1,
        "delay_evaluation": 0,
        "truncation_percentage": 50,
    }
    assert should_stop(trunc, "minimize", [5.0], [[1.0], [2.0], [3.0]]) is not None
    assert should_stop(trunc, "minimize", [1.5], [[1.0], [2.0], [3.0]]) is None
    assert should_stop(trunc, "minimize", [5.0], []) is None


def test_sdk_imports_resolve_to_amlcompile(project):
    from amlcompile.sdk_compat import hook

    with hook.installed():
        from azureml.pipeline.core import TrainingOutput
        from azureml.pipeline.steps import HyperDriveStep
        from azureml.train.hyperdrive import HyperDriveConfig, PrimaryMetricGoal
        from azureml.train.hyperdrive import choice as hd_choice
        from azureml.train.hyperdrive.parameter_expressions import loguniform as lu

        import amlcompile

        assert HyperDriveStep is amlcompile.HyperDriveStep
        assert HyperDriveConfig is amlcompile.HyperDriveConfig
        assert TrainingOutput is amlcompile.TrainingOutput
        assert PrimaryMetricGoal.MAXIMIZE == "MAXIMIZE"
        assert hd_choice is choice and lu is loguniform


BAYES = (
    HEAD
    + """\
space = BayesianParameterSampling({"--lr": uniform(0, 1), "--act": choice("relu", "tanh")})
config = HyperDriveConfig(run_config=src, hyperparameter_sampling=space,
                          primary_metric_name="acc", primary_metric_goal="MAXIMIZE",
                          max_total_runs=5, max_concurrent_runs=2)
step = HyperDriveStep(name="tune", hyperdrive_config=config)
pipeline = Pipeline(ws, steps=[step])
"""
)


def test_bayesian_search_is_a_list_and_a_mapped_task_per_round(project):
    (compiled,) = check([_write(project, BAYES)])
    hd = compiled.pipeline.step("tune").hyperdrive
    assert hd.sampling == "bayesian" and hd.trials == () and hd.rounds() == [2, 2, 1]
    files, _ = render_files([compiled])
    src = files[f"{compiled.pipeline.name}.py"][0].decode()
    for r in range(3):
        assert f"tune__trials_{r} = HyperDriveTrialsOperator(" in src
        assert f").expand(trial=tune__trials_{r}.output)" in src
    assert "round=2," in src
    assert "tune__trial_0 >> tune__trials_1" in src and "tune__trial_2 >> tune\n" in src


def test_bayesian_proposals_are_seeded_new_and_inside_the_space():
    import random

    from amlcompile.runtime.hyperdrive import propose

    space = [
        ["--lr", "uniform", [0.0, 1.0]],
        ["--n", "quniform", [1, 9, 2]],
        ["--a", "choice", ["x", "y"]],
    ]

    def score(h):
        d = dict(h)
        return -abs(d["--lr"] - 0.3) + (0.2 if d["--a"] == "y" else 0.0)

    history: list = []
    for r in range(4):
        seen = [h for h, _ in history]
        got = propose(space, history, 3, random.Random(f"1/{r}"), "maximize", seen)
        again = propose(space, history, 3, random.Random(f"1/{r}"), "maximize", seen)
        assert got == again and len(got) == 3
        for h in got:
            d = dict(h)
            # quniform is round(uniform(low, high) / q) * q, as the SDK documents
            assert 0 <= d["--lr"] <= 1 and d["--n"] in (0, 2, 4, 6, 8, 10) and d["--a"] in "xy"
        history += [(h, score(h)) for h in got]
    assert len({repr(h) for h, _ in history}) == 12
    # A space of choices only is used up, not repeated.
    small = [["--a", "choice", ["x", "y"]]]
    one = [([["--a", "x"]], 1.0)]
    assert propose(small, one, 5, random.Random(0), "maximize", [[["--a", "x"]]]) == [
        [["--a", "y"]]
    ]


def test_a_trials_fingerprint_ignores_the_search_but_not_the_script(project):
    """A trial is reused by any search that has it: its build-time fingerprint holds the
    script, code, arguments and environment, not the space, sampler, policy or goal; the
    search's own fingerprint holds them all."""
    from amlcompile.targets.base import static_fingerprint, trial_static_fingerprint

    def fingerprints(body: str) -> tuple[str, str]:
        (compiled,) = check([_write(project, body)])
        step = compiled.pipeline.step("tune")
        return trial_static_fingerprint(step), static_fingerprint(step)

    trial, search = fingerprints(GOOD)
    wider = GOOD.replace("choice(0.1, 0.2)", "choice(0.1, 0.2, 0.3)").replace(
        "slack_amount=0.2", "slack_amount=0.3"
    )
    trial2, search2 = fingerprints(wider.replace("MAXIMIZE", "MINIMIZE"))
    assert trial2 == trial and search2 != search
    project.script("src/train.py", "print('changed')\n")
    (compiled,) = check([project.root / "pipe.py"])
    assert trial_static_fingerprint(compiled.pipeline.step("tune")) != trial
