"""Dataset.Tabular: a datastore input port that carries how the step reads the table."""

from __future__ import annotations

import pytest

from amlcompile.ir import models as ir
from amlcompile.targets.base import static_fingerprint, step_payload
from tests.dsl.test_sdk_data_env import compile_one, line_of, problems_of


def test_delimited_files_become_a_tabular_input_port(project):
    p = compile_one(
        project,
        """
t = Dataset.Tabular.from_delimited_files(
    path=[(ds, "tables/a.csv"), (ds, "tables/more/b.csv")], separator=";", header=False
)
a = PythonScriptStep("a.py", source_directory="src",
                     inputs=[t.take(10).drop_columns("x").as_named_input("table")])
pipeline = Pipeline(ws, steps=[a])
""",
    )
    (a,) = p.steps
    (port,) = a.inputs
    assert port.name == "table" and port.mode == "mount"
    assert port.source == ir.DatastoreSource(datastore="workspaceblobstore", path="tables")
    assert port.tabular == ir.TabularSpec(
        format="delimited",
        files=("a.csv", "more/b.csv"),
        separator=";",
        header="no_headers",
        transforms=(("take", 10), ("drop_columns", ("x",))),
    )
    assert step_payload(p, a)["inputs"][0]["tabular"]["separator"] == ";"


def test_one_file_parquet_and_datapath(project):
    p = compile_one(
        project,
        """
first = PromoteHeadersBehavior.ONLY_FIRST_FILE_HAS_HEADERS
one = Dataset.Tabular.from_delimited_files((ds, "x.csv"), header=first)
pq = Dataset.Tabular.from_parquet_files(path=DataPath(ds, "pq/"))
a = PythonScriptStep("a.py", source_directory="src",
                     inputs=[one.as_named_input("one"), pq.as_named_input("pq")])
pipeline = Pipeline(ws, steps=[a])
""",
    )
    one, pq = p.steps[0].inputs
    assert one.source.path == "x.csv" and one.tabular.files == ()  # the whole input
    assert one.tabular.header == "first_file"
    assert pq.source.path == "pq" and pq.tabular.format == "parquet"


def test_how_a_table_is_read_is_part_of_the_fingerprint(project):
    body = """
t = Dataset.Tabular.from_delimited_files((ds, "x.csv"), separator=SEP)
a = PythonScriptStep("a.py", source_directory="src", inputs=[t.as_named_input("t")])
pipeline = Pipeline(ws, steps=[a])
"""
    comma = compile_one(project, body.replace("SEP", "','")).steps[0]
    tab = compile_one(project, body.replace("SEP", "'\\t'")).steps[0]
    assert static_fingerprint(comma) != static_fingerprint(tab)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ('Dataset.Tabular.from_delimited_files((ds, "x.csv")).as_mount()', "only file datasets"),
        (
            'Dataset.Tabular.from_delimited_files((ds, "x.csv")).as_named_input("t").as_download()',
            "only file datasets",
        ),
        ('Dataset.Tabular.from_sql_query("select 1")', "SQL datastores"),
        ('Dataset.Tabular.from_delimited_files((ds, "x.csv"), header="maybe")', "header="),
        ('Dataset.Tabular.from_delimited_files((ds, "x.csv")).take(-1)', "a count of rows"),
    ],
)
def test_bad_tabular_use_is_reported_where_it_is(project, code, expected):
    probs = problems_of(project, f"t = {code}\n")
    assert f"/pipe.py:{line_of(project, 't = ')}: " in probs[0], probs
    assert expected in probs[0], probs


# ---- http(s) URLs ----


def test_url_files_become_a_url_input_port(project):
    p = compile_one(
        project,
        """
one = Dataset.File.from_files(["https://example.org/a/x.csv", "http://example.org/y.csv"])
t = Dataset.Tabular.from_delimited_files(path="https://example.org/t.csv", separator=";")
a = PythonScriptStep("a.py", source_directory="src", arguments=["--in", one.as_download()],
                     inputs=[t.as_named_input("t")])
pipeline = Pipeline(ws, steps=[a])
""",
    )
    (a,) = p.steps
    table, files = a.inputs  # inputs= first, then what only the arguments name
    assert files.source == ir.UrlSource(
        urls=("https://example.org/a/x.csv", "http://example.org/y.csv")
    )
    assert files.mode == "download" and files.tabular is None
    assert table.source == ir.UrlSource(urls=("https://example.org/t.csv",))
    assert table.tabular.separator == ";"
    entry = step_payload(p, a)["inputs"][1]
    assert entry["urls"] == list(files.source.urls)
    assert entry["datastore"] == "workspaceblobstore"  # downloaded to the record datastore


def test_dataset_parameters_with_url_defaults_are_string_params_of_urls(project):
    p = compile_one(
        project,
        """
fp = PipelineParameter("file_ds_param",
                       default_value=Dataset.File.from_files("https://example.org/t.csv"))
tp = PipelineParameter(
    "tabular_ds_param",
    default_value=Dataset.Tabular.from_delimited_files("https://example.org/t.csv"))
f_in = DatasetConsumptionConfig("file_dataset", fp).as_mount()
t_in = DatasetConsumptionConfig("tabular_dataset", tp)
a = PythonScriptStep("a.py", source_directory="src", arguments=["--f", f_in, "--t", t_in],
                     inputs=[f_in, t_in])
pipeline = Pipeline(ws, steps=[a])
""",
    )
    params = {x.name: x for x in p.parameters}
    assert params["file_ds_param"].type == "string"
    assert params["file_ds_param"].default == "https://example.org/t.csv"
    files, table = p.steps[0].inputs
    assert files.name == "file_dataset" and table.name == "tabular_dataset"
    assert files.source == ir.UrlSource(urls=("https://example.org/t.csv",), param="file_ds_param")
    assert table.source.param == "tabular_ds_param" and table.tabular.format == "delimited"
    assert step_payload(p, p.steps[0])["inputs"][0]["param"] == "file_ds_param"


def test_submitted_datasets_become_param_values():
    from amlcompile.dsl import DataPath, Dataset, Datastore
    from amlcompile.dsl.dataset import trigger_value

    url = Dataset.File.from_files(["https://a.org/x.csv", "https://a.org/y.csv"])
    assert trigger_value(url) == "https://a.org/x.csv https://a.org/y.csv"
    assert trigger_value(DataPath(Datastore(None, "ws"), "in/x.csv")) == "in/x.csv"
    assert trigger_value(Dataset.File.from_files(("ws", "in/d/"))) == "in/d"
    assert trigger_value(20) == 20


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://example.org/x.csv", "is not an http(s) URL"),
        ("file:///etc/passwd", "is not an http(s) URL"),
        ("s3://bucket/x.csv", "is not an http(s) URL"),
        (["https://a.org/x.csv", "https://b.org/x.csv"], "different file names"),
    ],
)
def test_non_http_urls_are_refused(project, url, expected):
    probs = problems_of(project, f"d = Dataset.File.from_files({url!r})\n")
    assert f"/pipe.py:{line_of(project, 'd = ')}: " in probs[0], probs
    assert expected in probs[0], probs


def test_step_outputs_read_as_tables_carry_the_reading_on_the_consumer_port(project):
    project.script("src/c.py")
    p = compile_one(
        project,
        """
out = OutputFileDatasetConfig("prepped")
pd_out = PipelineData("scored", datastore=ds)
a = PythonScriptStep("a.py", source_directory="src", arguments=["--out", out])
b = PythonScriptStep("b.py", source_directory="src", outputs=[pd_out],
                     inputs=[out.read_delimited_files(separator=";", path_glob="*.csv")
                             .keep_columns(["x"]).as_input("table")])
c = PythonScriptStep("c.py", source_directory="src",
                     inputs=[pd_out.as_dataset().parse_parquet_files()])
pipeline = Pipeline(ws, steps=[c])
""",
    )
    steps = {s.name: s for s in p.steps}
    (table,) = steps["b"].inputs
    assert table.name == "table" and isinstance(table.source, ir.StepOutputSource)
    assert table.tabular == ir.TabularSpec(
        format="delimited", separator=";", files=("*.csv",), transforms=(("keep_columns", ("x",)),)
    )
    (scored,) = steps["c"].inputs
    assert scored.name == "scored" and scored.tabular.format == "parquet"
    assert scored.tabular.files == ("**/*.parquet",)
    assert step_payload(p, steps["b"])["inputs"][0]["tabular"]["separator"] == ";"
