"""Every generated DAG imports in Airflow's DagBag with zero import errors, as described."""

from __future__ import annotations

from amlcompile.compiler import check
from amlcompile.targets import LoweringContext, lower_step
from tests.airflow.conftest import airflow_python

DAGBAG = """
import json, hashlib
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization
out = {}
for attempt in range(2):
    bag = DagBag(dag_folder=%r)
    for dag_id, dag in bag.dags.items():
        data = DagSerialization.to_dict(dag)
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
        out.setdefault(dag_id, {"hashes": []})["hashes"].append(digest)
        out[dag_id]["tasks"] = sorted(dag.task_ids)
        out[dag_id]["edges"] = sorted(
            [t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids
        )
        out[dag_id]["params"] = {k: dag.params.get_param(k).resolve() for k in dag.params}
        out[dag_id]["operators"] = sorted({type(t).__name__ for t in dag.tasks})
print(json.dumps({"errors": {str(k): v for k, v in bag.import_errors.items()}, "dags": out}))
"""


def test_examples_import_without_errors_and_match_the_ir(
    built_examples, examples_project, tmp_path, monkeypatch
):
    result = airflow_python(DAGBAG % str(built_examples), tmp_path / "home", built_examples)
    assert result["errors"] == {}
    monkeypatch.chdir(examples_project)
    compiled = {c.pipeline.name: c for c in check([examples_project / "examples"])}
    assert set(result["dags"]) == set(compiled)
    for dag_id, info in result["dags"].items():
        p = compiled[dag_id].pipeline
        ctx = LoweringContext(config=compiled[dag_id].config)
        # A step run as several tasks (ParallelRunStep, HyperDriveStep): its tasks, in order.
        chains = {
            s.name: [t.task_id for t in lower_step(p, s, ctx).before] + [s.name] for s in p.steps
        }
        plan = "amlcompile_reuse_plan"
        assert info["tasks"] == sorted([plan, *(t for chain in chains.values() for t in chain)])
        edges = [[e.upstream, chains[e.downstream][0]] for e in p.edges()]
        edges += [
            [a, b] for chain in chains.values() for a, b in zip(chain, chain[1:], strict=False)
        ]
        has_upstream = {e.downstream for e in p.edges()}
        edges += [[plan, chains[s.name][0]] for s in p.steps if s.name not in has_upstream]
        assert info["edges"] == sorted(edges)
        assert info["params"] == {
            **{x.name: x.default for x in p.parameters},
            "regenerate_outputs": False,
        }
        # Parsing twice gives the same serialized DAG: no clock or randomness at parse time.
        assert info["hashes"][0] == info["hashes"][1], dag_id


def test_wrong_param_type_is_refused_by_airflow(built_examples, tmp_path):
    code = """
import json
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.definitions.param import ParamsDict
bag = DagBag(dag_folder=DAGS)
dag = bag.dags["My_Published_Pipeline"]
params = ParamsDict(dag.params)
try:
    params.update({"pipeline_arg": "not a number"})
    params.validate()
    print(json.dumps({"refused": False}))
except Exception as exc:
    print(json.dumps({"refused": True, "why": str(exc)}))
""".replace("DAGS", repr(str(built_examples)))
    result = airflow_python(code, tmp_path / "home", built_examples)
    assert result["refused"], result
