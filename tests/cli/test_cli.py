"""The CLI as a user meets it: exit codes, one-line errors, outputs."""

from __future__ import annotations

import time

from tests.conftest import amlcompile_cli

GOOD = """\
from amlcompile import *
ws = Workspace.from_config()
good = Pipeline(ws, steps=[PythonScriptStep("a.py", source_directory="src",
                                            arguments=["--n", PipelineParameter("n", 1)])])
"""


def test_check_and_build_ok(project):
    project.script("src/a.py")
    project.write("pipe.py", GOOD)
    result = amlcompile_cli("check", "pipe.py", cwd=project.root)
    assert result.returncode == 0 and "ok  good  (1 steps, pipe.py)" in result.stdout
    result = amlcompile_cli("build", ".", cwd=project.root)
    assert result.returncode == 0, result.stderr
    assert (project.root / "dags_out" / "good.py").is_file()


def test_errors_are_single_lines_without_traceback(project):
    project.write("pipe.py", GOOD.replace('"a.py"', '"missing.py"'))
    project.write("src/other.py")
    result = amlcompile_cli("check", "pipe.py", cwd=project.root)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: pipe.py:3: step 'missing': script 'missing.py' not found in source_directory"
        f" '{project.root / 'src'}'",
        "1 error(s); nothing was written",
    ]


def test_missing_path_and_no_pipelines(project):
    result = amlcompile_cli("build", "nowhere", cwd=project.root)
    assert result.returncode == 2 and "nowhere: no such file or directory" in result.stderr
    project.write("empty.py", "x = 1\n")
    result = amlcompile_cli("check", "empty.py", cwd=project.root)
    assert result.returncode == 2 and "no pipelines found" in result.stderr


def test_bad_config_names_file_and_key(project):
    project.script("src/a.py")
    project.write("pipe.py", GOOD)
    project.write("amlcompile.toml", "[datastores.blob]\nkind = 'azure_blob'\npath = 'c'\n")
    result = amlcompile_cli("check", "pipe.py", cwd=project.root)
    assert result.returncode == 2
    assert (
        "amlcompile.toml: datastores.blob: Value error, a azure_blob datastore needs"
        " conn_id" in result.stderr
    )
    project.write(
        "amlcompile.toml",
        "[datastores.blob]\nkind = 'azure_blob'\npath = 'c'\n"
        "conn_id = 'x'\naccount_key = 'hunter2'\n",
    )
    result = amlcompile_cli("check", "pipe.py", cwd=project.root)
    assert "datastores.blob.account_key: secrets do not belong in the config" in result.stderr
    assert "hunter2" not in result.stderr


def test_run_refuses_bad_params_before_starting(project):
    project.script("src/a.py")
    project.write("pipe.py", GOOD)
    result = amlcompile_cli("run", "pipe.py", "--param", "n=abc", cwd=project.root)
    assert (
        result.returncode == 2 and "error: --param n: 'abc' is not a valid integer" in result.stderr
    )
    result = amlcompile_cli("run", "pipe.py", "--param", "zzz=1", cwd=project.root)
    assert "pipeline 'good' has no such parameter (parameters: n)" in result.stderr
    result = amlcompile_cli("run", "no_such_pipeline", cwd=project.root)
    assert "no pipeline file or pipeline named 'no_such_pipeline'" in result.stderr


def test_build_from_another_folder_keeps_the_cache_in_the_project(project, tmp_path_factory):
    """The digest cache belongs to the project (beside its config), never the working
    directory: run from elsewhere (from `/`, it once created `/.amlcompile`)."""
    project.script("src/a.py")
    project.write("pipe.py", GOOD)
    time.sleep(2.1)  # digests are cached once timestamps are settled (file_digests.RACY_NS)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    out = elsewhere / "out"
    for command in (["check"], ["build", "--out", out]):
        result = amlcompile_cli(*command, project.root / "pipe.py", cwd=elsewhere)
        assert result.returncode == 0, result.stderr
        assert not (elsewhere / ".amlcompile").exists()
    assert (out / "good.py").is_file()
    assert any((project.root / ".amlcompile" / "cache").iterdir())
