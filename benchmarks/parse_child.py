"""Parse figures, run in the project venv in a process of its own (AIRFLOW_HOME set by the parent).

    python parse_child.py variants GENERATED.py   # writes floor_*.py, factory_*.py/.yaml beside it
    python parse_child.py measure REPEAT FILE...  # prints one JSON line: seconds per file

`measure` does what Airflow 3.3's dag-processor does per file: the manager pre-imports the
Airflow modules the file names, then forks; the fork loads the file into a BundleDagBag and
serializes every DAG (DagSerialization.to_dict, LazyDeserializedDAG). Each measurement is one
fork, so module imports the file triggers (the bundled runtime, dagfactory) are paid each time,
as they are in the dag-processor. Files are measured in turn within each repetition.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

FACTORY_LOADER = """\
# An Airflow DAG file: dag-factory builds the DAG from the YAML file beside it.
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))

from dagfactory import load_yaml_dags  # noqa: E402

CONFIG = Path(__file__).resolve().with_suffix(".yaml")
load_yaml_dags(globals_dict=globals(), config_filepath=str(CONFIG))
"""


def _load(file: Path):
    from airflow.dag_processing.dagbag import BundleDagBag

    bag = BundleDagBag(
        dag_folder=str(file), bundle_path=file.parent, bundle_name="bench", load_op_links=False
    )
    if bag.import_errors:
        raise SystemExit(f"{file}: {bag.import_errors}")
    return bag


def _steps_table(generated: Path) -> dict | None:
    """The generated file's STEPS table (a literal), or None for files without one."""
    import ast

    for node in ast.parse(generated.read_text()).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
            "STEPS"
        ]:
            return ast.literal_eval(node.value)
    return None


def variants(generated: Path) -> dict:
    """The floor and the dag-factory equivalent of a generated DAG: same operators, same
    run-time arguments (step, steps, datastores, trigger_rule), same edges; nothing else.

    A generated file with a STEPS table (one entry per step, read by the planner and each
    step task) gets a floor that writes that table once too, as a hand-written file would."""
    import yaml

    (dag,) = _load(generated).dags.values()
    table = _steps_table(generated)
    imports, lines, tasks, datastores = {}, [], {}, None
    for t in dag.tasks:
        cls = type(t)
        imports.setdefault(cls.__module__, set()).add(cls.__name__)
        kwargs = {"task_id": t.task_id}
        source = {}
        for attr in ("steps", "step"):
            if hasattr(t, attr):
                kwargs[attr] = getattr(t, attr)
                if table is not None:  # the table's own entry, as the generated file has it
                    kwargs[attr] = table if attr == "steps" else table[t.task_id]
                    source[attr] = "STEPS" if attr == "steps" else f"STEPS[{t.task_id!r}]"
        datastores = t.datastores
        rule = getattr(t.trigger_rule, "value", t.trigger_rule)
        if rule != "all_success":
            kwargs["trigger_rule"] = rule
        args = ", ".join(f"{k}={source.get(k, repr(v))}" for k, v in kwargs.items())
        lines.append(f"    {t.task_id} = {cls.__name__}({args}, datastores=DATASTORES)")
        upstream = sorted(t.upstream_task_ids)
        tasks[t.task_id] = {
            "operator": f"{cls.__module__}.{cls.__name__}",
            **{k: v for k, v in kwargs.items() if k != "task_id"},
            "datastores": datastores,  # one object: YAML writes it once and aliases it
            **({"dependencies": upstream} if upstream else {}),
        }
    edges = [f"    {u} >> {t.task_id}" for t in dag.tasks for u in sorted(t.upstream_task_ids)]
    floor = [
        "import sys",
        "from pathlib import Path",
        "",
        "from airflow.sdk import DAG",
        "",
        "sys.path.append(str(Path(__file__).resolve().parent))",
        *[f"from {m} import {', '.join(sorted(n))}" for m, n in sorted(imports.items())],
        "",
        f"DATASTORES = {datastores!r}",
        *([f"STEPS = {table!r}"] if table is not None else []),
        "",
        f"with DAG(dag_id={dag.dag_id!r}, schedule=None, catchup=False,"
        " params={'regenerate_outputs': False}):",
        *lines,
        *edges,
    ]
    out = generated.parent
    floor_file = out / f"floor_{generated.name}"
    floor_file.write_text("\n".join(floor) + "\n")
    factory_file = out / f"factory_{generated.name}"
    factory_file.write_text(FACTORY_LOADER)
    config = {
        dag.dag_id: {
            "schedule": None,
            "catchup": False,
            "params": {"regenerate_outputs": False},
            "tasks": tasks,
        }
    }
    factory_file.with_suffix(".yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return {"floor": str(floor_file), "factory": str(factory_file)}


def _parse_once(file: Path) -> dict:
    from airflow.serialization.serialized_objects import DagSerialization, LazyDeserializedDAG

    started, cpu = time.perf_counter(), time.process_time()
    bag = _load(file)
    load_cpu = time.process_time() - cpu  # what each task's process pays: it loads the file
    serialized = []
    for dag in bag.dags.values():
        data = DagSerialization.to_dict(dag)
        serialized.append(LazyDeserializedDAG(data=data, last_loaded=dag.last_loaded))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    (dag,) = bag.dags.values()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "load_cpu": load_cpu,
        "tasks": len(dag.tasks),
        "edges": sum(len(t.downstream_task_ids) for t in dag.tasks),
        "serialized_bytes": len(json.dumps(serialized[0].data, default=str)),
    }


def _forked(file: Path) -> dict:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the dag-processor's parsing child
        os.close(read)
        try:
            result = _parse_once(file)
        except BaseException as exc:  # reported to the parent
            result = {"error": f"{type(exc).__name__}: {exc}"[-2000:]}
        with os.fdopen(write, "w") as fh:
            json.dump(result, fh)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        text = fh.read()
    os.waitpid(pid, 0)
    result = json.loads(text)
    if "error" in result:
        raise SystemExit(f"{file}: {result['error']}")
    return result


def measure(repeat: int, files: list[Path]) -> dict:
    import structlog
    from airflow.dag_processing.processor import _pre_import_airflow_modules

    log = structlog.get_logger()
    for f in files:  # as the manager does before each fork; the same modules for every file
        _pre_import_airflow_modules(str(f), log)
    import airflow.serialization.serialized_objects  # noqa: F401  (imported by the manager)

    out = {str(f): [] for f in files}
    for _ in range(repeat):
        for f in files:
            out[str(f)].append(_forked(f))
    return out


def main() -> None:
    if sys.argv[1] == "variants":
        print(json.dumps(variants(Path(sys.argv[2]))))
    else:
        print(json.dumps(measure(int(sys.argv[2]), [Path(f) for f in sys.argv[3:]])))


if __name__ == "__main__":
    main()
