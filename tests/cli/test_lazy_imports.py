"""What a process imports: the package's SDK names load on first use, and a build imports
only what a build needs (issue 18: the fixed cost of every `amlcompile build`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _python(code: str, cwd: Path | None = None) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_importing_the_package_imports_no_sdk_name():
    loaded = json.loads(
        _python("import sys, json, amlcompile; print(json.dumps(sorted(sys.modules)))")
    )
    assert "amlcompile.dsl" not in loaded
    assert "pydantic" not in loaded and "jinja2" not in loaded


def test_sdk_names_load_on_use_and_are_listed():
    out = _python(
        """
        import amlcompile
        from amlcompile import Pipeline, PipelineRun, DEFAULT_CPU_IMAGE, UserErrorException
        from amlcompile.dsl.pipeline import Pipeline as P
        assert Pipeline is P and amlcompile.Pipeline is P
        assert PipelineRun.__module__ == "amlcompile.client.runs"
        assert "PythonScriptStep" in dir(amlcompile) and "Workspace" in amlcompile.__all__
        assert set(amlcompile.__all__) <= set(dir(amlcompile))
        try:
            amlcompile.NoSuchName
        except AttributeError:
            pass
        else:
            raise AssertionError("NoSuchName")
        ns = {}
        exec("from amlcompile import *", ns)
        assert ns["PythonScriptStep"] is amlcompile.PythonScriptStep
        assert ns["Experiment"] is amlcompile.Experiment
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_publish_works_when_only_dsl_modules_were_imported():
    # dsl/ never imports the client layer: the package installs publish/submit on first use.
    out = _python(
        """
        import amlcompile.dsl.session as session
        print(type(session.actions()).__module__)
        """
    )
    assert out.strip() == "amlcompile.client.actions"


def test_a_build_imports_neither_the_rest_layer_nor_airflow(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "s.py").write_text("print('hi')\n")
    (tmp_path / "p.py").write_text(
        "from amlcompile import *\n"
        "ws = Workspace.from_config()\n"
        "steps = [PythonScriptStep('s.py', name=f's{i}', source_directory='src')"
        " for i in range(3)]\n"
        "p = Pipeline(ws, steps=steps)\n"
    )
    loaded = json.loads(
        _python(
            """
            import json, sys
            from amlcompile import cli
            assert cli.main(["build", "p.py", "--out", "dags_out"]) == 0
            print(json.dumps(sorted(sys.modules)))
            """,
            cwd=tmp_path,
        ).splitlines()[-1]
    )
    for heavy in ("airflow", "pandas", "requests", "azure", "amlcompile.rest", "http.client"):
        assert heavy not in loaded, heavy


def test_our_models_skip_the_plugin_lookup_and_leave_the_switch_as_it_was():
    """amlcompile's models are made with pydantic's plugin lookup off (it reads every
    installed package's entry points); the user's switch, set or not, is theirs again after,
    so a model of the user's own still gets its plugins."""
    out = _python(
        """
        import os
        from pydantic.plugin import _loader
        import amlcompile.config, amlcompile.ir
        assert "PYDANTIC_DISABLE_PLUGINS" not in os.environ
        assert _loader._plugins is None  # never looked up for our models
        import pydantic
        class Mine(pydantic.BaseModel):
            x: int = 0
        assert _loader._plugins is not None  # looked up for the user's model
        print("ok")
        """
    )
    assert out.strip() == "ok"
    env_before = dict(os.environ, PYDANTIC_DISABLE_PLUGINS="logfire")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, amlcompile.compiler; print(os.environ['PYDANTIC_DISABLE_PLUGINS'])",
        ],
        env=dict(env_before, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.strip() == "logfire", out.stderr
