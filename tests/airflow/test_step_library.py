"""`amlcompile run` of step scripts written for SDK v1, unmodified: `from azureml.core import
Run` on the worker (the runtime's step library; nothing of azureml is installed)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import amlcompile_cli

RUN_PIPELINE = """\
from azureml.core import Workspace, Experiment
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
step = PythonScriptStep("score.py", name="score", source_directory="src", arguments=["--k", 3])
pipeline = Pipeline(ws, steps=[step])
"""

SCORE = """\
import argparse
import azureml
from azureml.core import Run, Workspace
from azureml.core.run import Run as SameRun

assert "/steplib/azureml/" in azureml.__file__, azureml.__file__
p = argparse.ArgumentParser()
p.add_argument("--k", type=int)
k = p.parse_args().k
run = Run.get_context()
run.log("score", k * 0.25)
SameRun.get_context().parent.log("best", 0.75)
run.tag("kind", "sdk")
if k > 5:
    Workspace.from_config()  # used: fails here, with the name and what to do
"""


@pytest.mark.airflow
def test_unmodified_step_script_logs_through_azureml_core_run(project):
    assert importlib.util.find_spec("azureml") is None  # nothing of the SDK is installed
    project.write("src/score.py", SCORE)
    project.write("pipe.py", RUN_PIPELINE)
    proc = amlcompile_cli("run", "pipe.py", cwd=project.root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "metric score: 0.75" in proc.stdout
    assert "parent metric best: 0.75" in proc.stdout
    assert "tag kind: sdk" in proc.stdout


TABULAR_PIPELINE = """\
from azureml.core import Workspace, Dataset
from azureml.data.dataset_type_definitions import PromoteHeadersBehavior
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
ds = ws.get_default_datastore()
ds.upload(src_dir="data", target_path="tables", overwrite=True)
sales = Dataset.Tabular.from_delimited_files(
    path=[(ds, "tables/jan.csv"), (ds, "tables/feb.csv")], separator=";"
)
prices = Dataset.Tabular.from_delimited_files((ds, "tables/prices.tsv"), separator="\\t",
                                              header=False)
step = PythonScriptStep(
    "total.py", name="total", source_directory="src",
    inputs=[sales.as_named_input("sales"),
            prices.keep_columns(["Column2"]).as_named_input("prices")],
)
pipeline = Pipeline(ws, steps=[step])
"""

TOTAL = """\
from azureml.core import Run
run = Run.get_context()
sales = run.input_datasets["sales"].to_pandas_dataframe()
prices = run.input_datasets["prices"].to_pandas_dataframe()
run.log("rows", len(sales))
run.log("units", int(sales["units"].sum()))
run.log("top", str(sales.sort_values("units").iloc[-1]["item"]))
run.log("prices", list(prices.columns) + [float(prices["Column2"].sum())])
run.log("first_two", int(run.input_datasets["sales"].take(2).to_pandas_dataframe()["units"].sum()))
"""


@pytest.mark.airflow
def test_tabular_csv_input_read_with_to_pandas_dataframe(project):
    project.write("data/jan.csv", "item;units\napple;3\npear;4\n")
    project.write("data/feb.csv", "item;units\nplum;10\n")
    project.write("data/prices.tsv", "apple\t1.5\npear\t2\n")
    project.write("src/total.py", TOTAL)
    project.write("pipe.py", TABULAR_PIPELINE)
    proc = amlcompile_cli("run", "pipe.py", cwd=project.root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "metric rows: 3" in proc.stdout
    assert "metric units: 17" in proc.stdout
    assert "metric top: plum" in proc.stdout
    assert 'metric prices: ["Column2", 3.5]' in proc.stdout
    assert "metric first_two: 7" in proc.stdout


URL_PIPELINE = """\
from azureml.core import Workspace, Dataset
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
one = Dataset.File.from_files("BASE/data/greeting.txt")
table = Dataset.Tabular.from_delimited_files(path="BASE/data/table.csv")
step = PythonScriptStep(
    "read.py", name="read", source_directory="src",
    arguments=["--greeting", one.as_named_input("greeting").as_download()],
    inputs=[table.as_named_input("table")],
)
pipeline = Pipeline(ws, steps=[step])
"""

READ = """\
import argparse
from azureml.core import Run
p = argparse.ArgumentParser()
p.add_argument("--greeting")
path = p.parse_args().greeting
run = Run.get_context()
run.log("greeting", open(path).read())
run.log("total", int(run.input_datasets["table"].to_pandas_dataframe()["n"].sum()))
"""


class _Files:
    """What the loopback server serves: path → (body, ETag)."""

    def __init__(self):
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str]] = []


def _serve(files: _Files):
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def _head(self) -> bytes | None:
            files.requests.append((self.command, self.path))
            if self.path not in files.files:
                self.send_error(404)
                return None
            body, etag = files.files[self.path]
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return body

        def do_HEAD(self):  # noqa: N802
            self._head()

        def do_GET(self):  # noqa: N802
            body = self._head()
            if body is not None:
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.airflow
def test_url_inputs_are_downloaded_and_reused_by_etag(project):
    files = _Files()
    files.files["/data/greeting.txt"] = (b"hello", '"v1"')
    files.files["/data/table.csv"] = (b"n\n1\n2\n", '"t1"')
    server = _serve(files)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        project.write("src/read.py", READ)
        project.write("pipe.py", URL_PIPELINE.replace("BASE", base))
        env = {"NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        proc = amlcompile_cli("build", "pipe.py", "--out", "dags", cwd=project.root, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert files.requests == []  # nothing is fetched at build time

        first = amlcompile_cli("run", "pipe.py", cwd=project.root, env=env)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert "metric greeting: hello" in first.stdout and "metric total: 3" in first.stdout
        assert ("GET", "/data/greeting.txt") in files.requests

        files.requests.clear()
        again = amlcompile_cli("run", "pipe.py", cwd=project.root, env=env)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert "1 of 1 steps reused earlier results" in again.stdout
        assert sorted(files.requests) == [
            ("HEAD", "/data/greeting.txt"),
            ("HEAD", "/data/table.csv"),
        ]

        files.files["/data/greeting.txt"] = (b"bonjour", '"v2"')
        changed = amlcompile_cli("run", "pipe.py", cwd=project.root, env=env)
        assert changed.returncode == 0, changed.stdout[-3000:] + changed.stderr[-3000:]
        assert "reused" not in changed.stdout
        assert "metric greeting: bonjour" in changed.stdout
    finally:
        server.shutdown()


PARAM_PIPELINE = """\
from azureml.core import Workspace, Dataset
from azureml.data.dataset_consumption_config import DatasetConsumptionConfig
from azureml.pipeline.core import Pipeline, PipelineParameter
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
file_param = PipelineParameter(name="file_ds_param",
                               default_value=Dataset.File.from_files("BASE/data/greeting.txt"))
file_input = DatasetConsumptionConfig("file_dataset", file_param).as_mount()
table_param = PipelineParameter(
    name="tabular_ds_param",
    default_value=Dataset.Tabular.from_delimited_files("BASE/data/table.csv"))
table_input = DatasetConsumptionConfig("tabular_dataset", table_param)
step = PythonScriptStep(
    "read.py", name="read", source_directory="src",
    arguments=["--greeting", file_input, "--table", table_input],
    inputs=[file_input, table_input],
)
pipeline = Pipeline(ws, steps=[step])
"""

PARAM_READ = """\
from azureml.core import Run
run = Run.get_context()
run.log("greeting", open(run.input_datasets["file_dataset"]).read())
run.log("total", int(run.input_datasets["tabular_dataset"].to_pandas_dataframe()["n"].sum()))
"""


@pytest.mark.airflow
def test_dataset_parameters_with_url_defaults_take_other_urls_at_trigger_time(project):
    """The dataset-and-pipelineparameter sample's pattern: a PipelineParameter whose default
    is a URL dataset is a string Param; the run downloads the URL given at trigger time."""
    files = _Files()
    files.files["/data/greeting.txt"] = (b"hello", '"v1"')
    files.files["/data/table.csv"] = (b"n\n1\n2\n", '"t1"')
    files.files["/other/greeting.txt"] = (b"ahoj", '"o1"')
    files.files["/other/iris.csv"] = (b"n\n10\n20\n", '"o2"')
    server = _serve(files)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        project.write("src/read.py", PARAM_READ)
        project.write("pipe.py", PARAM_PIPELINE.replace("BASE", base))
        env = {"NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        first = amlcompile_cli("run", "pipe.py", cwd=project.root, env=env)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert "metric greeting: hello" in first.stdout and "metric total: 3" in first.stdout

        other = amlcompile_cli(
            "run",
            "pipe.py",
            "--param",
            f"file_ds_param={base}/other/greeting.txt",
            "--param",
            f"tabular_ds_param={base}/other/iris.csv",
            cwd=project.root,
            env=env,
        )
        assert other.returncode == 0, other.stdout[-3000:] + other.stderr[-3000:]
        assert "metric greeting: ahoj" in other.stdout and "metric total: 30" in other.stdout
        assert "reused" not in other.stdout

        bad = amlcompile_cli(
            "run", "pipe.py", "--param", "file_ds_param=file:///etc/passwd", cwd=project.root
        )
        assert bad.returncode != 0
        text = bad.stdout + bad.stderr
        assert "dataset parameter 'file_ds_param': 'file:///etc/passwd' is not an http(s) URL" in (
            text + "".join(p.read_text() for p in project.root.rglob("*.log"))
        )
    finally:
        server.shutdown()


TABLE_PIPELINE = """\
from azureml.core import Workspace
from azureml.data import OutputFileDatasetConfig
from azureml.pipeline.core import Pipeline, PipelineData
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
prepped = OutputFileDatasetConfig("prepped")
scored = PipelineData("scored", datastore=ws.get_default_datastore())
prep = PythonScriptStep("prep.py", name="prep", source_directory="src",
                        arguments=["--out", prepped])
score = PythonScriptStep("score.py", name="score", source_directory="src",
                         arguments=["--out", scored],
                         inputs=[prepped.read_delimited_files().as_input("table")],
                         outputs=[scored])
report = PythonScriptStep("report.py", name="report", source_directory="src",
                          inputs=[scored.as_dataset().parse_parquet_files().as_named_input("s")])
pipeline = Pipeline(ws, steps=[report])
"""

TABLE_SCRIPTS = {
    "src/prep.py": (
        "import argparse, os\n"
        "p = argparse.ArgumentParser(); p.add_argument('--out')\n"
        "out = p.parse_args().out\n"
        "os.makedirs(out, exist_ok=True)\n"
        "open(os.path.join(out, 'a.csv'), 'w').write('n,m\\n1,2\\n3,4\\n')\n"
        "open(os.path.join(out, 'b.csv'), 'w').write('n,m\\n5,6\\n')\n"
    ),
    "src/score.py": (
        "import argparse, os\n"
        "from azureml.core import Run\n"
        "p = argparse.ArgumentParser(); p.add_argument('--out')\n"
        "out = p.parse_args().out\n"
        "df = Run.get_context().input_datasets['table'].to_pandas_dataframe()\n"
        "Run.get_context().log('rows', len(df))\n"
        "os.makedirs(out, exist_ok=True)\n"
        "df.assign(total=df.n + df.m).to_parquet(os.path.join(out, 's.parquet'))\n"
    ),
    "src/report.py": (
        "from azureml.core import Run\n"
        "df = Run.get_context().input_datasets['s'].to_pandas_dataframe()\n"
        "Run.get_context().log('total', int(df.total.sum()))\n"
    ),
}


@pytest.mark.airflow
def test_step_outputs_read_as_tables_by_the_next_step(project):
    """OutputFileDatasetConfig.read_delimited_files() and PipelineData.as_dataset()
    .parse_parquet_files(): the consumer reads the producer's files with
    to_pandas_dataframe()."""
    pytest.importorskip("pyarrow")
    for path, text in TABLE_SCRIPTS.items():
        project.write(path, text)
    project.write("pipe.py", TABLE_PIPELINE)
    result = amlcompile_cli("run", "pipe.py", cwd=project.root)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "metric rows: 3" in result.stdout
    assert "metric total: 21" in result.stdout
