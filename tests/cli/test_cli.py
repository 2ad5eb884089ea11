"""The CLI as a user meets it: exit codes, one-line errors, outputs."""

from __future__ import annotations

import time

import pytest

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
    assert result.returncode == 0 and "ok  good  (1 step, pipe.py)" in result.stdout
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
        "1 error; nothing was written",
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


# ---- issue 19: the CLI as a new user meets it ----------------------------------------------


def test_verbose_works_before_and_after_the_subcommand(project):
    project.write("pipe.py", "from amlcompile import *\nraise RuntimeError('boom')\n")
    for args in (["-v", "check", "pipe.py"], ["check", "pipe.py", "--verbose"]):
        result = amlcompile_cli(*args, cwd=project.root)
        assert result.returncode == 2, args
    from amlcompile.cli import parser

    assert parser().parse_args(["check", "x.py", "-v"]).verbose is True
    assert parser().parse_args(["-v", "check", "x.py"]).verbose is True
    assert parser().parse_args(["check", "x.py"]).verbose is False


def test_every_command_explains_every_argument_with_an_example():
    import argparse

    from amlcompile.cli import parser

    top = parser()
    [sub] = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(sub.choices) >= 14
    for name, p in sub.choices.items():
        assert p.epilog and "examples:" in p.epilog and f"amlcompile {name}" in p.epilog, name
        for action in p._actions:
            assert action.help, f"{name}: {action.dest} has no help"
        text = p.format_help()
        assert "NAME=VALUE" not in text or "set a pipeline parameter" in text, name


def test_plurals(project):
    project.script("src/a.py")
    project.write("pipe.py", GOOD)
    result = amlcompile_cli("build", "pipe.py", cwd=project.root)
    assert "(1 step)" in result.stdout and "1 steps" not in result.stdout
    assert "files written" in result.stdout
    result = amlcompile_cli("check", "missing.py", "other.py", cwd=project.root)
    assert result.stderr.splitlines()[-1] == "2 errors; nothing was written"


def test_not_a_python_file_is_one_clear_error(project):
    project.write("README.md", "# My project — pipelines\n\nSee pipe.py.\n")
    result = amlcompile_cli("check", "README.md", cwd=project.root)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        "error: README.md: not a Python file or notebook; amlcompile reads pipelines from .py"
        " files, .ipynb notebooks and folders holding them"
    )
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_syntax_error_at_its_line_and_column(project):
    project.write(
        "pipe.py",
        "from amlcompile import *\nws = Workspace.from_config()\n"
        "p = Pipeline(ws, steps=[PythonScriptStep('a.py',\n",
    )
    result = amlcompile_cli("check", "pipe.py", cwd=project.root)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"error: {project.root / 'pipe.py'}:3: syntax error: '(' was never closed (column 41)"
    )
    # In a module the pipeline imports: that module's file and line.
    project.write("helpers.py", "def f(:\n    pass\n")
    project.write("pipe2.py", "import helpers\nfrom amlcompile import *\np = Pipeline(None, [])\n")
    result = amlcompile_cli("check", "pipe2.py", cwd=project.root)
    assert f"error: {project.root / 'helpers.py'}:1: syntax error: " in result.stderr


def test_duplicate_step_name_is_said_once(project):
    project.script("src/train.py")
    project.write(
        "dup.py",
        """\
        from amlcompile import *
        ws = Workspace.from_config()
        a = PythonScriptStep("train.py", name="train", source_directory="src")
        b = PythonScriptStep("train.py", name="train", source_directory="src")
        b.run_after(a)
        p = Pipeline(ws, steps=[a, b])
        """,
    )
    result = amlcompile_cli("check", "dup.py", cwd=project.root)
    assert result.stderr.splitlines() == [
        "error: dup.py:4: duplicate step name 'train' (first defined at dup.py:3)",
        "1 error; nothing was written",
    ]


def test_bad_template_is_a_user_error(project):
    project.script("src/a.py")
    project.write("pipe.py", GOOD)
    project.write("broken.j2", "{{ dag_id\n")
    for template, expected in (
        ("nope.j2", "error: --template nope.j2: no such file"),
        ("src", "error: --template src: not a file (give a Jinja2 template file)"),
        ("broken.j2", "error: --template broken.j2:1: unexpected end of template"),
    ):
        result = amlcompile_cli("build", "pipe.py", "--template", template, cwd=project.root)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(expected), result.stderr
        assert "internal error" not in result.stderr
    project.write("undefined.j2", "{{ no_such_variable }}\n")
    result = amlcompile_cli("build", "pipe.py", "--template", "undefined.j2", cwd=project.root)
    assert result.returncode == 2
    assert "error: --template undefined.j2: rendering pipeline 'good' failed: UndefinedError:" in (
        result.stderr
    )
    project.write("notpython.j2", "this is not python {{ dag_id }}\n")
    result = amlcompile_cli("build", "pipe.py", "--template", "notpython.j2", cwd=project.root)
    assert result.returncode == 2
    assert "the DAG file it makes for pipeline 'good' is not valid Python (line 1:" in (
        result.stderr
    )
    assert not (project.root / "dags_out").exists()


def test_did_you_mean(project):
    project.script("src/train.py")
    project.write(
        "typo.py",
        """\
        from amlcompile import *
        ws = Workspace.from_config()
        a = PythonScriptStep("trian.py", source_directory="src")
        b = PythonScriptStep("train.py", name="b", source_directory="scr")
        p = Pipeline(ws, steps=[a, b])
        """,
    )
    result = amlcompile_cli("check", "typo.py", cwd=project.root)
    lines = result.stderr.splitlines()
    assert lines[0].endswith("script 'trian.py' not found in source_directory"
                             f" '{project.root / 'src'}' (did you mean 'train.py'?)")  # fmt: skip
    assert lines[1] == (
        "error: typo.py:4: step 'b': source_directory 'scr' does not exist (did you mean 'src'?)"
    )
    assert len(lines) == 3  # no second error about the script of the missing folder
    project.write(
        "kw.py",
        'from amlcompile import *\nPythonScriptStep("train.py", source_directry="src")\n',
    )
    result = amlcompile_cli("check", "kw.py", cwd=project.root)
    assert "unexpected arguments: source_directry (did you mean 'source_directory'?)" in (
        result.stderr
    )
    project.write(
        "kw2.py",
        """\
        from amlcompile import *
        d = DataReference(ws := Workspace.from_config(), data_reference_nme="x")
        """,
    )
    result = amlcompile_cli("check", "kw2.py", cwd=project.root)
    assert "unexpected keyword argument 'data_reference_nme'" in result.stderr
    assert "(did you mean 'data_reference_name'?)" in result.stderr
    project.write("kw3.py", "from amlcompile import *\n@step(compte='x')\ndef f():\n    pass\n")
    result = amlcompile_cli("check", "kw3.py", cwd=project.root)
    assert "step() got an unexpected keyword argument 'compte' (did you mean 'compute'?)" in (
        result.stderr
    )


def test_run_by_name_skips_tests_venvs_and_packages(project):
    """`run NAME` (and `check .`) from a repository root reads the project's pipelines, not
    its tests, virtual environments, installed or built packages."""
    from amlcompile.discover import candidate_files

    project.script("src/a.py")
    project.write("pipelines/pipe.py", GOOD)
    bad = "from amlcompile import *\nraise SystemExit('must not be imported')\np = Pipeline()\n"
    for folder in (
        "tests",
        "benchmarks",
        ".venv/lib/python3.11/site-packages/pkg",
        "myenv",
        "build/lib/pkg",
        "pkg.egg-info",
        "node_modules/x",
        ".git/x",
        ".tox/py311",
    ):
        project.write(f"{folder}/bad.py", bad)
    project.write("myenv/pyvenv.cfg", "home = /usr/bin\n")
    found, problems = candidate_files([project.root])
    assert [f.relative_to(project.root).as_posix() for f in found] == ["pipelines/pipe.py"]
    assert not problems
    # A folder given by name is still read.
    found, _ = candidate_files([project.root / "tests"])
    assert [f.name for f in found] == ["bad.py"]
    result = amlcompile_cli("run", "nothing_by_this_name", cwd=project.root)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: no pipeline file or pipeline named 'nothing_by_this_name' (pipelines here: good)"
    ]


def test_run_by_name_needs_only_that_pipeline_to_compile(project):
    """Another pipeline file's error does not stop `run NAME`; it is named when the pipeline
    asked for is not among those that compiled (it may be the one that failed)."""
    from amlcompile.exceptions import BuildError
    from amlcompile.local_run import select

    project.script("src/a.py")
    project.write("good.py", GOOD)
    project.write(
        "broken.py",
        "from amlcompile import *\nws = Workspace.from_config()\n"
        "broken = Pipeline(ws, steps=[PythonScriptStep('missing.py',"
        " source_directory='src')])\n",
    )
    assert select("good").pipeline.name == "good"
    with pytest.raises(BuildError, match="broken.py:3"):
        select("broken")
    result = amlcompile_cli("check", ".", cwd=project.root)
    assert result.returncode != 0 and "broken.py:3" in result.stderr


def test_run_by_name_from_this_repository_root():
    """The repository itself: its tests/, benchmarks/ and the amlcompile package are not
    imported when looking for a pipeline by name."""
    from amlcompile.discover import candidate_files
    from tests.conftest import REPO

    found, problems = candidate_files([REPO])
    assert not problems
    assert {f.relative_to(REPO).parts[0] for f in found} == {"examples"}


def test_without_config_the_working_directory_is_the_project(tmp_path):
    """No amlcompile.toml or pyproject.toml anywhere: `build examples/` makes one dags_out/
    and one .amlcompile/ in the working directory, as the SDK's from_config searches from it."""
    for name in ("one", "two"):
        (tmp_path / "examples" / name / "src").mkdir(parents=True)
        (tmp_path / "examples" / name / "src" / "a.py").write_text("print(1)\n")
        (tmp_path / "examples" / name / "pipe.py").write_text(GOOD.replace("good = ", f"{name} = "))
    result = amlcompile_cli("build", "examples/", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "dags_out").glob("*.py")) == ["one.py", "two.py"]
    made = sorted(
        p.relative_to(tmp_path).as_posix()
        for p in tmp_path.rglob("*")
        if p.name in ("dags_out", ".amlcompile")
    )
    # Only at the top (.amlcompile/ holds caches, written when the files are old enough).
    assert "dags_out" in made and set(made) <= {".amlcompile", "dags_out"}, made


def test_sys_exit_from_the_standard_library_names_the_users_line(project):
    project.write(
        "argp.py",
        """\
        import argparse
        from amlcompile import *
        if __name__ == "__main__":
            ap = argparse.ArgumentParser()
            ap.add_argument("--x", required=True)
            ap.parse_args()
        """,
    )
    result = amlcompile_cli("check", "argp.py", cwd=project.root)
    assert f"error: {project.root / 'argp.py'}:6: importing the file called sys.exit(2)" in (
        result.stderr
    )
