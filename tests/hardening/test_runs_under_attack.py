"""Real runs in the embedded Airflow: template syntax and shell metacharacters in arguments and
in parameter values given at trigger arrive as data and execute nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlcompile.local_run import run_compiled, select
from tests.hardening.test_secrets import PLANTED, files_under, leaks

ECHO = """\
import json, os, sys
out = sys.argv[sys.argv.index("--out") + 1]
with open(os.path.join(out, "argv.json"), "w") as fh:
    json.dump({"argv": sys.argv[1:], "env": os.environ["AML_PARAMETER_p"]}, fh)
"""

PIPELINE = """\
from amlcompile import *
ws = Workspace.from_config()
ds = ws.get_default_datastore()
p = PipelineParameter("p", default_value="plain")
o1, o2, o3 = (PipelineData(n, datastore=ds) for n in ("o1", "o2", "o3"))
templated = PythonScriptStep(
    "echo.py", name="templated", source_directory="src",
    arguments=["{{ ds }}", "{% raw %}", "{{ params.p }}", "{# x #}", p, "--out", o1],
    outputs=[o1], params={"p": p})
# SDK v1: a command given as one string runs in bash; values reach it through the environment.
shell = CommandStep(
    'printf "%s" "$AML_PARAMETER_p" > "$AML_PARAMETER_out/shell.txt"',
    name="shell", source_directory="src", outputs=[o2], params={"p": p, "out": o2})
# A user's own shell with positional arguments: still one argument each.
argv = CommandStep(
    ["bash", "-c", 'printf "%s" "$1" > "$2/argv.txt"', "_", p, o3],
    name="argv", source_directory="src", outputs=[o3])
attack = Pipeline(ws, steps=[templated, shell, argv])
"""


def hostile_value(root: Path) -> str:
    c = root / "CANARY"
    return (
        f"$(touch {c}1) `touch {c}2`; touch {c}3 | touch {c}4 && touch {c}5\n"
        f"touch {c}6 ' \" \\ {{{{ ti.xcom_push(key='x', value=1) }}}} {{% raw %}} $HOME"
    )


@pytest.mark.airflow
def test_templates_and_shell_metacharacters_reach_programs_as_data(project, monkeypatch):
    project.write("src/echo.py", ECHO)
    project.write("pipe.py", PIPELINE)
    monkeypatch.chdir(project.root)
    for name, secret in PLANTED.items():  # credentials in the environment of the run
        monkeypatch.setenv(name, secret)
    value = hostile_value(project.root)
    result = run_compiled(select(str(project.root / "pipe.py")), {"p": value})
    assert result.succeeded, result.log_file.read_text()[-3000:]
    outputs = {s["task_id"]: s["result"]["outputs"] for s in result.steps}

    got = json.loads((Path(outputs["templated"]["o1"]) / "argv.json").read_text())
    assert got["argv"] == [
        "{{ ds }}",
        "{% raw %}",
        "{{ params.p }}",
        "{# x #}",
        value,
        "--out",
        outputs["templated"]["o1"],
    ]
    assert got["env"] == value
    assert (Path(outputs["shell"]["o2"]) / "shell.txt").read_text() == value
    assert (Path(outputs["argv"]["o3"]) / "argv.txt").read_text() == value
    assert not list(project.root.rglob("CANARY*")), "a shell metacharacter was executed"
    # Nothing amlcompile or its embedded Airflow wrote (DAGs, logs, records) holds them.
    assert leaks(files_under(project.root / ".amlcompile"), PLANTED) == []


FRAGILE = """\
from amlcompile import *
ws = Workspace.from_config()
ds = ws.get_default_datastore()
a, b = PipelineData("a", datastore=ds), PipelineData("b", datastore=ds)
blocked = PythonScriptStep("write.py", name="blocked", source_directory="src",
                           arguments=["--out", a], outputs=[a])
# allow_reuse=False: its outputs go under the run's own folder, which the blocker leaves alone
full = PythonScriptStep("fill.py", name="full", source_directory="src",
                        arguments=["--out", b], outputs=[b], allow_reuse=False)
vanish = PythonScriptStep("vanish.py", name="vanish", source_directory="src2")
after = PythonScriptStep("after.py", name="after", source_directory="src2")
after.run_after(vanish)
fragile = Pipeline(ws, steps=[blocked, full, after])
"""

WRITE = """\
import os, sys
with open(os.path.join(sys.argv[2], "data.txt"), "w") as fh:
    fh.write("ok")
"""

# The datastore fills up under the program: past 64 kB every write fails.
FILL = """\
import os, resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
with open(os.path.join(sys.argv[2], "data.bin"), "wb") as fh:
    for _ in range(32):
        fh.write(b"x" * 65536)
"""

# Someone deletes the DAG file and its support files (here: this step's code snapshot).
VANISH = """\
import os, pathlib, shutil
dags = pathlib.Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
(dags / "fragile.py").unlink()
for snapshot in (dags / "_amlcompile" / "snapshots").iterdir():
    if (snapshot / "vanish.py").exists():
        shutil.rmtree(snapshot)
"""


@pytest.mark.airflow
def test_unwritable_or_full_datastore_and_deleted_dag_fail_clearly_leaving_no_record(
    project, monkeypatch
):
    project.write("src/write.py", WRITE)
    project.write("src/fill.py", FILL)
    project.write("src2/vanish.py", VANISH)
    project.write("src2/after.py", "print('must not run')\n")
    project.write("pipe.py", FRAGILE)
    monkeypatch.chdir(project.root)
    datastore = project.root / ".amlcompile/datastores/workspaceblobstore"
    blocker = datastore / "azureml" / "fp"  # where reusable outputs go: a file, not a folder
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    compiled = select(str(project.root / "pipe.py"))

    # continue_on_step_failure: each component fails on its own, in one run.
    result = run_compiled(compiled, {"continue_on_step_failure": True})
    log = result.log_file.read_text()
    states = {s["task_id"]: s["state"] for s in result.steps}
    assert states == {"blocked": "failed", "full": "failed", "vanish": "success", "after": "failed"}
    assert "cannot prepare output 'a' on datastore 'workspaceblobstore'" in log, log[-3000:]
    # Python ignores SIGXFSZ: the write fails with EFBIG, shown in the step's error tail.
    assert "step 'full' failed: exit code 1" in log and "File too large" in log
    assert "code snapshot" in log and "redeploy the whole dags_out/ folder" in log
    assert "must not run" not in log
    reuse = datastore / "azureml" / "_reuse"
    records = [json.loads(p.read_text()) for p in reuse.glob("*.json")]
    assert [r["produced_by"]["task_id"] for r in records] == ["vanish"], "a failed step's record"
    assert not list(reuse.glob("*.claim")), "a failed step kept its claim"
