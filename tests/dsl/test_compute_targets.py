"""DatabricksStep, AdlaStep, DataTransferStep and AmlCompute sizes: DSL → IR → task specs,
and every conflicting or missing argument refused at build with file:line."""

from __future__ import annotations

import pytest

from amlcompile.compiler import check, render_files
from amlcompile.exceptions import BuildError
from amlcompile.ir import vm_sizes

HEADER = """\
from amlcompile import *
ws = Workspace.from_config()
ds = ws.get_default_datastore()
dbx = ComputeTarget.attach(ws, "dbx", DatabricksCompute.attach_configuration(
    resource_group="rg", workspace_name="w"))
adla = ComputeTarget.attach(ws, "adla", AdlaCompute.attach_configuration(
    resource_group="rg", account_name="myadla"))
model = PipelineData("model", datastore=ds)
scores = PipelineData("scores", datastore=ds)
n = PipelineParameter("n", default_value=3)
"""

CONFIG = """
[datastores.lake]
kind = "adls_gen2"
path = "raw"
conn_id = "adls_conn"
account_name = "mylake"

[datastores.share]
kind = "azure_file"
path = "files"
conn_id = "share_conn"

[compute.dbx]
kind = "databricks"
conn_id = "dbx_conn"
"""


def write(project, body: str):
    project.write("amlcompile.toml", CONFIG)
    for name in ("train.py", "score.py", "job.usql"):
        project.script(f"src/{name}")
    project.write("pipe.py", HEADER + body)
    return project.root / "pipe.py"


def compile_one(project, body: str):
    (compiled,) = check([write(project, body)])
    return compiled


def problems_of(project, body: str) -> list[str]:
    with pytest.raises(BuildError) as info:
        compiled = check([write(project, body)])
        render_files(compiled)
    return [str(p) for p in info.value.problems]


def line_of(project, needle: str) -> int:
    lines = (project.root / "pipe.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def spec_of(compiled, task_id: str) -> dict:
    files, _ = render_files([compiled])
    source = files[f"{compiled.pipeline.name}.py"][0].decode()
    assert f"task_id={task_id!r}" in source
    from amlcompile.targets import LoweringContext, lower_step

    step = compiled.pipeline.step(task_id)
    return lower_step(compiled.pipeline, step, LoweringContext(config=compiled.config)).kwargs


def test_databricks_python_script_with_new_cluster_and_libraries(project):
    compiled = compile_one(
        project,
        """
train = PythonScriptStep("train.py", source_directory="src", outputs=[model],
                         arguments=["--model", model])
score = DatabricksStep("score", inputs=[model], outputs=[scores],
    python_script_name="score.py", source_directory="src",
    python_script_params=["--n", n, "--model-uri", model],
    spark_version="13.3.x-scala2.12", node_type="Standard_DS3_v2", min_workers=1, max_workers=4,
    spark_conf={"spark.speculation": "true"}, spark_env_variables={"MODE": "batch"},
    init_scripts=["dbfs:/init.sh"], cluster_log_dbfs_path="dbfs:/logs",
    maven_libraries=[MavenLibrary("com.a:b:1.0", exclusions=["x:y"])],
    pypi_libraries=[PyPiLibrary("scikit-learn==1.5.0")], egg_libraries=[EggLibrary("dbfs:/a.egg")],
    jar_libraries=[JarLibrary("dbfs:/a.jar")], rcran_libraries=[RCranLibrary("forecast")],
    run_name="nightly score", timeout_seconds=600, compute_target=dbx)
p = Pipeline(ws, steps=[score])
""",
    )
    step = compiled.pipeline.step("score")
    assert step.kind == "databricks" and step.compute == "dbx"
    assert [e.upstream for e in compiled.pipeline.edges()] == ["train"]
    d = step.databricks
    assert d.task == "python_script_name" and d.python_script_name == "score.py"
    assert d.new_cluster == {
        "spark_version": "13.3.x-scala2.12",
        "node_type_id": "Standard_DS3_v2",
        "autoscale": {"min_workers": 1, "max_workers": 4},
        "spark_conf": {"spark.speculation": "true"},
        "spark_env_vars": {"MODE": "batch"},
        "init_scripts": [{"dbfs": {"destination": "dbfs:/init.sh"}}],
        "cluster_log_conf": {"dbfs": {"destination": "dbfs:/logs"}},
    }
    assert list(d.libraries) == [
        {"maven": {"coordinates": "com.a:b:1.0", "exclusions": ["x:y"]}},
        {"pypi": {"package": "scikit-learn==1.5.0"}},
        {"egg": "dbfs:/a.egg"},
        {"jar": "dbfs:/a.jar"},
        {"cran": {"package": "forecast"}},
    ]
    kwargs = spec_of(compiled, "score")
    assert kwargs["databricks_conn_id"] == "dbx_conn"  # from the project config
    assert kwargs["databricks"]["params"] == [
        {"literal": "--n"},
        {"param": "n"},
        {"literal": "--model-uri"},
        {"port": "model"},
    ]
    assert kwargs["databricks"]["run_name"] == "nightly score"
    assert kwargs["databricks"]["timeout_seconds"] == 600


def test_databricks_fingerprint_ignores_cluster_size_but_not_spark_version(project):
    from amlcompile.targets.base import static_fingerprint

    def fp(spark_version: str, workers: int) -> str:
        compiled = compile_one(
            project,
            f"""
s = DatabricksStep("nb", notebook_path="/Shared/nb", spark_version={spark_version!r},
                   node_type="Standard_DS3_v2", num_workers={workers}, compute_target=dbx)
p = Pipeline(ws, steps=[s])
""",
        )
        return static_fingerprint(compiled.pipeline.step("nb"))

    base = fp("13.3.x-scala2.12", 2)
    assert fp("13.3.x-scala2.12", 8) == base  # a scheduling knob
    assert fp("14.3.x-scala2.12", 2) != base  # decides results


def test_adla_step_params_and_account(project):
    compiled = compile_one(
        project,
        """
job = AdlaStep("job.usql", inputs=[DataReference(ds, "logs", "in/logs")], outputs=[scores],
               params={"threshold": "0.5", "n": n}, degree_of_parallelism=8, priority=100,
               runtime_version="default", source_directory="src", compute_target=adla)
p = Pipeline(ws, steps=[job])
""",
    )
    step = compiled.pipeline.step("job")  # unnamed: named after its script
    assert step.kind == "adla"
    kwargs = spec_of(compiled, "job")
    assert kwargs["account"] == "myadla"
    assert kwargs["adla"] == {
        "script": "job.usql",
        "params": [["n", {"param": "n"}], ["threshold", {"literal": "0.5"}]],
        "degree_of_parallelism": 8,
        "priority": 100,
        "runtime_version": "default",
    }


def test_data_transfer_between_datastores(project):
    compiled = compile_one(
        project,
        """
src = DataReference(Datastore(ws, "lake"), "src", "exports/day1")
dst = DataReference(ds, "dst", "imports/day1")
copy = DataTransferStep("copy", source_data_reference=src, destination_data_reference=dst,
                        source_reference_type="directory", destination_reference_type="directory")
p = Pipeline(ws, steps=[copy])
""",
    )
    step = compiled.pipeline.step("copy")
    assert step.kind == "data_transfer" and step.snapshot.files == ()
    assert step.outputs[0].path == "imports/day1"
    kwargs = spec_of(compiled, "copy")
    # The STEPS table leaves defaults out (mount mode); runtime/binding.expand_step.
    assert kwargs["step"]["inputs"] == [
        {"name": "src", "datastore": "lake", "path": "exports/day1"}
    ]
    assert kwargs["step"]["outputs"] == [
        {"name": "destination", "datastore": "workspaceblobstore", "path": "imports/day1"}
    ]


@pytest.mark.parametrize(
    "body, needle, message",
    [
        (
            'DatabricksStep("s", notebook_path="/nb", existing_cluster_id="c1",'
            ' spark_version="13.3", node_type="DS3", num_workers=1, compute_target=dbx)',
            "DatabricksStep(",
            "give either existing_cluster_id or a new-cluster spec",
        ),
        (
            'DatabricksStep("s", notebook_path="/nb", compute_target=dbx)',
            "DatabricksStep(",
            "a new cluster needs num_workers, or min_workers and max_workers (or give"
            " existing_cluster_id)",
        ),
        (
            'DatabricksStep("s", notebook_path="/nb", main_class_name="a.B",'
            ' existing_cluster_id="c", compute_target=dbx)',
            "DatabricksStep(",
            "give exactly one of notebook_path, python_script_path, python_script_name or"
            " main_class_name (given: notebook_path, main_class_name)",
        ),
        (
            'DatabricksStep("s", python_script_name="missing.py", source_directory="src",'
            ' existing_cluster_id="c", compute_target=dbx)',
            "DatabricksStep(",
            "python script 'missing.py' not found",
        ),
        (
            'DatabricksStep("s", notebook_path="/nb", jar_params=["x"],'
            ' existing_cluster_id="c", compute_target=dbx)',
            "DatabricksStep(",
            "jar_params given without main_class_name",
        ),
        (
            'DatabricksStep("s", notebook_path="/nb", spark_version="13.3", node_type="DS3",'
            " min_workers=1, compute_target=dbx)",
            "DatabricksStep(",
            "min_workers and max_workers go together",
        ),
        (
            'DatabricksStep("s", notebook_path="/nb", existing_cluster_id="c")',
            "DatabricksStep(",
            "a databricks step needs a databricks compute target, not 'local'",
        ),
        (
            'PythonScriptStep("train.py", source_directory="src", compute_target=dbx)',
            "PythonScriptStep(",
            "compute target 'dbx' (databricks) runs only its own step kind",
        ),
        (
            'AdlaStep("nope.usql", source_directory="src", compute_target=adla)',
            "AdlaStep(",
            "U-SQL script 'nope.usql' not found",
        ),
        (
            'AdlaStep("job.usql", source_directory="src", degree_of_parallelism=0,'
            " compute_target=adla)",
            "AdlaStep(",
            "degree_of_parallelism must be a positive integer",
        ),
        (
            'DataTransferStep("t", destination_data_reference=DataReference(ds, "d", "x"))',
            "DataTransferStep(",
            "source_data_reference is required",
        ),
    ],
)
def test_bad_step_arguments_are_build_errors_with_location(project, body, needle, message):
    probs = problems_of(project, f"s = {body}\np = Pipeline(ws, steps=[s])\n")
    line = line_of(project, needle)
    assert any(message in p and f"pipe.py:{line}:" in p for p in probs), probs


def test_unknown_vm_size_suggests_the_nearest_names(project):
    probs = problems_of(
        project,
        """
gpu = ComputeTarget.create(ws, "gpu", AmlCompute.provisioning_configuration(
    vm_size="Standard_NC6s_v4", max_nodes=2))
s = PythonScriptStep("train.py", source_directory="src", compute_target=gpu)
p = Pipeline(ws, steps=[s])
""",
    )
    line = line_of(project, "provisioning_configuration(")
    (problem,) = [p for p in probs if "vm_size" in p]
    assert f"pipe.py:{line}:" in problem
    assert "unknown vm_size 'Standard_NC6s_v4'; did you mean Standard_NC6s_v3" in problem


def test_databricks_cannot_read_a_file_share_or_an_account_less_store(project):
    probs = problems_of(
        project,
        """
share = DataReference(Datastore(ws, "share"), "share", "x")
s = DatabricksStep("s", inputs=[share], notebook_path="/nb", existing_cluster_id="c",
                   compute_target=dbx)
p = Pipeline(ws, steps=[s])
""",
    )
    assert any("Databricks cannot read azure_file datastore 'share'" in p for p in probs), probs


def test_bad_reference_type_is_refused_where_it_is_written(project):
    project.write("amlcompile.toml", CONFIG)
    project.write(
        "pipe.py",
        HEADER + 'DataTransferStep("t", source_data_reference=DataReference(ds, "s", "x"),'
        ' source_reference_type="folder")\n',
    )
    with pytest.raises(BuildError) as info:
        check([project.root / "pipe.py"])
    assert "source_reference_type must be 'file' or 'directory', not 'folder'" in str(info.value)


def test_vm_size_table_covers_the_families_azure_ml_offered():
    for name in (
        "Standard_D2_v2",
        "Standard_DS3_v2",
        "Standard_D4s_v3",
        "Standard_E8s_v3",
        "Standard_F4s_v2",
        "Standard_NC6",
        "Standard_NC6s_v3",
        "Standard_NC24ads_A100_v4",
        "Standard_ND40rs_v2",
        "Standard_NV12s_v3",
    ):
        assert vm_sizes.lookup(name) is not None, name
    name, size = vm_sizes.lookup("STANDARD_NC6")
    assert name == "Standard_NC6" and size.gpus == 1 and size.memory_gib == 56


def test_registered_datastores_join_the_build_without_their_credentials(project, monkeypatch):
    import warnings

    from amlcompile.dsl import warnings as warn_mod

    # Warnings are once per process: another test may have had this one already.
    monkeypatch.setattr(warn_mod, "_seen", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = compile_one(
            project,
            """
blob = Datastore.register_azure_blob_container(ws, "images", "img-container", "myacct",
                                               account_key="SECRET-KEY-123")
lake = Datastore.register_azure_data_lake_gen2(ws, "lake2", "fs", "lakeacct",
                                               client_secret="SECRET-456")
s = PythonScriptStep("train.py", source_directory="src",
                     arguments=[DataReference(blob, "imgs", "a/b"), DataReference(lake, "t", "c")])
p = Pipeline(ws, steps=[s])
""",
        )
    stores = {d.name: d for d in compiled.pipeline.datastores}
    assert stores["images"].kind == "azure_blob" and stores["images"].path == "img-container"
    assert stores["images"].conn_id == "images" and stores["images"].account_name == "myacct"
    assert stores["lake2"].kind == "adls_gen2" and stores["lake2"].conn_id == "lake2"
    files, _ = render_files([compiled])
    written = b"".join(data for data, _ in files.values())
    assert b"SECRET" not in written
    assert any("account_key" in str(w.message) for w in caught)


def test_databricks_new_cluster_takes_the_sdk_defaults(project):
    compiled = compile_one(
        project,
        """
s = DatabricksStep("s", notebook_path="/nb", num_workers=2, compute_target=dbx)
pooled = DatabricksStep("pooled", notebook_path="/nb", instance_pool_id="pool-1",
                        min_workers=1, max_workers=3, compute_target=dbx)
p = Pipeline(ws, steps=[s, pooled])
""",
    )
    assert compiled.pipeline.step("s").databricks.new_cluster == {
        "spark_version": "10.4.x-scala2.12",
        "node_type_id": "Standard_D3_v2",
        "num_workers": 2,
    }
    assert compiled.pipeline.step("pooled").databricks.new_cluster == {
        "spark_version": "10.4.x-scala2.12",
        "instance_pool_id": "pool-1",
        "autoscale": {"min_workers": 1, "max_workers": 3},
    }


def test_databricks_node_type_and_instance_pool_are_exclusive(project):
    probs = problems_of(
        project,
        's = DatabricksStep("s", notebook_path="/nb", node_type="Standard_DS3_v2",'
        ' instance_pool_id="p", num_workers=1, compute_target=dbx)\n'
        "p = Pipeline(ws, steps=[s])\n",
    )
    assert any("give node_type or instance_pool_id, not both" in p for p in probs), probs
