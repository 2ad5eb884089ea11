"""Each component failing on its own: a full disk under dags_out/ or under a datastore, a
corrupt reuse record, a DAG folder removed during a run. Each ends with a clear message and
nothing half-done that a later run could mistake for a result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlcompile.runtime.reuse import Store
from tests.support.records import record_for

# Runs `code` with a small file-size limit; SIGXFSZ ignored so writes fail with EFBIG, as on
# a full disk, instead of killing the process.
LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
{code}
"""


def limited(code: str, limit: int, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LIMITED.format(limit=limit, code=code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


PIPE = """\
from amlcompile import *
ws = Workspace.from_config()
pipe = Pipeline(ws, steps=[PythonScriptStep("a.py", source_directory="src", arguments=[{arg!r}])])
other = Pipeline(ws, steps=[PythonScriptStep("a.py", name="b", source_directory="src")])
"""


def test_disk_full_during_build_leaves_every_old_file_byte_identical(project):
    project.script("src/a.py")
    project.write("pipe.py", PIPE.format(arg="v1"))
    out = project.root / "dags_out"
    out.mkdir()
    (out / "mine.py").write_text("# a hand-written DAG\n")
    from amlcompile.compiler import build

    build([project.root / "pipe.py"], out_dir=out)
    before = tree(out)
    assert "pipe.py" in before and "other.py" in before

    # v2 changes the DAG file, the runtime stays, a new 300 kB data file joins the snapshot:
    # small files stage fine, the big one hits the limit half-way through the build.
    project.write("pipe.py", PIPE.format(arg="v2"))
    (project.root / "src" / "big.bin").write_bytes(os.urandom(300_000))
    code = (
        "from amlcompile.cli import main\nsys.exit(main(['build', 'pipe.py', '--out', 'dags_out']))"
    )
    result = limited(code, 100_000, project.root)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: could not write ") and "big.bin" in line, line
    assert "was left as it was" in line
    assert tree(out) == before, "a failed build changed dags_out/"
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]

    (project.root / "src" / "big.bin").unlink()  # space again: the same build goes through
    build([project.root / "pipe.py"], out_dir=out)
    assert tree(out)["pipe.py"] != before["pipe.py"]
    assert tree(out)["mine.py"] == before["mine.py"]


def test_full_datastore_while_writing_a_record_leaves_no_record(tmp_path):
    code = (
        "from amlcompile.runtime.reuse import Store\n"
        f"store = Store({str(tmp_path)!r})\n"
        "try:\n"
        "    store.write_record('fp', {'fingerprint': 'fp', 'outputs': {}, 'pad': 'x' * 50000})\n"
        "except OSError as exc:\n"
        "    print('refused', exc.errno)\n"
    )
    result = limited(code, 10_000, tmp_path)
    assert "refused" in result.stdout, result.stderr
    store = Store(tmp_path)
    assert store.read_record("fp") is None
    assert list(store.dir.iterdir()) == [], "a half-written record or temporary file was left"


class Log:
    def __init__(self):
        self.lines: list[str] = []

    def warning(self, msg, *args):
        self.lines.append(msg % args)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(
    body=st.one_of(
        st.binary(max_size=64),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.builds(
            lambda outputs, extra: json.dumps(
                {"fingerprint": "fp", "outputs": outputs, **extra}
            ).encode(),
            json_values,
            st.dictionaries(st.text(max_size=5), json_values, max_size=2),
        ),
    ),
    cut=st.integers(0, 200),
)
def test_any_damaged_record_is_ignored_with_a_warning_never_an_exception(
    tmp_path_factory, body, cut
):
    root = tmp_path_factory.mktemp("ds")
    store = Store(root)
    store.dir.mkdir(parents=True)
    store.record_path("fp").write_bytes(body[:cut] if cut < len(body) else body)
    log = Log()
    record = store.read_record("fp", log, [root])
    if record is None:
        assert len(log.lines) == 1 and "the step runs again" in log.lines[0], log.lines
    else:  # only a well-formed record whose outputs exist (none here, or none listed)
        assert record["fingerprint"] == "fp" and record["outputs"] == {}


def test_record_pointing_outside_the_datastores_is_ignored(tmp_path):
    datastore, elsewhere = tmp_path / "ds", tmp_path / "elsewhere"
    (datastore / "azureml" / "fp" / "o").mkdir(parents=True)
    elsewhere.mkdir()
    store = Store(datastore)
    inside = str(datastore / "azureml" / "fp" / "o")
    store.write_record("a", {"fingerprint": "a", "outputs": {"o": inside}})
    store.write_record("b", {"fingerprint": "b", "outputs": {"o": str(elsewhere)}})
    store.write_record(
        "c", {"fingerprint": "c", "outputs": {"o": inside + "/../../../../elsewhere"}}
    )
    log = Log()
    assert store.read_record("a", log, [datastore])["outputs"] == {"o": inside}
    assert store.read_record("b", log, [datastore]) is None
    assert store.read_record("c", log, [datastore]) is None
    assert all("outside this pipeline's datastores" in line for line in log.lines)
    assert len(log.lines) == 2


def test_record_that_is_not_a_regular_file_is_ignored(tmp_path):
    store = Store(tmp_path)
    store.dir.mkdir(parents=True)
    store.record_path("d").mkdir()
    store.record_path("z").symlink_to("/dev/zero")  # reading it would never end
    log = Log()
    assert store.read_record("d", log) is None and store.read_record("z", log) is None
    assert len(log.lines) == 2


def test_planner_recomputes_a_step_whose_record_was_truncated(tmp_path):
    pytest.importorskip("airflow")
    from amlcompile.runtime.planner import compute_plan
    from amlcompile.runtime.reuse import fingerprint

    root = tmp_path / "ds"
    datastores = {"ds": {"kind": "local", "path": str(root), "conn_id": None}}
    steps = [
        {
            "name": "s",
            "fingerprint": "static",
            "params": [],
            "allow_reuse": True,
            "record_datastore": "ds",
            "inputs": [],
            "outputs": [{"name": "o", "datastore": "ds"}],
        }
    ]
    fp = fingerprint("static", {}, {})
    (root / "azureml" / "fp" / fp / "o").mkdir(parents=True)
    store = Store(root)
    record_for(store, fp, {"o": ("ds", f"azureml/fp/{fp}/o")})
    assert compute_plan(steps, datastores, {}, False)["s"]["reuse"] is True
    text = store.record_path(fp).read_text()
    store.record_path(fp).write_text(text[: len(text) // 2])
    log = Log()
    assert compute_plan(steps, datastores, {}, False, log)["s"]["reuse"] is False
    assert "the step runs again" in log.lines[0]


def test_a_step_redeployed_during_its_run_refuses_to_run_under_the_old_plan(tmp_path):
    """With a bundle that is not versioned, a task parses the DAG file current when it starts:
    after a redeploy mid-run it must not record new code under the planned fingerprint."""
    pytest.importorskip("airflow")
    from amlcompile.runtime.binding import StepError
    from amlcompile.runtime.planner import compute_plan
    from amlcompile.runtime.reusable import ReusableStep

    datastores = {"ds": {"kind": "local", "path": str(tmp_path), "conn_id": None}}
    planned = {
        "name": "s",
        "fingerprint": "static-v1",
        "params": [],
        "allow_reuse": True,
        "record_datastore": "ds",
        "inputs": [],
        "outputs": [],
    }
    plan = compute_plan([planned], datastores, {}, False)

    class Ti:
        def xcom_pull(self, task_ids, key):
            return plan

    class Step(ReusableStep):
        dag_id, task_id = "d", "s"

        def __init__(self, step):
            self.step, self.datastores = step, datastores

    ran = []
    context = {"params": {"continue_on_step_failure": True}, "ti": Ti(), "run_id": "r1"}
    redeployed = Step({**planned, "fingerprint": "static-v2"})
    with pytest.raises(StepError, match="'s' changed since this run was planned"):
        redeployed.run_reusable(context, lambda *a: ran.append(a) or {"outputs": {}})
    assert ran == []
    assert not list(tmp_path.rglob("*.json")), "no record written"


@pytest.mark.parametrize(
    "conf, default, expected",
    [({}, False, False), ({}, True, True), ({"continue_on_step_failure": True}, False, True)],
)
def test_planner_reads_continue_on_step_failure_from_the_runs_conf(conf, default, expected):
    pytest.importorskip("airflow")
    from amlcompile.runtime.planner import ReusePlanOperator

    class DagRun:
        pass

    run = DagRun()
    run.conf = conf
    planner = ReusePlanOperator(
        task_id="p", steps=[], datastores={}, continue_on_step_failure=default
    )
    assert planner.run_continues_on_failure({"dag_run": run}) is expected


@pytest.mark.parametrize("value", ["false", 0, None, [True]])
def test_a_conf_value_that_is_not_a_boolean_fails_the_planner_clearly(value):
    pytest.importorskip("airflow")
    from amlcompile.runtime.binding import StepError
    from amlcompile.runtime.planner import ReusePlanOperator

    class DagRun:
        conf = {"continue_on_step_failure": value}

    planner = ReusePlanOperator(task_id="p", steps=[], datastores={})
    with pytest.raises(StepError, match="conf 'continue_on_step_failure' must be true or false"):
        planner.run_continues_on_failure({"dag_run": DagRun()})
