"""ScheduleRecurrence with hours/minutes and any interval → an Airflow 3 timetable that runs
exactly when Azure ML would have: a cron where one expresses it, else a DeltaTriggerTimetable
anchored at the first run; and the first runs Airflow computes for the DAGs."""

from __future__ import annotations

import datetime as dt

import pytest

from amlcompile.compiler import build
from amlcompile.dsl.schedule import ScheduleRecurrence, to_ir

WHERE = ("pipeline.py", 3)


@pytest.mark.parametrize(
    "kwargs, cron, seconds, start",
    [
        # every 2 days at 22:30 (from the default start, 2024-01-01 00:00)
        (
            dict(frequency="Day", interval=2, hours=[22], minutes=[30]),
            None,
            2 * 86400,
            "2024-01-01T22:30:00",
        ),
        # ... when start_time is past that day's 22:30, the first run is two days on
        (
            dict(
                frequency="Day",
                interval=2,
                time_of_day="22:30",
                start_time="2025-05-01T23:00:00",
                time_zone="UTC",
            ),
            None,
            2 * 86400,
            "2025-05-03T22:30:00",
        ),
        (dict(frequency="Minute", interval=90), None, 5400, "2024-01-01T00:00:00"),
        # every 3 weeks on Monday at 09:00, weeks counted from the start's week
        (
            dict(
                frequency="Week",
                interval=3,
                week_days=["Monday"],
                hours=[9],
                minutes=[0],
                start_time="2024-01-03T12:00:00",
                time_zone="UTC",
            ),
            None,
            21 * 86400,
            "2024-01-22T09:00:00",
        ),
        (
            dict(frequency="Week", interval=2, week_days=["Sunday"], time_of_day="06:00"),
            None,
            14 * 86400,
            "2024-01-07T06:00:00",
        ),
        # every 2 hours at :15 and :45 (24 is a multiple of 2: a cron)
        (
            dict(frequency="Hour", interval=2, minutes=[15, 45], start_time="2024-01-01T01:00"),
            "15,45 1-23/2 * * *",
            None,
            "2024-01-01T01:00:00",
        ),
        (
            dict(frequency="Hour", interval=5, minutes=[15]),
            None,
            5 * 3600,
            "2024-01-01T00:15:00",
        ),
        (
            dict(frequency="Day", hours=[7, 19], minutes=[0, 30]),
            "0,30 7,19 * * *",
            None,
            "2024-01-01T00:00:00",
        ),
        (
            dict(frequency="Week", week_days=["Monday", "Wednesday"], hours=[22], minutes=[30]),
            "30 22 * * 1,3",
            None,
            "2024-01-01T00:00:00",
        ),
    ],
)
def test_recurrences_with_hours_minutes_and_intervals(kwargs, cron, seconds, start):
    kwargs.setdefault("interval", 1)
    s = to_ir(ScheduleRecurrence(**kwargs), WHERE)
    assert (s.cron, s.interval_seconds, s.start) == (cron, seconds, start)


RECURRENCES = {
    "Every_Two_Days_2230": "frequency='Day', interval=2, hours=[22], minutes=[30]",
    "Every_90_Minutes": "frequency='Minute', interval=90",
    "Every_Three_Weeks_Monday": (
        "frequency='Week', interval=3, week_days=['Monday'], time_of_day='09:00',"
        " start_time='2024-01-03T12:00:00', time_zone='UTC'"
    ),
    "Twice_A_Day_Prague": (
        "frequency='Day', interval=1, hours=[7, 19], minutes=[30],"
        " time_zone='Central Europe Standard Time'"
    ),
    "Every_Two_Hours_At_15": "frequency='Hour', interval=2, minutes=[15]",
}


def script() -> str:
    lines = [
        "from amlcompile import *",
        "ws = Workspace.from_config()",
        "step = CommandStep(command='echo hi', name='hello', source_directory='scripts')",
    ]
    for name, rec in RECURRENCES.items():
        lines += [
            f"p_{name} = Pipeline(ws, steps=[step])",
            f"pub_{name} = p_{name}.publish(name={name!r}, version='1')",
            f"Schedule.create(ws, name='s_{name}', pipeline_id=pub_{name}.id,"
            f" experiment_name='e', recurrence=ScheduleRecurrence({rec}))",
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.airflow
def test_recurrence_timetables_import_in_airflow_and_run_when_azure_would(project, tmp_path):
    pytest.importorskip("airflow")
    from tests.airflow.conftest import airflow_python

    project.write("scripts/README", "x\n")
    project.write("scheduled.py", script())
    out = build([project.root / "scheduled.py"]).out_dir
    code = """
    import json
    import pendulum
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction
    bag = DagBag(dag_folder=DAGS)
    result = {"errors": {k: v for k, v in bag.import_errors.items()}, "dags": {}}
    for dag_id in sorted(bag.dags):
        dag = bag.dags[dag_id]
        tt = coerce_to_core_timetable(dag.timetable)  # what the scheduler runs
        runs, last = [], None
        for _ in range(3):
            info = tt.next_dagrun_info(
                last_automated_data_interval=last,
                restriction=TimeRestriction(earliest=dag.start_date, latest=None, catchup=True),
            )
            runs.append(info.run_after.in_timezone("UTC").isoformat())
            last = info.data_interval
        result["dags"][dag_id] = {"timetable": type(dag.timetable).__name__, "runs": runs}
    print(json.dumps(result))
    """.replace("DAGS", repr(str(out)))
    result = airflow_python(code, tmp_path / "home", out)
    assert result["errors"] == {}
    dags = result["dags"]
    assert dags["Every_Two_Days_2230"] == {
        "timetable": "DeltaTriggerTimetable",
        "runs": [
            "2024-01-01T22:30:00+00:00",
            "2024-01-03T22:30:00+00:00",
            "2024-01-05T22:30:00+00:00",
        ],
    }
    assert dags["Every_90_Minutes"]["runs"] == [
        "2024-01-01T00:00:00+00:00",
        "2024-01-01T01:30:00+00:00",
        "2024-01-01T03:00:00+00:00",
    ]
    assert dags["Every_Three_Weeks_Monday"]["runs"] == [
        "2024-01-22T09:00:00+00:00",
        "2024-02-12T09:00:00+00:00",
        "2024-03-04T09:00:00+00:00",
    ]
    assert all(
        dt.date.fromisoformat(r[:10]).weekday() == 0
        for r in dags["Every_Three_Weeks_Monday"]["runs"]
    )
    # 07:30 and 19:30 in Prague, in winter (UTC+1)
    assert dags["Twice_A_Day_Prague"] == {
        "timetable": "CronTriggerTimetable",
        "runs": [
            "2024-01-01T06:30:00+00:00",
            "2024-01-01T18:30:00+00:00",
            "2024-01-02T06:30:00+00:00",
        ],
    }
    assert dags["Every_Two_Hours_At_15"]["runs"] == [
        "2024-01-01T00:15:00+00:00",
        "2024-01-01T02:15:00+00:00",
        "2024-01-01T04:15:00+00:00",
    ]


WATCH_ALL = """
from amlcompile import *
ws = Workspace.from_config()
store = ws.get_default_datastore()
step = CommandStep(command="echo hi", name="show", source_directory="scripts")
pipeline = Pipeline(ws, steps=[step])
published = pipeline.publish(name="Watch_All", version="1")
Schedule.create(ws, name="on-any-data", pipeline_id=published.id, experiment_name="w",
                datastore=store, polling_interval=10)
"""


def test_a_datastore_schedule_without_a_path_watches_the_whole_container(project):
    project.write("scripts/README", "x\n")
    project.write("watch_all.py", WATCH_ALL)
    text = (build([project.root / "watch_all.py"]).out_dir / "Watch_All.py").read_text()
    assert "dag_id='Watch_All__datastore_watch'," in text
    assert "path=''," in text
    assert "schedule=datetime.timedelta(seconds=600)," in text


def test_the_whole_container_listing_leaves_out_the_pipelines_own_outputs(tmp_path):
    pytest.importorskip("airflow")
    from amlcompile.runtime.watch import changes, listing

    (tmp_path / "in").mkdir()
    (tmp_path / "top.csv").write_text("1")
    (tmp_path / "in" / "a.csv").write_text("1")
    first = listing(tmp_path, "")
    assert sorted(first) == ["in/a.csv", "top.csv"]
    out = tmp_path / "azureml" / "fp" / "abc" / "model"
    out.mkdir(parents=True)
    (out / "m.bin").write_text("x")  # a run's output: not new data
    (tmp_path / "in" / "b.csv").write_text("2")
    assert changes(first, listing(tmp_path, "")) == ["in/b.csv"]
    # Watching azureml/ itself still sees outputs (only bookkeeping is left out).
    assert list(listing(tmp_path, "azureml")) == ["azureml/fp/abc/model/m.bin"]


def test_a_datastore_path_that_climbs_out_is_still_refused(project):
    from amlcompile.exceptions import BuildError

    project.write("scripts/README", "x\n")
    project.write(
        "watch_all.py",
        WATCH_ALL.replace("=10", "=10, path_on_datastore='a/../..'"),
    )
    with pytest.raises(BuildError) as err:
        build([project.root / "watch_all.py"])
    assert "path_on_datastore 'a/../..' must be a relative path" in str(err.value)
