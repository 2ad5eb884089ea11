"""`amlcompile migrate` on the SDK v1 fixtures: exact text, report, --check, --diff,
idempotence, syntax errors, notebooks. No Airflow needed."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest

pytest.importorskip("libcst")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from amlcompile.migrate import migrate_paths, migrate_source  # noqa: E402
from amlcompile.migrate.names import ADVICE, SPEC_NAMES, installed_exports  # noqa: E402
from tests.conftest import amlcompile_cli  # noqa: E402
from tests.migrate.helpers import EXPECTED, copy_fixtures  # noqa: E402

EXPORTED = installed_exports()
MIGRATED = sorted(p.relative_to(EXPECTED).as_posix() for p in EXPECTED.rglob("*.migrated"))


@pytest.fixture
def fixtures(tmp_path) -> Path:
    return copy_fixtures(tmp_path)


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_fixtures_migrate_to_the_expected_text(fixtures):
    report = migrate_paths([fixtures])
    assert not report.failed
    changed = sorted(f.path.relative_to(fixtures).as_posix() for f in report.changed)
    update = os.environ.get("AMLCOMPILE_UPDATE_GOLDEN") == "1"
    for rel in changed:
        golden = EXPECTED / f"{rel}.migrated"
        text = (fixtures / rel).read_text()
        if update:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text)
        assert golden.exists(), f"no expected text for {rel}"
        assert text == golden.read_text(), rel
    assert sorted(m.removesuffix(".migrated") for m in MIGRATED) == changed
    # Nothing of azureml is left where everything was translatable.
    for rel in changed:
        if rel.endswith(".py") and not rel.startswith("untranslatable/"):
            assert "azureml" not in (fixtures / rel).read_text().replace("azureml-", ""), rel


def test_comments_and_formatting_are_kept():
    source = (
        "# header comment\n"
        "from azureml.core import (Workspace,  # the workspace\n"
        "                          Experiment)\n"
        "ws   =   Workspace.from_config()  # odd spacing stays\n"
    )
    out = migrate_source(source, EXPORTED).source
    assert out == source.replace("azureml.core", "amlcompile")


def test_migrated_imports_are_names_amlcompile_exports(fixtures):
    """Every `from amlcompile import X` a fixture ends with is a name of the SPEC 2.1 surface;
    names merged beside this branch (DatabricksStep, Schedule, ...) are checked against the
    installed amlcompile once it has them."""
    migrate_paths([fixtures])
    import amlcompile

    for f in fixtures.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "amlcompile":
                for alias in node.names:
                    # SPEC 2.1, or a name added since (HyperDriveStep, TrainingOutput, ...)
                    known = SPEC_NAMES | set(amlcompile.__all__) | {"__version__"}
                    assert alias.name in known, (f, alias.name)
                    if alias.name in amlcompile.__all__ or alias.name == "__version__":
                        assert hasattr(amlcompile, alias.name)
            if isinstance(node, ast.ImportFrom) and node.module == "amlcompile.hyperdrive":
                import amlcompile.hyperdrive

                for alias in node.names:
                    assert alias.name in amlcompile.hyperdrive.__all__, (f, alias.name)
            if isinstance(node, ast.ImportFrom) and node.module == "amlcompile_run":
                assert [a.name for a in node.names] == ["Run"]


def test_databricks_adla_transfer_names(fixtures):
    migrate_paths([fixtures / "databricks_adla_transfer"])
    text = (fixtures / "databricks_adla_transfer" / "pipeline.py").read_text()
    assert "from amlcompile import AdlaStep, DatabricksStep, DataTransferStep\n" in text
    import amlcompile

    if not hasattr(amlcompile, "DatabricksStep"):
        pytest.skip("DatabricksStep, AdlaStep and DataTransferStep come with the compute targets")
    for name in ("AdlaStep", "DatabricksStep", "DataTransferStep"):
        assert name in amlcompile.__all__


def test_distributed_training_names_migrate_to_amlcompile():
    source = (
        "from azureml.core.runconfig import MpiConfiguration, PyTorchConfiguration\n"
        "from azureml.core.runconfig import TensorflowConfiguration\n"
        "from azureml.pipeline.steps import MpiStep\n"
    )
    outcome = migrate_source(source, EXPORTED)
    assert outcome.source == (
        "from amlcompile import MpiConfiguration, PyTorchConfiguration\n"
        "from amlcompile import TensorflowConfiguration\n"
        "from amlcompile import MpiStep\n"
    )
    assert "MpiStep" not in ADVICE


def test_report_names_file_line_and_what_to_do(fixtures):
    proc = amlcompile_cli("migrate", fixtures / "untranslatable")
    # Migrated, but what is left would fail the build: its own exit code.
    assert proc.returncode == 4, proc.stderr
    # 6 items reported, all features with no equivalent (names.ADVICE); HyperDriveStep,
    # ParallelRunStep and their configurations are translated (amlcompile, and
    # amlcompile.hyperdrive for choice()).
    assert "6 items left to do by hand would fail the build (exit code 4)" in proc.stderr
    out = proc.stdout
    pipeline = fixtures / "untranslatable" / "pipeline.py"
    script = fixtures / "untranslatable" / "scripts" / "register.py"
    expected = {
        f"{pipeline}:4: AutoMLStep (azureml.pipeline.steps): ": ADVICE["AutoMLStep"],
        f"{pipeline}:4: EstimatorStep (azureml.pipeline.steps): ": ADVICE["EstimatorStep"],
        f"{pipeline}:4: ModuleStep (azureml.pipeline.steps): ": ADVICE["ModuleStep"],
        f"{script}:7: Model.register: ": ADVICE["Model"],
        f"{script}:6: run.register_model: ": ADVICE["Model"],
    }
    for prefix, advice in expected.items():
        assert f"  {prefix}{advice}\n" in out, prefix
    # Tabular datasets and to_pandas_dataframe() in step scripts are translated, not reported.
    assert "Dataset.Tabular" not in out and "to_pandas_dataframe" not in out
    assert "migrated " + str(pipeline) in out
    # What cannot be translated keeps its azureml import; what can moves to amlcompile.
    text = pipeline.read_text()
    assert (
        "from amlcompile import HyperDriveStep, PythonScriptStep, ParallelRunStep,"
        " ParallelRunConfig\n" in text
    )
    assert "from amlcompile.hyperdrive import choice\n" in text
    assert "HyperDriveStep (azureml" not in out and "ParallelRunStep (azureml" not in out
    assert script.read_text().startswith("from amlcompile_run import Run\n")


def test_second_migration_changes_nothing(fixtures):
    first = migrate_paths([fixtures])
    assert first.changed
    after_first = snapshot(fixtures)
    second = migrate_paths([fixtures])
    assert second.changed == []
    assert snapshot(fixtures) == after_first
    proc = amlcompile_cli("migrate", "--check", fixtures / "sequence")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 files would migrate" in proc.stdout
    # The untranslatable fixture keeps items to do by hand: exit 4, even with nothing to change.
    proc = amlcompile_cli("migrate", "--check", fixtures)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "0 files would migrate" in proc.stdout


def test_check_writes_nothing_and_fails_when_something_would_change(fixtures):
    before = snapshot(fixtures)
    mtimes = {p: p.stat().st_mtime_ns for p in fixtures.rglob("*") if p.is_file()}
    proc = amlcompile_cli("migrate", "--check", fixtures)
    assert proc.returncode == 1
    assert "would migrate" in proc.stdout
    assert snapshot(fixtures) == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert not [p for p in fixtures.rglob(".*.migrate")]


def test_diff_prints_unified_diffs(fixtures):
    target = fixtures / "sequence" / "pipeline.py"
    proc = amlcompile_cli("migrate", "--check", "--diff", target)
    assert proc.returncode == 1
    assert f"--- {target} (SDK v1)\n+++ {target} (amlcompile)\n" in proc.stdout
    assert "-from azureml.pipeline.core import Pipeline, StepSequence\n" in proc.stdout
    assert "+from amlcompile import Pipeline, StepSequence\n" in proc.stdout


def test_diff_alone_previews_and_writes_nothing(fixtures):
    target = fixtures / "sequence" / "pipeline.py"
    before = snapshot(fixtures)
    mtime = target.stat().st_mtime_ns
    proc = amlcompile_cli("migrate", "--diff", target)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"--- {target} (SDK v1)\n+++ {target} (amlcompile)\n" in proc.stdout
    assert "+from amlcompile import Pipeline, StepSequence\n" in proc.stdout
    assert f"would migrate {target} (" in proc.stdout
    assert "1 file would migrate, 0 unchanged, 0 errors" in proc.stdout
    assert snapshot(fixtures) == before and target.stat().st_mtime_ns == mtime
    assert not [p for p in fixtures.rglob(".*.migrate")]


def test_import_star_advice_alone_does_not_fail(tmp_path):
    star = tmp_path / "star.py"
    star.write_text("from azureml.core import *\nws = Workspace.from_config()\n")
    proc = amlcompile_cli("migrate", star)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "import *: names amlcompile lacks are not reported" in proc.stdout
    assert star.read_text().startswith("from amlcompile import *\n")


def test_syntax_error_is_reported_and_not_rewritten(tmp_path):
    bad = tmp_path / "broken.py"
    text = "from azureml.core import Workspace\nws = Workspace.from_config(\nprint('x')\n"
    bad.write_text(text)
    good = tmp_path / "good.py"
    good.write_text("from azureml.core import Workspace\n")
    proc = amlcompile_cli("migrate", tmp_path)
    assert proc.returncode == 2
    line = next(x for x in proc.stderr.splitlines() if "broken.py" in x)
    assert re.match(rf"error: {re.escape(str(bad))}:\d+:\d+: syntax error", line), line
    assert line.endswith("not rewritten")
    assert bad.read_text() == text
    assert good.read_text() == "from amlcompile import Workspace\n"  # the others still migrate


def test_line_endings_and_byte_order_mark_are_kept(tmp_path):
    crlf = tmp_path / "crlf.py"
    crlf.write_bytes(b"from azureml.core import Workspace\r\nws = Workspace.from_config()\r\n")
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbffrom azureml.core import Workspace\n")
    migrate_paths([tmp_path])
    assert crlf.read_bytes() == (
        b"from amlcompile import Workspace\r\nws = Workspace.from_config()\r\n"
    )
    assert bom.read_bytes() == b"\xef\xbb\xbffrom amlcompile import Workspace\n"
    assert migrate_paths([tmp_path]).changed == []


def test_missing_path_is_one_error_line(tmp_path):
    proc = amlcompile_cli("migrate", tmp_path / "nope.py")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path / 'nope.py'}: no such file or directory"


def test_notebook_keeps_outputs_metadata_magics_and_other_cells(fixtures):
    path = fixtures / "notebook" / "hello_pipeline.ipynb"
    before = json.loads(path.read_text())
    report = migrate_paths([path])
    assert not report.failed and report.changed
    after = json.loads(path.read_text())
    assert after["metadata"] == before["metadata"]
    assert len(after["cells"]) == len(before["cells"])
    for old, new in zip(before["cells"], after["cells"], strict=True):
        assert new["cell_type"] == old["cell_type"]
        assert new.get("outputs") == old.get("outputs")
        assert new["metadata"] == old["metadata"]
        if old["cell_type"] != "code" or "".join(old["source"]).startswith(("%", "run.wait")):
            assert new["source"] == old["source"]  # markdown, magics, %%bash, plain cells
    sources = ["".join(c["source"]) for c in after["cells"]]
    assert "%pip install azureml-core azureml-pipeline\n!ls -la\n" in sources
    assert any("run.wait_for_completion(show_output=True)\n" in s for s in sources)
    assert not any("RunDetails" in s for s in sources)
    # A magic inside an indented block stays where it was too.
    cell = "if True:\n    !pip list\n    from azureml.core import Workspace\n"
    nb = {"cells": [{"cell_type": "code", "source": cell, "metadata": {}, "outputs": []}]}
    one = path.with_name("one.ipynb")
    one.write_text(json.dumps(nb))
    migrate_paths([one])
    expected = "if True:\n    !pip list\n    from amlcompile import Workspace\n"
    assert json.loads(one.read_text())["cells"][0]["source"] == expected


def test_notebook_cell_with_a_syntax_error_is_left_alone(tmp_path):
    cells = [
        {"cell_type": "code", "source": "from azureml.core import Workspace\n", "metadata": {}},
        {"cell_type": "code", "source": "from azureml.core import (\n", "metadata": {}},
    ]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4}))
    report = migrate_paths([path])
    (one,) = report.files
    assert any(":cell 2:" in p and "syntax error" in p for p in one.problems)
    after = json.loads(path.read_text())["cells"]
    assert after[0]["source"] == "from amlcompile import Workspace\n"
    assert after[1]["source"] == "from azureml.core import (\n"


def test_step_script_run_attribute_form_and_aliases():
    source = (
        "import azureml.core\n"
        "import azureml.core as aml\n"
        "run = azureml.core.Run.get_context()\n"
        "ctx = aml.Run.get_context()\n"
    )
    out = migrate_source(source, EXPORTED)
    assert out.source == (
        "import amlcompile_run\n"
        "import amlcompile_run as aml\n"
        "run = amlcompile_run.Run.get_context()\n"
        "ctx = aml.Run.get_context()\n"
    )
    unused = migrate_source(
        "import azureml.core\nfrom azureml.core import Run\nrun = Run.get_context()\n", EXPORTED
    )
    assert unused.source == "from amlcompile_run import Run\nrun = Run.get_context()\n"
    mixed = migrate_source("from azureml.core import Run, Workspace\nRun.get_context()\n", EXPORTED)
    expected = "from amlcompile_run import Run\nfrom amlcompile import Workspace"
    assert mixed.source.startswith(expected)
    assert any("step script" in p.text for p in mixed.problems)


# ---- idempotence over generated SDK v1 sources ----
IMPORT_LINES = [
    "from azureml.core import Workspace, Experiment, Datastore",
    "from azureml.core import Run",
    "from azureml.core.run import Run as StepRun",
    "from azureml.pipeline.core import Pipeline, PipelineData, PipelineParameter",
    "from azureml.pipeline.steps import PythonScriptStep, HyperDriveStep",
    "from azureml.data.data_reference import DataReference",
    "from azureml.core.compute import (ComputeTarget,  # compute\n    AmlCompute)",
    "from azureml.core.authentication import ServicePrincipalAuthentication as SPA",
    "from azureml.widgets import RunDetails",
    "import azureml.core",
    "import azureml.pipeline.core as pc",
    "import os, azureml.core",
    "from azureml.core import *",
    "from azureml.train.automl import AutoMLConfig",
    "from azureml.core.compute import ComputeTarget; import json",
]
BODY_LINES = [
    "ws = Workspace.from_config()",
    "print(azureml.core.VERSION)",
    "ws2 = azureml.core.Workspace.from_config()",
    "auth = SPA(tenant_id='t', service_principal_id='i', service_principal_password='p')",
    "RunDetails(run).show()",
    "run = Run.get_context()",
    "step = pc.PipelineData('x')",
    "t = Dataset.Tabular.from_delimited_files(path=[])",
    "x = 1  # a comment",
    "if True:\n    from azureml.core import Workspace as W\n    w = W.from_config()",
    "def f():\n    import azureml.core\n    return azureml.core.Run.get_context()",
    "try:\n    from azureml.widgets import RunDetails\nexcept ImportError:\n    pass",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(IMPORT_LINES), min_size=1, max_size=6),
    st.lists(st.sampled_from(BODY_LINES), max_size=6),
)
def test_migrating_twice_equals_migrating_once(imports, body):
    source = "\n".join(imports + body) + "\n"
    once = migrate_source(source, EXPORTED)
    ast.parse(once.source)  # always valid Python
    twice = migrate_source(once.source, EXPORTED)
    assert twice.source == once.source
    assert twice.changes == []


def test_writefile_cell_of_a_step_script_is_migrated_like_a_file():
    """`%%writefile train.py` cells are how notebooks make step scripts: the body is migrated;
    other cell magics and `%%writefile` of non-Python files are left alone."""
    import json

    from amlcompile.migrate.notebook import migrate_notebook

    def cell(source):
        return {"cell_type": "code", "source": source, "metadata": {}, "outputs": []}

    script = "%%writefile train/train.py\nfrom azureml.core import Run\nrun = Run.get_context()"
    nb = {
        "cells": [
            cell(script),
            cell("%%writefile data.csv\nfrom azureml.core import Run\n"),
            cell("%%bash\nfrom azureml.core import Run\n"),
            cell("from azureml.core import Workspace\n"),
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    out = json.loads(migrate_notebook(json.dumps(nb), EXPORTED).text)["cells"]
    assert out[0]["source"] == (
        "%%writefile train/train.py\nfrom amlcompile_run import Run\nrun = Run.get_context()"
    )
    assert out[1]["source"] == nb["cells"][1]["source"]
    assert out[2]["source"] == nb["cells"][2]["source"]
    # The step script's imports did not leak into the notebook's own names.
    assert out[3]["source"] == "from amlcompile import Workspace\n"
