"""User strings are data: they reach the program verbatim and never run as code or templates."""

from __future__ import annotations

import json

import pytest

from amlcompile.local_run import run_compiled, select

HOSTILE = [
    "$(touch PWNED_subst)",
    "`touch PWNED_backtick`",
    "; touch PWNED_semicolon",
    "a\nb",
    "{{ ds }}",
    "{% raw %}",
    "'\"\"\"'''",
    "\\",
    "config.json",
    "\u00e9\u6f22\u2028",
]


@pytest.mark.airflow
def test_hostile_arguments_and_params_arrive_verbatim(project, monkeypatch):
    project.write(
        "src/echo.py",
        """\
import json, os, sys
out = sys.argv[sys.argv.index("--out") + 1]
with open(os.path.join(out, "argv.json"), "w") as fh:
    json.dump({"argv": sys.argv[1:], "env": os.environ.get("AML_PARAMETER_p")}, fh)
""",
    )
    description = 'say """hi""" {{ x }}'
    default = "x'; $(touch PWNED_param)"
    step_name = 'it\'s "quoted"'
    source = (
        "from amlcompile import *\n"
        "ws = Workspace.from_config()\n"
        "out = PipelineData('out', datastore=ws.get_default_datastore())\n"
        f"p = PipelineParameter('p', default_value={default!r})\n"
        f"step = PythonScriptStep('echo.py', name={step_name!r}, source_directory='src',\n"
        f"    arguments=[*{HOSTILE!r}, p, '--out', out], outputs=[out], params={{'p': p}})\n"
        f"hostile = Pipeline(ws, steps=[step], description={description!r})\n"
    )
    project.write("pipe.py", source)
    monkeypatch.chdir(project.root)
    compiled = select(str(project.root / "pipe.py"))
    conf = {"p": "$(touch PWNED_conf); `id` {{ ti }}"}
    result = run_compiled(compiled, conf)
    assert result.succeeded, result.log_file.read_text()[-3000:]
    (step,) = result.steps
    assert step["task_id"] == "it_s_quoted"
    received = json.loads(
        (project.root / step["result"]["outputs"]["out"] / "argv.json").read_text()
    )
    assert received["argv"] == [*HOSTILE, conf["p"], "--out", step["result"]["outputs"]["out"]]
    assert received["env"] == conf["p"]
    assert not list(project.root.rglob("PWNED*"))
