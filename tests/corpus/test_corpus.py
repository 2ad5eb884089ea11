"""Real public SDK v1 pipeline code (tests/corpus/samples.py) builds with no hand edits.

For each sample, copied to a temporary folder with its original layout:
  (a) `amlcompile build <notebook or script>` of the files as published ("unmodified");
  (b) `amlcompile migrate .` then the same build ("migrated");
  (c) the DAGs import in real Airflow with zero import errors and the original graph (task ids,
      operators, edges, parameters with defaults);
  (d) where the step scripts run on tiny data, `amlcompile run --local` end to end.
Samples that are broken as published or need a feature with no equivalent must fail the build
with one clear error naming the sample's file (exit 2, never an internal error).

KNOWN_FAILING in samples.py lists the (sample, mode) pairs that do not build yet, each with
its reason, as strict xfails: one that starts passing fails until it is taken off the list.
`python -m tests.corpus.report` prints the first error of each.
"""

from __future__ import annotations

import pytest

from tests.corpus import harness
from tests.corpus.materialize import mirror_available
from tests.corpus.samples import KNOWN_FAILING, SAMPLES

pytest.importorskip("airflow", reason="Airflow is installed with the [airflow] extra")

MODES = ("unmodified", "migrated")
BUILDS = sorted(name for name, spec in SAMPLES.items() if spec["dags"])
REFUSED = sorted(name for name, spec in SAMPLES.items() if spec.get("build_fails_with"))
RUNS = sorted((name, dag) for name, spec in SAMPLES.items() for dag in spec.get("run_local", []))


def _needs_mirror(sample: str) -> None:
    why = mirror_available(sample)
    if why:
        pytest.skip(why)


def _known(sample: str, mode: str):
    if (sample, mode) in KNOWN_FAILING:
        return [pytest.mark.xfail(strict=True, reason=KNOWN_FAILING[(sample, mode)])]
    return []


def _cases(names):
    return [
        pytest.param(name, mode, id=f"{name}-{mode}", marks=_known(name, mode))
        for name in names
        for mode in MODES
    ]


def _built(sample: str, mode: str, tmp_path) -> harness.Outcome:
    _needs_mirror(sample)
    if mode == "migrated":
        pytest.importorskip("libcst")
    outcome = harness.build(sample, mode, tmp_path)
    for step in outcome.steps:
        assert step.ok, f"amlcompile {' '.join(step.args)}: {step.first_error()}\n{step.stderr}"
    return outcome


@pytest.mark.airflow
@pytest.mark.parametrize("sample,mode", _cases(BUILDS))
def test_sample_builds_and_imports_with_its_original_graph(sample, mode, tmp_path):
    outcome = _built(sample, mode, tmp_path)
    result = harness.dagbag(outcome.out, tmp_path / "airflow-home")
    assert harness.graph_differences(sample, result) == []


@pytest.mark.parametrize("sample,mode", _cases(REFUSED))
def test_sample_without_equivalent_is_refused_clearly(sample, mode, tmp_path):
    _needs_mirror(sample)
    if mode == "migrated":
        pytest.importorskip("libcst")
    outcome = harness.build(sample, mode, tmp_path)
    build = outcome.build
    assert build.returncode == 2, build.stderr  # a user error, not an internal one (3)
    errors = "\n".join(build.errors())
    for text in SAMPLES[sample]["build_fails_with"]:
        assert text in errors, errors
    anyof = SAMPLES[sample].get("build_fails_any")
    if anyof:
        assert any(text in errors for text in anyof), errors


@pytest.mark.airflow
@pytest.mark.parametrize(
    "sample,dag,mode",
    [pytest.param(s, d, m, id=f"{s}-{d}-{m}", marks=_known(s, m)) for s, d in RUNS for m in MODES],
)
def test_sample_runs_locally_end_to_end(sample, dag, mode, tmp_path):
    outcome = _built(sample, mode, tmp_path)
    target = SAMPLES[sample]["entry"] if len(SAMPLES[sample]["dags"]) == 1 else dag
    run = harness.cli(sample, outcome.project, "run", target, "--local")
    assert run.ok, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"of {dag}: success" in run.stdout, run.stdout
