"""ParallelRunStep on AmlCompute: the mapped task is a pod per worker process group, built by
the provider and accepted by the Kubernetes schema (no cluster: schema only)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from amlcompile.compiler import build
from amlcompile.exceptions import BuildError
from tests.airflow.conftest import airflow_python

pytestmark = pytest.mark.airflow

PIPELINE = """\
from azureml.core import Workspace, Dataset, Environment
from azureml.core.compute import AmlCompute, ComputeTarget
from azureml.pipeline.core import Pipeline, PipelineData
from azureml.pipeline.steps import ParallelRunStep, ParallelRunConfig

ws = Workspace.from_config()
cluster = ComputeTarget.create(ws, "cpu-cluster", AmlCompute.provisioning_configuration(
    vm_size="STANDARD_D2_V2", max_nodes=4))
ds = ws.get_default_datastore()
files = Dataset.File.from_files(path=(ds, "inputs/files"))
labels = Dataset.File.from_files(path=(ds, "conf/labels.txt")).as_named_input("labels")
labels = labels.as_mount()
out = PipelineData("scores", datastore=ds)
config = ParallelRunConfig(
    source_directory="scripts",
    entry_script="score.py",
    mini_batch_size=2,
    error_threshold=-1,
    output_action="append_row",
    environment=Environment("prs"),
    compute_target=cluster,
    node_count=2,
    process_count_per_node=PER_NODE,
)
step = ParallelRunStep(
    name="score",
    parallel_run_config=config,
    inputs=[files.as_named_input("files")],
    side_inputs=[labels],
    output=out,
    arguments=["--labels", labels, "--factor", 3],
)
prs = Pipeline(ws, steps=[step])
"""

POD = """
import json, sys
import kubernetes_validate
from kubernetes.client import ApiClient
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
bag = DagBag(dag_folder=DAGS)
assert not bag.import_errors, bag.import_errors
dag = bag.dags["prs"]
mapped = dag.get_task("score__batches")
batch = {"index": 3, "key": "k" * 64, "files": [["files", "f0.txt"], ["files", "f1.txt"]],
         "versions": ["file:a", "file:b"]}
task = mapped.unmap({"batches": [batch]})
spec_of = sys.modules[type(task).__module__].spec_of
context = {"params": {}, "run_id": "manual__2026-01-01T00:00:00+00:00", "ti": None}
plan = {"score": {"fingerprint": "f" * 64}}
work_ref = task.work_ref(context)
job = task.job(context, plan, {}, spec_of(task.step), work_ref)
task.bind_pod(context, {}, job, task.pod_path(work_ref) + "/job.json")
# The pod run_workload starts (the provider's execute, stopped before it calls the cluster).
built = []
KubernetesPodOperator.execute = lambda self, ctx: built.append(
    (self.build_pod_request_obj(dry_run=True), self.do_xcom_push))
task.run_workload(context)
((pod, push_in_pod),) = built
data = ApiClient().sanitize_for_serialization(pod)
kubernetes_validate.validate(data, kubernetes_validate.utils.latest_version(), strict=True)
print(json.dumps({
    "pod": data, "job": job, "is_kpo": isinstance(task, KubernetesPodOperator),
    "mapped": type(mapped).__name__, "operator": type(task).__name__,
    "pool": mapped.pool, "max_tis": mapped.max_active_tis_per_dagrun,
    "split": [type(dag.get_task("score__split")).__name__, dag.get_task("score__split").pool],
    "gather": [type(dag.get_task("score")).__name__, dag.get_task("score").pool],
    "process_count": task.step["parallel_run"].get("process_count_per_node"),
    "xcom": [task.do_xcom_push, push_in_pod],
}))
"""


def write(project, per_node="2"):
    project.write("pipe.py", PIPELINE.replace("PER_NODE", per_node))
    project.write("scripts/score.py", "def init():\n    pass\n\ndef run(b):\n    return b\n")
    store = ".amlcompile/datastores/workspaceblobstore"
    for i in range(3):
        project.write(f"{store}/inputs/files/f{i}.txt", f"{i}")
    project.write(f"{store}/conf/labels.txt", "a\n")


def test_mapped_pod_is_built_by_the_provider_and_valid(project, tmp_path):
    write(project)
    out = project.root / "dags_out"
    assert build([project.root / "pipe.py"], out_dir=out).compiled
    run = airflow_python(POD.replace("DAGS", repr(str(out))), tmp_path / "home", out)
    assert run["mapped"] == "MappedOperator" and run["is_kpo"]
    assert run["operator"] == "ParallelRunBatchPodOperator"
    # The results are the instance's XCom (for the gather task), not a sidecar's in the pod.
    assert run["xcom"] == [True, False]
    # Bounded by node_count × process_count_per_node in a run, by the target's pool across.
    assert run["pool"] == "amlcompile-cpu-cluster" and run["max_tis"] == 4
    # Split and gather stay on the worker.
    assert run["split"] == ["ParallelRunSplitOperator", "default_pool"]
    assert run["gather"] == ["ParallelRunGatherOperator", "default_pool"]
    pod = run["pod"]
    spec = pod["spec"]
    main = spec["containers"][0]
    assert main["image"] == "python:3.11-slim"
    # One node of Standard_D2_v2 (2 vCPU, 7 GiB) less the node's reserve, as AmlPodOperator.
    assert main["resources"] == {
        "requests": {"cpu": "1800m", "memory": "5734Mi"},
        "limits": {"memory": "5734Mi"},
    }
    assert spec["nodeSelector"] == {"node.kubernetes.io/instance-type": "Standard_D2_v2"}
    (volume,) = [v for v in spec["volumes"] if "workspaceblobstore" in v["name"]]
    assert volume["persistentVolumeClaim"] == {"claimName": "amlcompile-workspaceblobstore"}
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    root = mounts[volume["name"]]
    work = f"{root}/azureml/prs/prs/manual__2026-01-01T00_00_00_00_00/score/0"
    # The driver with the job description, as the worker variant passes it.
    assert main["command"] == ["python", "/amlcompile/lib/amlcompile_parallel.py"]
    assert main["args"] == [f"{work}/job.json"]
    assert main["workingDir"] == "/amlcompile/code"
    env = {e["name"]: e["value"] for e in main["env"]}
    assert env["PYTHONPATH"] == "/amlcompile/lib"
    assert env["AMLCOMPILE_PRS_OUTPUT_DIR"] == "/amlcompile/own"
    assert json.loads(env["AMLCOMPILE_INPUT_DATASETS"]) == {"labels": f"{root}/conf/labels.txt"}
    job = run["job"]
    assert job["entry_script"] == "/amlcompile/code/score.py"
    assert job["argv"] == ["--labels", f"{root}/conf/labels.txt", "--factor", "3"]
    (b,) = job["batches"]
    assert b["index"] == 3
    assert b["mini_batch"] == [f"{root}/inputs/files/f0.txt", f"{root}/inputs/files/f1.txt"]
    # Results where the reuse protocol keeps a batch; the record is written by the worker.
    assert b["rows_file"] == f"{root}/azureml/fp/{'k' * 64}/batch/rows.txt"
    assert b["own_dir"] == f"{root}/azureml/fp/{'k' * 64}/batch/out"
    assert b["result_file"] == f"{work}/3.json"
    (stage,) = spec["initContainers"]
    pairs = list(zip(stage["command"][4::2], stage["command"][5::2], strict=True))
    assert [dst for _, dst in pairs] == ["/amlcompile/code", "/amlcompile/lib", "/amlcompile/own"]
    assert pairs[0][0].startswith(f"{root}/azureml/snapshots/")
    assert [c["name"] for c in spec["containers"]] == ["base"]  # no XCom sidecar


def test_process_count_defaults_to_the_node_cores(project, tmp_path):
    write(project, per_node="None")
    out = project.root / "dags_out"
    assert build([project.root / "pipe.py"], out_dir=out).compiled
    src = (out / "prs.py").read_text()
    assert "max_active_tis_per_dagrun=4" in src  # 2 nodes × 2 vCPUs of Standard_D2_v2
    assert "'process_count_per_node': 2" in src


def test_a_remote_datastore_is_refused_with_file_and_line(project):
    write(project)
    project.write(
        "amlcompile.toml",
        '[datastores.lake]\nkind = "azure_blob"\npath = "c"\nconn_id = "wasb"\n',
    )
    text = (project.root / "pipe.py").read_text()
    text = text.replace(
        'files = Dataset.File.from_files(path=(ds, "inputs/files"))',
        "from azureml.core import Datastore\n"
        'files = Dataset.File.from_files(path=(Datastore(ws, "lake"), "in"))',
    )
    project.write("pipe.py", text)
    with pytest.raises(BuildError, match=r"pipe.py:\d+: step 'score': .* local datastores"):
        build([project.root / "pipe.py"], out_dir=project.root / "dags_out")


EXECUTE = """
import json, os, subprocess, sys, tempfile
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=DAGS)
assert not bag.import_errors, bag.import_errors
mapped = bag.dags["prs"].get_task("score__batches")
batch = {"index": 0, "key": "k" * 64, "files": [["files", "f0.txt"], ["files", "f1.txt"]],
         "versions": ["file:a", "file:b"]}
task = mapped.unmap({"batches": [batch]})
module = sys.modules[type(task).__module__.rsplit(".", 1)[0] + ".parallel"]
plan = {"score": {"fingerprint": "f" * 64}}

class TI:
    map_index = 0
    def xcom_pull(self, task_ids=None, key=None):
        if key == "amlcompile_batches":
            return {"context": "c" * 64}
        return plan if key == "amlcompile_plan" else None

root = STORE
code = tempfile.mkdtemp()
def fake_pod(context):
    # What the pod does, on this machine: its mounts are the datastore's folder here.
    (mount,) = set(task.mount_paths.values())
    job_file = task.arguments[0].replace(mount, root)
    text = open(job_file).read().replace(mount, root)
    text = text.replace("/amlcompile/code", str(module.snapshot_folder(task.step)))
    text = text.replace("/amlcompile/own", code)
    local = job_file + ".local"
    open(local, "w").write(text)
    env = {e.name: e.value for e in task.env_vars}
    env.update(PYTHONPATH=str(module.STEPLIB), PATH=os.environ["PATH"],
               AMLCOMPILE_PRS_OUTPUT_DIR=code,
               AMLCOMPILE_METRICS_FILE=os.path.join(code, "m.jsonl"))
    subprocess.run([sys.executable, str(module.STEPLIB / "amlcompile_parallel.py"), local],
                   env=env, check=True)
task.run_workload = fake_pod
context = {"params": {}, "run_id": "manual__1", "ti": TI(), "dag_run": None}
result = task.execute(context)
print(json.dumps(result))
"""


def test_execute_writes_each_complete_batch_then_its_record(project, tmp_path):
    """The worker side of the pod variant around a stand-in for the pod (the driver run
    locally with the pod's paths mapped back to the datastore folder): rows where the reuse
    protocol keeps the batch, the record and the index entry written after them."""
    write(project)
    out = project.root / "dags_out"
    assert build([project.root / "pipe.py"], out_dir=out).compiled
    store = project.root / ".amlcompile" / "datastores" / "workspaceblobstore"
    code = EXECUTE.replace("DAGS", repr(str(out))).replace("STORE", repr(str(store)))
    run = airflow_python(code, tmp_path / "home", out)
    (result,) = run["batches"]
    assert result["error"] is None and result["failed_items"] == 0 and result["items"] == 2
    batch = store / "azureml" / "fp" / ("k" * 64) / "batch"
    rows = (batch / "rows.txt").read_text().splitlines()
    assert [r.rsplit("/", 1)[-1] for r in rows] == ["f0.txt", "f1.txt"]
    record = json.loads((store / "azureml" / "_reuse" / f"{'k' * 64}.json").read_text())
    assert record["fingerprint"] == "k" * 64 and "batch" in record["manifests"]
    index = store / "azureml" / "_reuse" / "batches" / ("c" * 64) / f"{'k' * 64}.json"
    assert json.loads(index.read_text())["files"] == [
        ["files", "f0.txt", "file:a"],
        ["files", "f1.txt", "file:b"],
    ]
    # The job and result files of the instance are gone once the records are written.
    assert not (store / "azureml" / "prs" / "prs" / "manual__1" / "score" / "0").exists()


def test_a_run_with_stand_in_pods_reuses_per_mini_batch(project, monkeypatch):
    """The whole DAG in the embedded Airflow without --local, the pods' command run on this
    machine by a stand-in for the cluster (fake_pod/sitecustomize.py): split on the worker,
    mapped pod instances, gather; then 1 new file runs one mini-batch, the others reused."""
    from amlcompile.compiler import check
    from amlcompile.local_run import run_compiled
    from tests.airflow import test_parallel_run as worker

    text = worker.PIPELINE.replace('compute_target="local"', "compute_target=cluster")
    text = text.replace(
        "ws = Workspace.from_config()\n",
        "ws = Workspace.from_config()\n"
        "from azureml.core.compute import AmlCompute, ComputeTarget\n"
        'cluster = ComputeTarget.create(ws, "cpu-cluster",'
        ' AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4))\n',
    )
    worker.write(project, count=20)
    project.write(
        "pipe.py",
        text.replace("MINI_BATCH", "5").replace("THRESHOLD", "-1").replace("RUN_MAX_TRY", "1"),
    )
    here = str(Path(__file__).parent / "fake_pod")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("AMLCOMPILE_TEST_FAKE_POD", "1")
    log = project.root / "run.log"

    def run():
        log.write_text("")
        monkeypatch.setenv("RUN_LOG", str(log))
        (compiled,) = check([project.root / "pipe.py"])
        result = run_compiled(compiled, {}, airflow_home=project.root / "home")
        assert result.succeeded, result.log_file.read_text()[-4000:]
        words = log.read_text().split()
        return result, words.count("init"), [int(x) for x in words if x != "init"]

    result, inits, calls = run()
    assert inits == 2 and sorted(calls) == [5] * 4
    dag_file = project.root / "home" / "dags" / "prs.py"
    assert "score__batches = ParallelRunBatchPodOperator.partial(" in dag_file.read_text()
    assert worker.output_rows(result) == [f"f{i:04d}.txt {i * 3}" for i in range(20)]
    project.write(".amlcompile/datastores/workspaceblobstore/inputs/files/f0020.txt", "20")
    result, inits, calls = run()
    assert inits == 1 and calls == [1]
    assert worker.output_rows(result) == [f"f{i:04d}.txt {i * 3}" for i in range(21)]
