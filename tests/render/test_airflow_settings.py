"""Issue 19: what an Airflow engineer sets on a DAG file — default_args from amlcompile.toml
with per-step overrides, max_active_runs, tags, task_display_name, trigger-form parameters
(JSON spelling, defaults not required), datastore Assets, the XCom log tail switch — checked
in the source and as Airflow imports it (DagBag, zero errors)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from amlcompile.compiler import build, check
from amlcompile.config import ConfigError, load
from amlcompile.exceptions import BuildError
from tests.airflow.conftest import airflow_python

CONFIG = """\
[dag]
owner = "ml-platform"
retries = 2
retry_delay = "90s"
execution_timeout = "2h"
max_active_runs = 3
tags = ["team:vision"]
xcom_log_tail = 5

[dag.steps.train]
execution_timeout = "6h"
"""

PIPELINE = """\
from amlcompile import *
ws = Workspace.from_config()
ds = ws.get_default_datastore()
raw = DataReference(ds, "raw", "datasets/raw")
flag = PipelineParameter("full", default_value=True)
n = PipelineParameter("n", default_value=3)
out = PipelineData("prepared", datastore=ds)
prep = PythonScriptStep("prep.py", name="prep data!", source_directory="src",
                        arguments=["--in", raw, "--out", out, "--full", flag, "--n", n],
                        inputs=[raw], outputs=[out], retries=4)
train = PythonScriptStep("prep.py", name="train", source_directory="src",
                         arguments=["--in", out], inputs=[out])
train.airflow_settings(owner="vision-team")
settings_pipe = Pipeline(ws, steps=[prep, train], tags={"stage": "dev"})
"""


@pytest.fixture
def built(project):
    project.write("amlcompile.toml", CONFIG)
    project.script("src/prep.py")
    project.write("pipe.py", PIPELINE)
    out = project.root / "dags_out"
    build([project.root / "pipe.py"], out_dir=out)
    return project, out / "settings_pipe.py"


def test_source_carries_the_settings(built):
    _, dag_file = built
    text = dag_file.read_text()
    assert "max_active_runs=3," in text
    assert "'owner': 'ml-platform'," in text
    assert "'retries': 2," in text
    assert "'retry_delay': datetime.timedelta(seconds=90)," in text
    assert "'execution_timeout': datetime.timedelta(hours=2)," in text
    assert "tags=['amlcompile', 'stage:dev', 'team:vision']," in text
    assert "task_display_name='prep data!'," in text
    assert "retries=4," in text  # the step's own, over [dag]
    assert "execution_timeout=datetime.timedelta(hours=6)," in text  # [dag.steps.train]
    assert "owner='vision-team'," in text
    # JSON spelling, and nullable: not marked required in the trigger form.
    assert "description='pipeline parameter (default true)'," in text
    assert "type=['boolean', 'null']," in text
    assert "'xcom_log_tail': 5," in text
    assert "inlets=[" in text and "datasets/raw" in text
    ruff = shutil.which("ruff") or str(__import__("pathlib").Path(sys.executable).with_name("ruff"))
    result = subprocess.run(
        [
            ruff,
            "check",
            "--isolated",
            "--select",
            "E,F,W,I,B,UP",
            "--line-length",
            "100",
            str(dag_file),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.airflow
def test_airflow_imports_the_settings(built, tmp_path):
    _, dag_file = built
    got = airflow_python(
        """
        import datetime, json
        from airflow.dag_processing.dagbag import DagBag
        from airflow.serialization.serialized_objects import DagSerialization
        bag = DagBag()
        dag = bag.dags["settings_pipe"]
        DagSerialization.to_dict(dag)
        t = {x.task_id: x for x in dag.tasks}
        print(json.dumps({
            "errors": bag.import_errors,
            "max_active_runs": dag.max_active_runs,
            "tags": sorted(dag.tags),
            "owner": t["prep_data"].owner,
            "train_owner": t["train"].owner,
            "retries": [t["prep_data"].retries, t["train"].retries],
            "retry_delay": t["train"].retry_delay.total_seconds(),
            "timeouts": [t["prep_data"].execution_timeout.total_seconds(),
                         t["train"].execution_timeout.total_seconds()],
            "display": t["prep_data"].task_display_name,
            "inlets": [a.uri for a in t["prep_data"].inlets],
            "doc": t["train"].doc_md,
            "schema": dag.params.get_param("full").schema,
        }))
        """,
        tmp_path / "home",
        dag_file.parent,
    )
    assert got["errors"] == {}
    assert got["max_active_runs"] == 3
    assert got["tags"] == ["amlcompile", "stage:dev", "team:vision"]
    assert (got["owner"], got["train_owner"]) == ("ml-platform", "vision-team")
    assert got["retries"] == [4, 2] and got["retry_delay"] == 90
    assert got["timeouts"] == [7200, 21600]
    assert got["display"] == "prep data!"
    assert got["inlets"] == [
        "file://"
        + str(dag_file.parents[1] / ".amlcompile/datastores/workspaceblobstore")
        + "/datasets/raw"
    ]
    assert "defined at `pipe.py:" in got["doc"] and "reuse allowed" in got["doc"]
    assert got["schema"] == {"type": ["boolean", "null"]}


def test_bad_settings_name_the_file_and_key(project):
    project.write("amlcompile.toml", '[dag]\nretry_delay = "5 minutes"\n')
    with pytest.raises(ConfigError) as err:
        load(project.root)
    assert "amlcompile.toml: dag.retry_delay:" in str(err.value)
    project.write("amlcompile.toml", "[dag.steps.train]\nretries = -1\n")
    with pytest.raises(ConfigError) as err:
        load(project.root)
    assert "dag.steps.train.retries:" in str(err.value)


def test_bad_step_settings_name_the_step_and_line(project):
    project.script("src/prep.py")
    project.write(
        "pipe.py",
        "from amlcompile import *\n"
        "ws = Workspace.from_config()\n"
        "s = PythonScriptStep('prep.py', name='s', source_directory='src',\n"
        "                     execution_timeout='forever')\n"
        "p = Pipeline(ws, steps=[s])\n",
    )
    with pytest.raises(BuildError) as err:
        check([project.root / "pipe.py"])
    message = str(err.value)
    assert "pipe.py:3" in message and "execution_timeout" in message and "'s'" in message


def test_defaults_without_config(project):
    project.script("src/prep.py")
    project.write(
        "pipe.py",
        "from amlcompile import *\n"
        "ws = Workspace.from_config()\n"
        "s = PythonScriptStep('prep.py', name='s', source_directory='src')\n"
        "p = Pipeline(ws, steps=[s])\n",
    )
    out = project.root / "dags_out"
    build([project.root / "pipe.py"], out_dir=out)
    text = (out / "p.py").read_text()
    assert "max_active_runs=16," in text
    assert "'retries': 0," in text and "'retry_delay': datetime.timedelta(minutes=5)," in text
    assert "execution_timeout" not in text and "xcom_log_tail" not in text


def test_step_settings_for_no_step_warn(project):
    project.write("amlcompile.toml", "[dag.steps.trian]\nretries = 1\n")
    project.script("src/prep.py")
    project.write(
        "pipe.py",
        "from amlcompile import *\n"
        "ws = Workspace.from_config()\n"
        "s = PythonScriptStep('prep.py', name='train', source_directory='src')\n"
        "p = Pipeline(ws, steps=[s])\n",
    )
    with pytest.warns(UserWarning, match=r"dag\.steps\.trian: no step of the pipelines built"):
        check([project.root / "pipe.py"])


def test_step_decorator_takes_task_settings(project):
    project.write(
        "pipe.py",
        "from amlcompile import Output, pipeline, step\n"
        "\n"
        "@step(retries=3, execution_timeout='45m', owner='ops')\n"
        "def make(out: Output):\n"
        "    print(out)\n"
        "\n"
        "@pipeline(tags=['nightly'])\n"
        "def deco():\n"
        "    make()\n",
    )
    out = project.root / "dags_out"
    build([project.root / "pipe.py"], out_dir=out)
    text = (out / "deco.py").read_text()
    assert "retries=3," in text and "owner='ops'," in text
    assert "execution_timeout=datetime.timedelta(minutes=45)," in text
    assert "tags=['amlcompile', 'nightly']," in text


def test_asset_uris_per_datastore_kind():
    from amlcompile.ir import models as ir
    from amlcompile.render.dag import _asset_uri

    def uri(kind, path="data/x y.csv", **kw):
        ds = ir.Datastore(name="ds", kind=kind, path=kw.pop("root", "cont"), **kw)
        return _asset_uri(ds, path)

    assert uri("local", root="/srv/data") == "file:///srv/data/data/x%20y.csv"
    assert (
        uri("azure_blob", conn_id="blob", account_name="acct")
        == "wasbs://cont@acct.blob.core.windows.net/data/x%20y.csv"
    )
    assert uri("azure_blob", conn_id="blob_conn") == "wasbs://cont@blob_conn/data/x%20y.csv"
    assert (
        uri("adls_gen2", conn_id="lake", account_name="acct")
        == "abfss://cont@acct.dfs.core.windows.net/data/x%20y.csv"
    )
    assert (
        uri("azure_file", conn_id="f", account_name="acct")
        == "https://acct.file.core.windows.net/cont/data/x%20y.csv"
    )
    assert uri("local", path="données/é", root="/d") == "file:///d/donn%C3%A9es/%C3%A9"
    assert uri("local", path="x" * 1600, root="/d") is None  # over Airflow's 1,500
