"""Properties of the written output: deterministic, ruff-clean, atomic and self-cleaning."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from amlcompile.compiler import build
from amlcompile.render import writer
from tests.conftest import EXAMPLES, amlcompile_cli


def tree(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_byte_identical_whatever_the_hash_seed(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    outputs = []
    for seed in ("0", "12345"):
        out = tmp_path / f"out_{seed}"
        result = amlcompile_cli(
            "build", tmp_path / "examples", "--out", out, cwd=tmp_path, env={"PYTHONHASHSEED": seed}
        )
        assert result.returncode == 0, result.stderr
        outputs.append(tree(out))
    assert outputs[0] == outputs[1]
    assert any(name.endswith(".py") and "/" not in name for name in outputs[0])


def test_generated_code_is_ruff_clean(tmp_path, monkeypatch):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    # Steps named like digits (`l`, `O`, `I`): ruff refuses such variable names (E741).
    (tmp_path / "examples" / "ambiguous").mkdir()
    (tmp_path / "examples" / "ambiguous" / "pipeline.py").write_text(
        "from amlcompile import CommandStep, Pipeline, Workspace\n"
        "ws = Workspace.from_config()\n"
        "steps = [CommandStep(command=['echo', n], name=n) for n in ('l', 'O', 'I')]\n"
        "pipeline = Pipeline(ws, steps=steps, name='Ambiguous_Names')\n"
    )
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "dags_out"
    build([tmp_path / "examples"], out_dir=out)
    dag_files = sorted(str(p) for p in out.glob("*.py"))
    assert any(f.endswith("Ambiguous_Names.py") for f in dag_files)
    ruff = shutil.which("ruff") or os.path.join(os.path.dirname(sys.executable), "ruff")
    result = subprocess.run(
        [
            ruff,
            "check",
            "--isolated",
            "--select",
            "E,F,W,I,B,UP",
            "--line-length",
            "100",
            *dag_files,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_rebuild_is_stable_and_removes_stale_dags_only(project):
    project.script("src/a.py")
    project.write(
        "p1.py",
        """\
from amlcompile import *
ws = Workspace.from_config()
first = Pipeline(ws, steps=[PythonScriptStep("a.py", source_directory="src")])
second = Pipeline(ws, steps=[PythonScriptStep("a.py", name="b", source_directory="src")])
""",
    )
    out = project.root / "dags_out"
    out.mkdir()
    (out / "hand_written.py").write_text("# a user's own DAG: never touched\n")
    build([project.root / "p1.py"], out_dir=out)
    assert (out / "first.py").is_file() and (out / "second.py").is_file()
    mtime = (out / "first.py").stat().st_mtime_ns
    snapshot_dirs = sorted(p.name for p in (out / "_amlcompile" / "snapshots").iterdir())

    project.write(
        "p1.py",
        """\
from amlcompile import *
ws = Workspace.from_config()
first = Pipeline(ws, steps=[PythonScriptStep("a.py", source_directory="src")])
""",
    )
    result = build([project.root / "p1.py"], out_dir=out)
    assert not (out / "second.py").exists()
    assert (out / "hand_written.py").read_text().startswith("# a user's own DAG")
    assert (out / "first.py").stat().st_mtime_ns == mtime  # unchanged bytes are not rewritten
    assert "first.py" in result.changes["unchanged"]

    (project.root / "src" / "a.py").write_text("print('new code')\n")
    build([project.root / "p1.py"], out_dir=out)
    snapshots = out / "_amlcompile" / "snapshots"
    now = sorted(p.name for p in snapshots.iterdir())
    assert len(now) == 2 and set(snapshot_dirs) < set(now)  # old code kept for running steps
    assert not list(out.rglob("*.tmp"))

    # A day later, the next build removes the snapshot no DAG has referred to since.
    retired_file = out / "_amlcompile" / writer.RETIRED_FILE
    retired = json.loads(retired_file.read_text())
    assert list(retired) == [f"_amlcompile/snapshots/{snapshot_dirs[0]}"]
    retired_file.write_text(
        json.dumps({k: v - writer.RETIRE_AFTER_SECONDS for k, v in retired.items()})
    )
    result = build([project.root / "p1.py"], out_dir=out)
    assert [p.name for p in snapshots.iterdir()] == sorted(set(now) - set(snapshot_dirs))
    assert result.changes["removed"] == [f"_amlcompile/snapshots/{snapshot_dirs[0]}"]
    assert not retired_file.exists()


def test_rebuild_reads_no_snapshot_already_in_dags_out(project, monkeypatch):
    """A snapshot folder is named by its content: once whole in dags_out it is not copied
    again, and steps sharing a source directory copy it once."""
    from amlcompile import compiler

    for i in range(3):
        project.script(f"src/s{i}.py")
    project.write(
        "p.py",
        """\
from amlcompile import *
ws = Workspace.from_config()
steps = [PythonScriptStep(f"s{i}.py", name=f"s{i}", source_directory="src") for i in range(3)]
pipeline = Pipeline(ws, steps=steps)
""",
    )
    copies = []
    real = compiler._snapshot_files
    monkeypatch.setattr(compiler, "_snapshot_files", lambda s: copies.append(s.name) or real(s))
    out = project.root / "dags_out"
    build([project.root / "p.py"], out_dir=out)
    assert len(copies) == 1  # three steps, one snapshot
    build([project.root / "p.py"], out_dir=out)
    assert len(copies) == 1

    (snapshot,) = (out / "_amlcompile" / "snapshots").iterdir()
    (snapshot / "s1.py").unlink()  # a damaged copy is written again, whole
    build([project.root / "p.py"], out_dir=out)
    assert len(copies) == 2
    assert sorted(p.name for p in snapshot.iterdir()) == ["s0.py", "s1.py", "s2.py"]


def test_compiler_works_without_airflow(tmp_path):
    """`pip install amlcompile` without extras: building must not import Airflow."""
    shutil.copytree(EXAMPLES / "seed_compare_models", tmp_path / "seed")
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('airflow', 'kubernetes'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from amlcompile.cli import main\n"
        "sys.exit(main(['build', 'seed', '--out', 'out']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocker], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "My_Published_Pipeline.py").is_file()


def test_deploy_copies_snapshots_but_not_the_retirement_bookkeeping(tmp_path):
    """The DAGs folder keeps its own retired.json: its clock starts when it stops needing a
    folder, not when dags_out did."""
    from amlcompile.rest.lifecycle import _read_tree

    support = tmp_path / "_amlcompile"
    (support / "snapshots" / "abc").mkdir(parents=True)
    (support / "snapshots" / "abc" / "train.py").write_text("print(1)\n")
    (support / writer.RETIRED_FILE).write_text('{"_amlcompile/snapshots/abc": 0}\n')
    files, owned = _read_tree(tmp_path)
    assert set(files) == {"_amlcompile/snapshots/abc/train.py"}
    assert owned == {"_amlcompile/snapshots/abc"}


def test_deploy_reads_no_snapshot_the_dags_folder_holds_whole(tmp_path):
    from amlcompile.rest.lifecycle import _read_tree

    src, dest = tmp_path / "dags_out", tmp_path / "airflow_dags"
    for root in (src, dest):
        folder = root / "_amlcompile" / "snapshots" / "abc" / "pkg"
        folder.mkdir(parents=True)
        (folder / "a.py").write_text("A = 1\n")
        (folder.parent / "train.py").write_text("print(1)\n")
    (src / "pipe.py").write_text("# Generated by amlcompile\n")
    files, owned = _read_tree(src, dest)
    assert set(files) == {"pipe.py"}  # the snapshot is there already: not read
    assert "_amlcompile/snapshots/abc" in owned

    (dest / "_amlcompile" / "snapshots" / "abc" / "pkg" / "a.py").unlink()
    files, _ = _read_tree(src, dest)  # a copy with a file missing is copied again, whole
    assert set(files) == {
        "pipe.py",
        "_amlcompile/snapshots/abc/train.py",
        "_amlcompile/snapshots/abc/pkg/a.py",
    }
