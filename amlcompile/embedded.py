"""Runs one DAG run in an embedded Airflow (SQLite). Executed as a child process.

`python -m amlcompile.embedded --dag-id ID --conf JSON --result FILE` with AIRFLOW_HOME and
AIRFLOW__CORE__DAGS_FOLDER set by the parent (amlcompile.local_run): Airflow reads its
configuration at import time, so it must run in a process of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback


def run(dag_id: str, conf: dict) -> dict:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    bundle = manager.get_bundle("dags-folder")
    bundle.initialize()
    if str(bundle.path) not in sys.path:
        sys.path.insert(0, str(bundle.path))
    bag = BundleDagBag(
        dag_folder=str(bundle.path), bundle_path=bundle.path, bundle_name=bundle.name
    )
    if bag.import_errors:
        return {
            "state": "import_error",
            "import_errors": {str(k): v for k, v in bag.import_errors.items()},
        }
    sync_bag_to_db(bag, bundle.name, None)
    dag = bag.get_dag(dag_id)
    if dag is None:
        return {"state": "missing", "dags": sorted(bag.dags)}
    import time

    started = time.perf_counter()
    dagrun = dag.test(run_conf=conf)
    test_seconds = time.perf_counter() - started
    steps = []
    plan = {}
    with create_session() as session:
        plan_xcom = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == dagrun.run_id,
                XComModel.key == "amlcompile_plan",
            )
        ).first()
        if plan_xcom is not None:
            plan = _decode(plan_xcom.value) or {}
        tis = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == dagrun.run_id
            )
        ).all()
        for ti in tis:
            xcom = session.scalars(
                select(XComModel).where(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id == dagrun.run_id,
                    XComModel.task_id == ti.task_id,
                    XComModel.key == "return_value",
                )
            ).first()
            value = _decode(xcom.value) if xcom is not None else None
            metrics = _step_metrics(session, dag_id, dagrun.run_id, ti.task_id)
            duration = (
                (ti.end_date - ti.start_date).total_seconds()
                if (ti.end_date and ti.start_date)
                else None
            )
            steps.append(
                {
                    "task_id": ti.task_id,
                    "state": str(ti.state or "none"),
                    "duration": duration,
                    "result": value,
                    "metrics": metrics,
                }
            )
    return {
        "state": str(dagrun.state),
        "run_id": dagrun.run_id,
        "steps": steps,
        "conf": dagrun.conf,
        "plan": plan,
        "test_seconds": test_seconds,
    }


def upload(dags_folder: str, dag_id: str) -> list[str]:
    """The build's recorded uploads of this pipeline (`_amlcompile/uploads.json`), made the
    way `amlcompile deploy` makes them, with this Airflow's connections at hand."""
    from pathlib import Path

    from .uploads import perform, read_manifest

    lines: list[str] = []
    perform(read_manifest(Path(dags_folder)), [dag_id], progress=lines.append)
    return lines


def _step_metrics(session, dag_id: str, run_id: str, task_id: str) -> dict:
    """What the step logged through amlcompile_run.Run (XCom `amlcompile_metrics`)."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    xcom = session.scalars(
        select(XComModel).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            XComModel.task_id == task_id,
            XComModel.key == "amlcompile_metrics",
        )
    ).first()
    return (_decode(xcom.value) if xcom is not None else None) or {}


def _decode(value):
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--conf", default="{}")
    parser.add_argument("--result", required=True)
    parser.add_argument("--dags-folder", default=None, help="perform its recorded uploads")
    args = parser.parse_args()
    uploaded: list[str] = []
    try:
        if args.dags_folder:
            uploaded = upload(args.dags_folder, args.dag_id)
        result = run(args.dag_id, json.loads(args.conf))
    except Exception as exc:  # reported to the parent, which prints one clear line
        traceback.print_exc()
        from .uploads import UploadError

        if isinstance(exc, UploadError):
            result = {"state": "upload_error", "error": str(exc)}
        else:
            result = {"state": "error", "error": f"{type(exc).__name__}: {exc}"}
    result["uploads"] = uploaded
    with open(args.result, "w") as fh:
        json.dump(result, fh, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
