"""HyperDriveStep: SDK v1 model search (`azureml.train.hyperdrive`, `azureml.pipeline.steps`).

The search space, sampler, policy and goal are plain objects that remember where they were
made. At build, `trials()` turns grid and random sampling into the fixed list of trials (a
seeded generator: the same build gives the same trials), so the DAG is static; capture
(`capture_spec`) turns the step into the IR's `HyperDriveSpec`, collecting every problem with
its file and line.
"""

from __future__ import annotations

import itertools
import math
import random

from ..exceptions import UserErrorException
from .location import caller_location
from .steps import PipelineStep
from .warnings import ignored, ordered, unsupported

# ---- parameter expressions (azureml.train.hyperdrive.parameter_expressions) ----


class ParameterExpression:
    """One hyperparameter's distribution. `discrete` ones (choice, randint) can be a grid."""

    def __init__(self, kind: str, args: tuple):
        self.kind = kind
        self.args = args
        self._location = caller_location()

    @property
    def discrete(self) -> bool:
        return self.kind in ("choice", "randint")

    def values(self) -> list:
        """Every value of a discrete expression, in order."""
        if self.kind == "choice":
            return list(self.args)
        return list(range(int(self.args[0])))  # randint(upper): 0 .. upper-1

    def sample(self, rng: random.Random):
        k, a = self.kind, self.args
        if k in ("choice", "randint"):
            return rng.choice(self.values())
        if k in ("uniform", "quniform"):
            x = rng.uniform(a[0], a[1])
        elif k in ("loguniform", "qloguniform"):
            x = math.exp(rng.uniform(a[0], a[1]))
        elif k in ("normal", "qnormal"):
            x = rng.gauss(a[0], a[1])
        else:  # lognormal, qlognormal
            x = math.exp(rng.gauss(a[0], a[1]))
        if k.startswith("q"):  # round(x / q) * q, as the SDK documents
            q = a[-1]
            x = round(x / q) * q
            if isinstance(q, int) and float(x).is_integer():
                return int(x)
        return float(x)

    def __iter__(self):  # the SDK's list form: [kind, [args]]
        yield self.kind
        yield [list(self.args)]

    def __repr__(self) -> str:
        return f"{self.kind}({', '.join(map(repr, self.args))})"


def choice(*options):
    """choice(1, 2, 3) or choice([1, 2, 3]) or choice(range(3))."""
    if len(options) == 1 and isinstance(options[0], (list, tuple, range)):
        options = tuple(options[0])
    return ParameterExpression("choice", tuple(options))


def randint(upper):
    return ParameterExpression("randint", (upper,))


def uniform(min_value, max_value):
    return ParameterExpression("uniform", (min_value, max_value))


def quniform(min_value, max_value, q):
    return ParameterExpression("quniform", (min_value, max_value, q))


def loguniform(min_value, max_value):
    return ParameterExpression("loguniform", (min_value, max_value))


def qloguniform(min_value, max_value, q):
    return ParameterExpression("qloguniform", (min_value, max_value, q))


def normal(mu, sigma):
    return ParameterExpression("normal", (mu, sigma))


def qnormal(mu, sigma, q):
    return ParameterExpression("qnormal", (mu, sigma, q))


def lognormal(mu, sigma):
    return ParameterExpression("lognormal", (mu, sigma))


def qlognormal(mu, sigma, q):
    return ParameterExpression("qlognormal", (mu, sigma, q))


EXPRESSIONS = {
    f.__name__: f
    for f in (
        choice,
        randint,
        uniform,
        quniform,
        loguniform,
        qloguniform,
        normal,
        qnormal,
        lognormal,
        qlognormal,
    )
}


def _scalar(v) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    return isinstance(v, (bool, int, str))


# ---- samplers ----


class HyperParameterSampling:
    _kind = ""

    def __init__(self, parameter_space, properties=None):
        self._parameter_space = dict(parameter_space) if parameter_space is not None else {}
        self._properties = dict(properties) if isinstance(properties, dict) else {}
        self._location = caller_location()

    @property
    def parameter_space(self) -> dict:
        return self._parameter_space

    def problems(self) -> list[str]:
        out = []
        if not self._parameter_space:
            out.append(f"{type(self).__name__}: the search space is empty")
        for name, expr in self._parameter_space.items():
            if not isinstance(name, str) or not name.strip("-"):
                out.append(f"{type(self).__name__}: hyperparameter name {name!r} is not a name")
            if not isinstance(expr, ParameterExpression):
                out.append(
                    f"{type(self).__name__}: hyperparameter {name!r} must be a parameter"
                    f" expression (choice, uniform, ...), got {type(expr).__name__}"
                )
            elif expr.kind == "choice" and not expr.values():
                out.append(f"{type(self).__name__}: hyperparameter {name!r} has no values")
            elif expr.kind == "choice":
                bad = [v for v in expr.values() if not _scalar(v)]
                if bad:
                    out.append(
                        f"{type(self).__name__}: hyperparameter {name!r}: choice values must be"
                        f" str, int, float or bool (finite), got {bad[0]!r}"
                    )
            elif not all(_scalar(a) and not isinstance(a, (bool, str)) for a in expr.args):
                out.append(
                    f"{type(self).__name__}: hyperparameter {name!r}: {expr!r} needs numbers"
                )
            elif expr.kind == "randint" and (type(expr.args[0]) is not int or expr.args[0] < 1):
                out.append(
                    f"{type(self).__name__}: hyperparameter {name!r}: randint needs upper >= 1"
                )
        return out


class GridParameterSampling(HyperParameterSampling):
    """Every combination of the choice() values, in the order the space lists them."""

    _kind = "grid"

    def __init__(self, parameter_space, properties=None):
        ignored("GridParameterSampling", properties=properties)  # a grid has nothing to seed
        super().__init__(parameter_space, properties)

    def problems(self) -> list[str]:
        out = super().problems()
        for name, expr in self._parameter_space.items():
            if isinstance(expr, ParameterExpression) and not expr.discrete:
                out.append(
                    f"GridParameterSampling: hyperparameter {name!r} is {expr!r}, a continuous"
                    " expression; a grid takes choice() only (use RandomParameterSampling)"
                )
        return out

    def trials(self, max_total_runs: int) -> list[list]:
        names = list(self._parameter_space)
        grid = itertools.product(*(self._parameter_space[n].values() for n in names))
        return [
            list(zip(names, combo, strict=True)) for combo in itertools.islice(grid, max_total_runs)
        ]


class RandomParameterSampling(HyperParameterSampling):
    """max_total_runs draws from a generator seeded by `properties={"seed": N}` (default 0):
    the same build gives the same trials. A space of choice() only is drawn without repeats."""

    _kind = "random"

    def __init__(self, parameter_space, properties=None):
        super().__init__(parameter_space, properties)

    @property
    def seed(self):
        return self._properties.get("seed", self._properties.get("rngseed", 0))

    def trials(self, max_total_runs: int) -> list[list]:
        rng = random.Random(self.seed)
        names = list(self._parameter_space)
        exprs = [self._parameter_space[n] for n in names]
        if all(e.discrete for e in exprs):
            size = math.prod(len(e.values()) for e in exprs)
            max_total_runs = min(max_total_runs, size)
        seen: set = set()
        out = []
        attempts = 0
        while len(out) < max_total_runs and attempts < max_total_runs * 100:
            attempts += 1
            trial = [(n, e.sample(rng)) for n, e in zip(names, exprs, strict=True)]
            key = repr(trial)
            if key in seen:
                continue
            seen.add(key)
            out.append(trial)
        return out


class BayesianParameterSampling(HyperParameterSampling):
    """Sequential rounds: the trials of a round are proposed from the results of the rounds
    before it (runtime/hyperdrive.propose), so they are chosen when the run gets there, not at
    build. As in Azure ML: choice(), uniform() and quniform() only, no early termination."""

    _kind = "bayesian"

    def __init__(self, parameter_space, properties=None):
        super().__init__(parameter_space, properties)

    @property
    def seed(self):
        return self._properties.get("seed", self._properties.get("rngseed", 0))

    def problems(self) -> list[str]:
        out = super().problems()
        for name, expr in self._parameter_space.items():
            if isinstance(expr, ParameterExpression) and expr.kind not in (
                "choice",
                "uniform",
                "quniform",
            ):
                out.append(
                    f"BayesianParameterSampling: hyperparameter {name!r} is {expr!r}; Bayesian"
                    " sampling takes choice(), uniform() and quniform() (as Azure ML's)"
                )
        if type(self.seed) is not int:
            out.append(f"BayesianParameterSampling: the seed must be an integer, got {self.seed!r}")
        return out


# ---- early termination ----


class EarlyTerminationPolicy:
    _kind = ""

    def __init__(self, evaluation_interval=1, delay_evaluation=0):
        self.evaluation_interval = evaluation_interval
        self.delay_evaluation = delay_evaluation
        self._location = caller_location()

    def spec(self) -> dict:
        return {
            "kind": self._kind,
            "evaluation_interval": self.evaluation_interval,
            "delay_evaluation": self.delay_evaluation,
        }

    def problems(self) -> list[str]:
        out = []
        for name in ("evaluation_interval", "delay_evaluation"):
            v = getattr(self, name)
            low = 1 if name == "evaluation_interval" else 0
            if type(v) is not int or v < low:
                out.append(f"{type(self).__name__}: {name} must be an integer >= {low}, got {v!r}")
        return out


class BanditPolicy(EarlyTerminationPolicy):
    """Stops a trial whose primary metric at an interval is not within the slack of the best
    trial's at that interval."""

    _kind = "bandit"

    def __init__(
        self, evaluation_interval=1, slack_factor=None, slack_amount=None, delay_evaluation=0
    ):
        super().__init__(evaluation_interval, delay_evaluation)
        self.slack_factor = slack_factor
        self.slack_amount = slack_amount

    def spec(self) -> dict:
        return {
            **super().spec(),
            "slack_factor": self.slack_factor,
            "slack_amount": self.slack_amount,
        }

    def problems(self) -> list[str]:
        out = super().problems()
        if (self.slack_factor is None) == (self.slack_amount is None):
            out.append("BanditPolicy: give exactly one of slack_factor and slack_amount")
        for name in ("slack_factor", "slack_amount"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v < 0):
                out.append(f"BanditPolicy: {name} must be a number >= 0, got {v!r}")
        return out


class MedianStoppingPolicy(EarlyTerminationPolicy):
    """Stops a trial whose best primary metric so far is worse than the median of the other
    trials' running averages at that interval."""

    _kind = "median_stopping"

    def __init__(self, evaluation_interval=1, delay_evaluation=0):
        super().__init__(evaluation_interval, delay_evaluation)


class TruncationSelectionPolicy(EarlyTerminationPolicy):
    """Stops a trial whose primary metric at an interval is in the worst
    truncation_percentage % of the trials' at that interval."""

    _kind = "truncation_selection"

    def __init__(self, truncation_percentage, evaluation_interval=1, delay_evaluation=0):
        super().__init__(evaluation_interval, delay_evaluation)
        self.truncation_percentage = truncation_percentage

    def spec(self) -> dict:
        return {**super().spec(), "truncation_percentage": self.truncation_percentage}

    def problems(self) -> list[str]:
        out = super().problems()
        v = self.truncation_percentage
        if type(v) is not int or not 1 <= v <= 99:
            out.append(f"TruncationSelectionPolicy: truncation_percentage must be 1..99, got {v!r}")
        return out


class NoTerminationPolicy(EarlyTerminationPolicy):
    _kind = "none"

    def __init__(self):
        super().__init__()


class PrimaryMetricGoal:
    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"

    @staticmethod
    def from_str(goal):
        text = str(goal).upper()
        if text not in ("MAXIMIZE", "MINIMIZE"):
            raise UserErrorException(f"unknown primary_metric_goal {goal!r}: MAXIMIZE or MINIMIZE")
        return text


# ---- the configuration and the step ----


class HyperDriveConfig:
    def __init__(
        self,
        hyperparameter_sampling,
        primary_metric_name,
        primary_metric_goal,
        max_total_runs,
        max_concurrent_runs=None,
        max_duration_minutes=10080,
        policy=None,
        estimator=None,
        run_config=None,
        resume_from=None,
        resume_child_runs=None,
        pipeline=None,
        debug_flag=None,
        custom_run_id=None,
    ):
        self._location = caller_location()
        ignored("HyperDriveConfig", debug_flag=debug_flag, custom_run_id=custom_run_id)
        unsupported(
            "HyperDriveConfig",
            resume_from=resume_from,
            resume_child_runs=resume_child_runs,
            pipeline=pipeline,
            max_duration_minutes=None if max_duration_minutes == 10080 else max_duration_minutes,
        )
        self.hyperparameter_sampling = hyperparameter_sampling
        self.primary_metric_name = primary_metric_name
        self.primary_metric_goal = primary_metric_goal
        self.max_total_runs = max_total_runs
        self.max_concurrent_runs = max_concurrent_runs
        self.max_duration_minutes = max_duration_minutes
        self.policy = policy
        self.estimator = estimator
        self.run_config = run_config

    def problems(self) -> list[tuple[str, tuple]]:
        """(message, where) for everything wrong, all at once."""
        from .environment import ScriptRunConfig

        where = self._location
        out: list[tuple[str, tuple]] = []
        if self.estimator is not None:
            out.append(
                (
                    "HyperDriveConfig: estimator= is the legacy form (estimators are retired"
                    " in SDK v1): give the trial's script, compute and environment with"
                    " run_config=ScriptRunConfig(source_directory=..., script=...,"
                    " arguments=..., compute_target=..., environment=...)",
                    where,
                )
            )
        elif not isinstance(self.run_config, ScriptRunConfig):
            got = type(self.run_config).__name__ if self.run_config is not None else "nothing"
            out.append(
                (
                    "HyperDriveConfig: run_config must be a ScriptRunConfig (the trial's"
                    f" script, compute and environment), got {got}",
                    where,
                )
            )
        elif not self.run_config.script:
            out.append(("HyperDriveConfig: the ScriptRunConfig has no script=", where))
        sampling = self.hyperparameter_sampling
        if isinstance(sampling, BayesianParameterSampling) and not isinstance(
            self.policy, NoTerminationPolicy | None
        ):
            out.append(
                (
                    "HyperDriveConfig: Bayesian sampling takes no early-termination policy"
                    " (as in Azure ML): its rounds learn from complete trials",
                    where,
                )
            )
        if isinstance(sampling, HyperParameterSampling):
            out += [(m, sampling._location) for m in sampling.problems()]
        else:
            out.append(
                (
                    "HyperDriveConfig: hyperparameter_sampling must be GridParameterSampling,"
                    " RandomParameterSampling or BayesianParameterSampling, got"
                    f" {type(sampling).__name__}",
                    where,
                )
            )
        if not isinstance(self.primary_metric_name, str) or not self.primary_metric_name:
            out.append(("HyperDriveConfig: primary_metric_name must be a metric's name", where))
        if str(self.primary_metric_goal).upper() not in ("MAXIMIZE", "MINIMIZE"):
            out.append(
                (
                    f"HyperDriveConfig: unknown primary_metric_goal {self.primary_metric_goal!r}"
                    " (PrimaryMetricGoal.MAXIMIZE or PrimaryMetricGoal.MINIMIZE)",
                    where,
                )
            )
        if type(self.max_total_runs) is not int or self.max_total_runs < 1:
            out.append(
                (
                    "HyperDriveConfig: max_total_runs must be an integer >= 1, got"
                    f" {self.max_total_runs!r}",
                    where,
                )
            )
        if self.max_concurrent_runs is not None and (
            type(self.max_concurrent_runs) is not int or self.max_concurrent_runs < 1
        ):
            out.append(
                (
                    "HyperDriveConfig: max_concurrent_runs must be an integer >= 1, got"
                    f" {self.max_concurrent_runs!r}",
                    where,
                )
            )
        if self.policy is not None:
            if isinstance(self.policy, EarlyTerminationPolicy):
                out += [(m, self.policy._location) for m in self.policy.problems()]
            else:
                out.append(
                    (
                        "HyperDriveConfig: policy must be BanditPolicy, MedianStoppingPolicy,"
                        f" TruncationSelectionPolicy or NoTerminationPolicy, got"
                        f" {type(self.policy).__name__}",
                        where,
                    )
                )
        return out


class TrainingOutput:
    """What a HyperDriveStep output holds: the trials' metrics (`"Metrics"`), or the best
    trial's `outputs/` folder or one file of it (`"Model"`, `model_file`)."""

    def __init__(self, type, iteration=None, metric=None, model_file=None):
        self.type = type
        self.iteration = iteration
        self.metric = metric
        self.model_file = model_file
        # iteration and metric choose an AutoML iteration: no meaning for a HyperDriveStep.
        ignored("TrainingOutput", iteration=iteration, metric=metric)
        self._location = caller_location()


class HyperDriveStep(PipelineStep):
    _kind = "hyperdrive"

    def __init__(
        self,
        name,
        hyperdrive_config,
        estimator_entry_script_arguments=None,
        inputs=None,
        outputs=None,
        metrics_output=None,
        allow_reuse=True,
        version=None,
    ):
        from .environment import ScriptRunConfig

        src = getattr(hyperdrive_config, "run_config", None)
        src = src if isinstance(src, ScriptRunConfig) else None
        arguments = list(src.arguments) if src is not None else []
        arguments += list(
            ordered(estimator_entry_script_arguments, "HyperDriveStep", "arguments") or []
        )
        outputs = list(ordered(outputs, "HyperDriveStep", "outputs") or [])
        if metrics_output is not None and not any(metrics_output is o for o in outputs):
            outputs.append(metrics_output)
        super().__init__(
            name,
            inputs,
            outputs,
            arguments,
            src.compute_target if src is not None else None,
            src.source_directory if src is not None else None,
            allow_reuse,
            version,
            None,
            src.run_config if src is not None else None,
        )
        self.hyperdrive_config = hyperdrive_config
        self.metrics_output = metrics_output
        self.script_name = src.script if src is not None else None
        self._airflow_settings = {}


def argument_name(name: str) -> str:
    """How a hyperparameter reaches the script: `--name value` (a name given with its dashes
    is passed as it is)."""
    return name if name.startswith("-") else f"--{name}"


def capture_spec(cap, s: HyperDriveStep, name: str, ports_out, port_of_output):
    """The step's HyperDriveSpec, or None after reporting its problems to `cap`.

    port_of_output(data) → the port name of one of the step's outputs."""
    from ..ir import models as ir

    config = s.hyperdrive_config
    if not isinstance(config, HyperDriveConfig):
        cap.problem(
            f"step {name!r}: hyperdrive_config must be a HyperDriveConfig, got"
            f" {type(config).__name__}",
            s._location,
        )
        return None
    problems = config.problems()
    metrics_ports, model_ports, trial_ports = [], [], []
    for o in s.outputs:
        training = getattr(o, "training_output", None)
        port = port_of_output(o)
        if port is None:
            continue
        kind = getattr(training, "type", None)
        if o is s.metrics_output or (kind is not None and str(kind).lower() == "metrics"):
            metrics_ports.append(port)
        elif kind is not None and str(kind).lower() == "model":
            model_ports.append((port, training.model_file))
        elif training is not None:
            problems.append(
                (
                    f"TrainingOutput: type must be 'Metrics' or 'Model', got {kind!r}",
                    training._location,
                )
            )
        else:
            trial_ports.append(port)
    for message, where in problems:
        cap.problem(f"step {name!r}: {message}", where)
    if problems:
        return None
    sampling = config.hyperparameter_sampling
    bayesian = isinstance(sampling, BayesianParameterSampling)
    trials = [] if bayesian else sampling.trials(config.max_total_runs)
    space = ()
    if bayesian:  # proposed round by round at run time (runtime/hyperdrive.propose)
        space = tuple(
            (argument_name(n), e.kind, tuple(cap.literal_arg(a).value for a in e.args))
            for n, e in sampling.parameter_space.items()
        )
    policy = config.policy
    if isinstance(policy, NoTerminationPolicy):
        policy = None
    return ir.HyperDriveSpec(
        sampling=config.hyperparameter_sampling._kind,
        trials=tuple(
            tuple((argument_name(n), cap.literal_arg(v).value) for n, v in trial)
            for trial in trials
        ),
        primary_metric_name=config.primary_metric_name,
        primary_metric_goal=str(config.primary_metric_goal).lower(),
        max_concurrent_runs=config.max_concurrent_runs,
        policy=ir.HyperDrivePolicy(**policy.spec()) if policy is not None else None,
        metrics_outputs=tuple(metrics_ports),
        model_outputs=tuple(model_ports),
        trial_outputs=tuple(trial_ports),
        space=space,
        max_total_runs=config.max_total_runs if bayesian else None,
        seed=sampling.seed if bayesian else None,
    )


__all__ = [
    "BanditPolicy",
    "BayesianParameterSampling",
    "GridParameterSampling",
    "HyperDriveConfig",
    "HyperDriveStep",
    "MedianStoppingPolicy",
    "NoTerminationPolicy",
    "PrimaryMetricGoal",
    "RandomParameterSampling",
    "TrainingOutput",
    "TruncationSelectionPolicy",
    *EXPRESSIONS,
]
