"""AmlCompute steps (KubernetesPodOperator): hostile trigger-time values and template syntax
reach the pod as separate arguments and environment values, never inside shell text.

Add a case to STEPS for every new operator that runs a shell (ADLA's BashOperator, ...)."""

from __future__ import annotations

import pytest

from amlcompile.compiler import build
from tests.airflow.conftest import airflow_python

HOSTILE = "$(touch /tmp/PWNED) `id`; rm -rf / | cat\n{{ ti }} {% raw %} ' \" \\"

PIPELINE = """\
from amlcompile import *
ws = Workspace.from_config()
cluster = ws.compute_targets["cluster"]
p = PipelineParameter("p", default_value="x")
shell = CommandStep('echo "$AML_PARAMETER_p"', name="shell", compute_target=cluster,
                    source_directory="src", params={"p": p})
script = PythonScriptStep("a.py", name="script", compute_target=cluster, source_directory="src",
                          arguments=["{{ ds }}", p, "{% raw %}"], params={"p": p})
argv = CommandStep(["python", "a.py", p, "{{ ds }}"], name="argv", compute_target=cluster,
                   source_directory="src")
pod_steps = Pipeline(ws, steps=[shell, script, argv])
"""

# task → (container command, container args): the value stays one argument, shell text fixed
STEPS = {
    "shell": (["bash", "-c", 'echo "$AML_PARAMETER_p"'], []),
    "script": (["python", "a.py"], ["{{ ds }}", HOSTILE, "{% raw %}"]),
    "argv": (["python", "a.py", HOSTILE, "{{ ds }}"], []),
}

POD = """
import json
from kubernetes.client import ApiClient
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=DAGS)
assert not bag.import_errors, bag.import_errors
out = {}
for task_id in TASKS:
    task = bag.dags["pod_steps"].get_task(task_id)
    context = {"params": {"p": HOSTILE}, "run_id": "manual__x"}
    task.bind(context, {task_id: {"fingerprint": "f" * 64}}, "f" * 64)
    pod = ApiClient().sanitize_for_serialization(task.build_pod_request_obj(dry_run=True))
    container = pod["spec"]["containers"][0]
    out[task_id] = {k: container.get(k) for k in ("command", "args", "env")}
    out[task_id]["templated"] = list(task.template_fields)
print(json.dumps(out))
"""


@pytest.mark.airflow
def test_pod_steps_bind_hostile_values_as_data(project, tmp_path):
    project.write("amlcompile.toml", '[compute.cluster]\nkind = "amlcompute"\n')
    project.script("src/a.py")
    project.write("pipe.py", PIPELINE)
    out = project.root / "dags_out"
    build([project.root / "pipe.py"], out_dir=out)
    code = (
        POD.replace("DAGS", repr(str(out)))
        .replace("TASKS", repr(sorted(STEPS)))
        .replace("HOSTILE", repr(HOSTILE))
    )
    pods = airflow_python(code, tmp_path / "home", out)
    for task_id, (command, args) in STEPS.items():
        container = pods[task_id]
        assert container["templated"] == [], "no field of ours is rendered by Jinja"
        assert container["command"] == command, task_id
        assert (container["args"] or []) == args, task_id
    env = {e["name"]: e["value"] for e in pods["shell"]["env"]}
    assert env["AML_PARAMETER_p"] == HOSTILE
