"""What `pip install amlcompile` (a wheel, not an editable checkout) gets: every module of the
package, the runtime with its step library, and the DAG template from the top-level
templates/ folder. Without the template a wheel install could not build a single DAG."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def build_wheel(tmp_path: Path) -> Path:
    # From a copy of the sources: a stale build/ in a checkout would hide a missing package.
    source = tmp_path / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            "build", "*.egg-info", ".venv*", ".git", "node_modules", "__pycache__", "dags_out",
            ".amlcompile", "tests", "docs", "examples", "benchmarks",
        ),
    )  # fmt: skip
    wheels = tmp_path / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    shutil.rmtree(source)
    [wheel] = wheels.glob("amlcompile-*.whl")
    return wheel


def test_the_wheel_holds_every_module_and_the_dag_template(tmp_path):
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "amlcompile/templates/dag.py.j2" in names
    assert "amlcompile_run.py" in names
    sources = {
        p.relative_to(REPO).as_posix()
        for p in (REPO / "amlcompile").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert sources - names == set()


def _fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A new virtual environment holding amlcompile only from `wheel`.

    Installing Airflow from scratch takes many minutes, so the test environment's
    site-packages is reachable through a .pth line: its packages (Airflow, providers,
    pydantic, jinja2, ...) import, but its .pth files, among them the editable install's
    finder that maps `amlcompile` to this checkout, are not run (a .pth line only adds a path;
    site processes .pth files of site directories alone). The venv's own site-packages comes
    first on sys.path, so amlcompile is the wheel's.
    """
    import site

    venv = tmp_path / "fresh venv"  # a space: paths are quoted where they must be
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    own = Path(
        subprocess.run(
            [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (own / "test-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv


@pytest.mark.airflow
def test_wheel_in_a_fresh_venv_builds_and_runs_the_examples(tmp_path):
    """What `pip install amlcompile` gives, away from this repository: the console script
    builds every example (the DAG template comes from the package), `--template` replaces it,
    and `amlcompile run` runs a pipeline end to end in the embedded Airflow."""
    venv = _fresh_venv(tmp_path, build_wheel(tmp_path))
    project = tmp_path / "project"  # no config: the working directory is the project root
    skip = shutil.ignore_patterns("dags_out", ".amlcompile", "__pycache__")
    shutil.copytree(REPO / "examples", project / "examples", ignore=skip)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AIRFLOW_HOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"

    def cli(*args, timeout=900):
        return subprocess.run(
            [str(venv / "bin" / "amlcompile"), *map(str, args)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import amlcompile, amlcompile_run, sys; print(amlcompile.__file__);"
         " print(amlcompile_run.__file__); print(sys.prefix)"],
        cwd=project, env=env, capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    site_packages = str(venv / "lib")
    assert where[0].startswith(site_packages), where  # the wheel's, not this checkout's
    assert where[1].startswith(site_packages), where
    assert not where[0].startswith(str(REPO)) and where[2] == str(venv)

    result = cli("build", "examples/")
    assert result.returncode == 0, result.stdout + result.stderr
    dags = project / "dags_out"
    assert {p.stem for p in dags.glob("*.py")} >= {
        "My_Published_Pipeline", "Hello_World", "decorator_form", "Sequence_Exp", "Mixed_Compute",
    }  # fmt: skip

    # --template: a copy of the packaged template, changed.
    packaged = Path(where[0]).parent / "templates" / "dag.py.j2"
    assert packaged.is_file()
    custom = project / "my_dag.py.j2"
    custom.write_text("# team header: reviewed DAGs only\n" + packaged.read_text())
    result = cli("build", "examples/decorator_form/", "--template", custom, "--out", "custom_out")
    assert result.returncode == 0, result.stdout + result.stderr
    text = (project / "custom_out" / "decorator_form.py").read_text()
    assert "# team header: reviewed DAGs only" in text

    result = cli("run", "examples/decorator_form/pipeline.py", "--param", "epochs=5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "of decorator_form: success" in result.stdout
    for step in ("prepare", "train", "evaluate"):
        assert re.search(rf"^  {step}\s+success", result.stdout, re.M), result.stdout
