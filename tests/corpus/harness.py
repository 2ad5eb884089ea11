"""Build, import and run the corpus samples the way a user would: the `amlcompile` command line in
the sample's own folder, with the environment variables the sample reads, then Airflow's DagBag.

Used by test_corpus.py and by `python -m tests.corpus.report` (a table of first errors).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.airflow.conftest import airflow_python
from tests.corpus.materialize import materialize, seed_datastores
from tests.corpus.samples import SAMPLES

REPO = Path(__file__).resolve().parents[2]
OFFLINE = Path(__file__).resolve().parent / "offline"
PLAN = "amlcompile_reuse_plan"
PLAN_OPERATOR = "ReusePlanOperator"
RUN_OPTIONS = {"regenerate_outputs", "continue_on_step_failure"}  # Params every DAG has

DAGBAG = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=%r)
out = {}
for dag_id, dag in bag.dags.items():
    out[dag_id] = {
        "tasks": {t.task_id: type(t).__name__ for t in dag.tasks},
        "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids),
        "params": {k: dag.params.get_param(k).resolve() for k in dag.params},
    }
print(json.dumps({"errors": {str(k): v for k, v in bag.import_errors.items()}, "dags": out},
                 default=str))
"""


@dataclass
class Step:
    """One command's outcome."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        # migrate's exit 4: done, with work by hand reported (a feature with no equivalent);
        # the build that follows says whether the sample still builds.
        return self.returncode == 0 or (self.args[:1] == ["migrate"] and self.returncode == 4)

    def first_error(self) -> str:
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith(("error:", "internal"))]
        if not lines:
            lines = [ln for ln in self.stderr.splitlines() if ln.strip()][-3:]
        return lines[0] if lines else f"exit {self.returncode}"

    def errors(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.startswith(("error:", "internal"))]


@dataclass
class Outcome:
    sample: str
    mode: str
    project: Path
    out: Path
    steps: list[Step] = field(default_factory=list)

    @property
    def build(self) -> Step:
        return self.steps[-1]


def sample_env(sample: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(SAMPLES[sample].get("env", {}))
    env["PYTHONPATH"] = os.pathsep.join([str(OFFLINE), str(REPO)])
    env["PYTHONHASHSEED"] = env.get("PYTHONHASHSEED", "random")
    return env


def _command() -> list[str]:
    """The `amlcompile` console script a user types (unlike `python -m`, it does not put the
    current folder on sys.path, so a project's own packages are found only if amlcompile does)."""
    script = Path(sys.executable).parent / "amlcompile"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "amlcompile.cli"]


def cli(sample: str, cwd: Path, *args: str, timeout: int = 600) -> Step:
    argv = [*_command(), *args]
    proc = subprocess.run(
        argv, cwd=cwd, env=sample_env(sample), capture_output=True, text=True, timeout=timeout
    )
    return Step([*args], proc.returncode, proc.stdout, proc.stderr)


def prepare(sample: str, root: Path) -> Path:
    project = root / sample
    materialize(sample, project)
    seed_datastores(sample, project)
    if SAMPLES[sample].get("config"):  # a decision the user makes (samples.py says which)
        (project / "amlcompile.toml").write_text(SAMPLES[sample]["config"])
    return project


def build(sample: str, mode: str, root: Path) -> Outcome:
    """mode: "unmodified" (build the files as published) or "migrated" (migrate, then build)."""
    project = prepare(sample, root / mode)
    outcome = Outcome(sample, mode, project, root / mode / f"{sample}-dags")
    if mode == "migrated":
        outcome.steps.append(cli(sample, project, "migrate", "."))
    entry = SAMPLES[sample]["entry"]
    outcome.steps.append(cli(sample, project, "build", entry, "--out", str(outcome.out)))
    return outcome


def dagbag(dags: Path, home: Path, timeout: int = 300) -> dict:
    return airflow_python(DAGBAG % str(dags), home, dags, timeout)


def expected_graph(spec: dict) -> dict:
    if not spec.get("planner", True):  # a companion DAG (a datastore trigger's watch)
        return {"tasks": spec["tasks"], "edges": sorted(spec["edges"]), "params": spec["params"]}
    downstream = {d for _, d in spec["edges"]}
    roots = [t for t in spec["tasks"] if t not in downstream]
    return {
        "tasks": {PLAN: PLAN_OPERATOR, **spec["tasks"]},
        "edges": sorted(spec["edges"] + [[PLAN, r] for r in roots]),
        "params": spec["params"],
    }


def actual_graph(info: dict) -> dict:
    return {
        "tasks": dict(sorted(info["tasks"].items())),
        "edges": sorted(info["edges"]),
        "params": {k: v for k, v in info["params"].items() if k not in RUN_OPTIONS},
    }


def match_dags(expected: dict[str, dict], got: dict[str, dict]) -> dict[str, str | None]:
    """expected DAG id (or "re:<pattern>") → the built DAG id it matches, or None."""
    matched: dict[str, str | None] = {}
    for key in expected:
        if key.startswith("re:"):
            hits = [d for d in got if re.fullmatch(key[3:], d)]
            matched[key] = hits[0] if len(hits) == 1 else None
        else:
            matched[key] = key if key in got else None
    return matched


def graph_differences(sample: str, result: dict) -> list[str]:
    """Every way the imported DAGs differ from the original graphs (empty: identical)."""
    problems = [
        f"import error {f}: {e.strip().splitlines()[-1]}" for f, e in result["errors"].items()
    ]
    expected = SAMPLES[sample]["dags"]
    matched = match_dags(expected, result["dags"])
    extra = set(result["dags"]) - {d for d in matched.values() if d}
    if extra:
        problems.append(f"unexpected DAGs: {sorted(extra)}")
    for key, dag_id in matched.items():
        if dag_id is None:
            problems.append(f"DAG {key!r} missing (built: {sorted(result['dags'])})")
            continue
        want, got = expected_graph(expected[key]), actual_graph(result["dags"][dag_id])
        for part in ("tasks", "edges", "params"):
            if want[part] != got[part]:
                problems.append(f"{dag_id}: {part} differ: expected {want[part]}, got {got[part]}")
    return problems
