"""What SDK v1 notebooks and scripts do around a submit: read the run's results afterwards
(a build has none: warned, the pipeline is still built), and `Datastore.download` (a local
datastore's files are copied; a remote one is not fetched during a build)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from amlcompile.compiler import check
from amlcompile.exceptions import BuildError
from tests.conftest import amlcompile_cli

SUBMIT_THEN_READ = """\
from azureml.core import Workspace, Experiment
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
step = PythonScriptStep("a.py", name="a", source_directory="src")
run = Experiment(ws, "readback").submit(Pipeline(ws, steps=[step]))
run.wait_for_completion()
print(open("results/out.txt").read())  # the run's results: none at build time
later = "never run"
"""


def test_an_error_after_submit_is_a_warning_and_the_pipeline_builds(project):
    project.script("src/a.py")
    project.write("pipe.py", SUBMIT_THEN_READ)
    with pytest.warns(UserWarning, match=r"FileNotFoundError.*after the pipeline was submitted"):
        (compiled,) = check([project.root / "pipe.py"])
    assert compiled.pipeline.name == "readback"
    proc = amlcompile_cli("build", "pipe.py", cwd=project.root)
    assert proc.returncode == 0, proc.stderr
    assert "pipe.py:9: AfterSubmitWarning: FileNotFoundError" in proc.stderr


def test_an_error_before_any_submit_is_still_an_error(project):
    project.script("src/a.py")
    project.write(
        "pipe.py", SUBMIT_THEN_READ.replace("run = Experiment", "1 / 0\nrun = Experiment")
    )
    with pytest.raises(BuildError, match="pipe.py:7: importing the file failed: ZeroDivision"):
        check([project.root / "pipe.py"])


def test_warnings_in_a_notebook_name_the_cell(project):
    project.script("src/a.py")
    cells = [
        "from azureml.core import Workspace, Dataset\nws = Workspace.from_config()",
        "ds = ws.get_default_datastore()\n"
        "files = Dataset.File.from_files(path=(ds, 'x'), validate=False)",
        "from azureml.pipeline.core import Pipeline\n"
        "from azureml.pipeline.steps import PythonScriptStep\n"
        "nb = Pipeline(ws, steps=[PythonScriptStep('a.py', source_directory='src')])",
    ]
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "source": c,
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            }
            for c in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    project.write("nb.ipynb", json.dumps(notebook))
    proc = amlcompile_cli("build", "nb.ipynb", cwd=project.root)
    assert proc.returncode == 0, proc.stderr
    assert "nb.ipynb:cell 2:2: AzureOnlyArgumentWarning: Dataset.File.from_files" in proc.stderr


DOWNLOAD = """\
from amlcompile import Workspace  # a script run with python, outside a build
ws = Workspace.from_config()
ds = ws.get_default_datastore()
print("COUNT", ds.download("fetched", prefix="models"))
print("AGAIN", ds.download("fetched", prefix="models"))
print("FORCED", ds.download("fetched", prefix="models/m.pkl", overwrite=True))
"""


def test_download_copies_a_local_datastores_files_keeping_their_paths(project):
    store = project.root / ".amlcompile" / "datastores" / "workspaceblobstore"
    project.write(".amlcompile/datastores/workspaceblobstore/models/m.pkl", "model")
    project.write(".amlcompile/datastores/workspaceblobstore/models/sub/w.txt", "w")
    project.write(".amlcompile/datastores/workspaceblobstore/other.txt", "not this")
    project.write("fetch.py", DOWNLOAD)
    proc = subprocess.run(
        [sys.executable, "fetch.py"], cwd=project.root, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "COUNT 2" in proc.stdout and "AGAIN 0" in proc.stdout and "FORCED 1" in proc.stdout
    assert (project.root / "fetched/models/m.pkl").read_text() == "model"
    assert (project.root / "fetched/models/sub/w.txt").read_text() == "w"
    assert not (project.root / "fetched/other.txt").exists()
    assert store.is_dir()


def test_download_of_a_remote_datastore_during_a_build_fetches_nothing(project):
    project.script("src/a.py")
    project.write(
        "pipe.py",
        "from azureml.core import Workspace, Datastore\n"
        "from azureml.pipeline.core import Pipeline\n"
        "from azureml.pipeline.steps import PythonScriptStep\n"
        "ws = Workspace.from_config()\n"
        "models = Datastore.register_azure_blob_container(ws, 'models', 'models',"
        " account_name='acct')\n"
        "n = models.download('model_dir')\n"
        "assert n == 0\n"
        "p = Pipeline(ws, steps=[PythonScriptStep('a.py', source_directory='src')])\n",
    )
    with pytest.warns(UserWarning, match="a build does not fetch remote data"):
        check([project.root / "pipe.py"])
    assert not (project.root / "model_dir").exists()
