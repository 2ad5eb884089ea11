"""Schedules: SDK v1 recurrences and @pipeline(schedule=...) → the DAG's static schedule."""

from __future__ import annotations

import datetime as dt

import pytest

from amlcompile.compiler import build
from amlcompile.dsl.schedule import ScheduleRecurrence, to_ir
from amlcompile.exceptions import BuildError, UserErrorException

WHERE = ("pipeline.py", 7)


def rec(**kw):
    kw.setdefault("interval", 1)
    return ScheduleRecurrence(**kw)


@pytest.mark.parametrize(
    "kwargs, cron, seconds",
    [
        (dict(frequency="Minute", interval=15), None, 900),
        (dict(frequency="Hour", interval=2), None, 7200),
        (dict(frequency="Hour", minutes=[0, 30]), "0,30 * * * *", None),
        (dict(frequency="Day", hours=[7, 19], minutes=[30]), "30 7,19 * * *", None),
        (dict(frequency="Day", time_of_day="06:45"), "45 6 * * *", None),
        (dict(frequency="Day", interval=3), None, 3 * 86400),
        (
            dict(frequency="Week", week_days=["Monday", "Sunday"], time_of_day="08:00"),
            "0 8 * * 0,1",
            None,
        ),
        (dict(frequency="Week", interval=2), None, 14 * 86400),
        (dict(frequency="Month", start_time="2025-03-15T04:20:00"), "20 4 15 * *", None),
        (dict(frequency="Month", interval=3, start_time="2025-01-02T00:00"), "0 0 2 */3 *", None),
    ],
)
def test_recurrence_to_cron_or_interval(kwargs, cron, seconds):
    s = to_ir(rec(**kwargs), WHERE)
    assert (s.cron, s.interval_seconds) == (cron, seconds)


def test_time_zone_and_start_are_kept_fixed():
    s = to_ir(
        rec(
            frequency="Day",
            time_zone="Central Europe Standard Time",
            start_time=dt.datetime(2025, 5, 1, 6, 0, 0, 123),
        ),
        WHERE,
    )
    assert (s.time_zone, s.start, s.cron) == ("Europe/Prague", "2025-05-01T06:00:00", "0 6 * * *")
    default = to_ir(rec(frequency="Day", time_zone="America/New_York"), WHERE)
    assert default.start == "2024-01-01T00:00:00"  # never the clock


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(frequency="Fortnight"), "frequency 'Fortnight' is not one of Minute, Hour"),
        (dict(frequency="Day", interval=0), "interval 0 must be a whole number >= 1"),
        (dict(frequency="Day", hours=[24]), "hour 24 is not a whole number 0-23"),
        (dict(frequency="Day", week_days=["Monday"]), "week_days need frequency 'Week'"),
        (dict(frequency="Week", week_days=["Funday"]), "week day 'Funday' is not one of"),
        (dict(frequency="Day", time_zone="Mars/Olympus"), "time_zone 'Mars/Olympus' is not"),
        (dict(frequency="Day", start_time="yesterday"), "start_time 'yesterday' is not an ISO"),
        (dict(frequency="Day", interval=2, hours=[3, 15]), "with a daily interval above 1"),
        (dict(frequency="Hour", interval=5, minutes=[0, 30]), "with an hourly interval of 5"),
        (
            dict(frequency="Week", interval=2, week_days=["Monday", "Friday"]),
            "several week days or times with a weekly interval above 1",
        ),
        (dict(frequency="Minute", minutes=[5]), "need frequency Hour, Day or Week"),
    ],
)
def test_bad_recurrences_name_the_place(kwargs, message):
    kwargs.setdefault("interval", 1)
    with pytest.raises(UserErrorException) as err:
        to_ir(ScheduleRecurrence(**kwargs), WHERE)
    assert str(err.value).startswith("pipeline.py:7: ")
    assert message in str(err.value)


def test_cron_string_and_timedelta():
    assert to_ir("*/5 * * * *", WHERE).cron == "*/5 * * * *"
    assert to_ir(dt.timedelta(hours=6), WHERE).interval_seconds == 6 * 3600
    with pytest.raises(UserErrorException, match="is not a five-field cron"):
        to_ir("every day", WHERE)


SCHEDULED = """
from amlcompile import (
    CommandStep, Pipeline, Schedule, ScheduleRecurrence, Workspace,
)

ws = Workspace.from_config()
step = CommandStep(command="echo hi", name="hello", source_directory="scripts")
pipeline = Pipeline(ws, steps=[step])
published = pipeline.publish(name="Nightly", description="nightly job", version="1")
recurrence = ScheduleRecurrence(frequency="Week", interval=1, week_days=["Friday"],
                                time_of_day="22:15", time_zone="UTC")
Schedule.create(ws, name="nightly-schedule", pipeline_id=published.id,
                experiment_name="nightly", recurrence=recurrence)
"""

DECORATED = """
import datetime
from amlcompile import CommandStep, Workspace, pipeline

ws = Workspace.from_config()

@pipeline(name="Every_Six_Hours", schedule=datetime.timedelta(hours=6))
def every_six_hours():
    CommandStep(command="echo hi", name="hello", source_directory="scripts")
"""


def test_build_writes_schedule_and_fixed_start(project):
    project.write("scripts/README", "x\n")
    project.write("scheduled.py", SCHEDULED)
    project.write("decorated.py", DECORATED)
    result = build([project.root / "scheduled.py", project.root / "decorated.py"])
    nightly = (result.out_dir / "Nightly.py").read_text()
    assert "schedule='15 22 * * 5'," in nightly
    assert "start_date=pendulum.datetime(2024, 1, 1, 0, 0, 0, tz='UTC')," in nightly
    six = (result.out_dir / "Every_Six_Hours.py").read_text()
    assert "schedule=datetime.timedelta(seconds=21600)," in six


def test_schedule_for_an_unknown_pipeline_is_one_clear_error(project):
    project.write("scripts/README", "x\n")
    project.write("bad.py", SCHEDULED.replace("pipeline_id=published.id", "pipeline_id='Nope'"))
    with pytest.raises(BuildError) as err:
        build([project.root / "bad.py"])
    text = str(err.value)
    assert (
        text.count("\n") == 0
        and "bad.py:12: Schedule.create:" in text
        and "no published pipeline 'Nope' in this file" in text
    )


@pytest.mark.airflow
def test_scheduled_dags_import_in_airflow(project, tmp_path):
    pytest.importorskip("airflow")
    from tests.airflow.conftest import airflow_python

    project.write("scripts/README", "x\n")
    project.write("scheduled.py", SCHEDULED)
    project.write("decorated.py", DECORATED)
    project.write("watched.py", WATCHED.replace("PARAM", "input_path"))
    paths = [project.root / n for n in ("scheduled.py", "decorated.py", "watched.py")]
    out = build(paths).out_dir
    code = """
    import json
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=DAGS)
    print(json.dumps({
        "errors": {k: v for k, v in bag.import_errors.items()},
        "timetables": {d: type(bag.dags[d].timetable).__name__ for d in sorted(bag.dags)},
        "cron": getattr(bag.dags["Nightly"].timetable, "expression", None),
        "delta": str(getattr(bag.dags["Every_Six_Hours"].timetable, "delta", None)),
        "tz": str(bag.dags["Nightly"].timezone),
    }))
    """.replace("DAGS", repr(str(out)))
    result = airflow_python(code, tmp_path / "home", out)
    assert result["errors"] == {}
    assert result["timetables"] == {
        "Every_Six_Hours": "DeltaTriggerTimetable",
        "Nightly": "CronTriggerTimetable",
        "Watched": "NullTimetable",
        "Watched__datastore_watch": "DeltaTriggerTimetable",
    }
    assert (result["cron"], result["delta"]) == ("15 22 * * 5", "6:00:00")
    assert result["tz"] == "UTC"


WATCHED = """
from amlcompile import CommandStep, Pipeline, PipelineParameter, Schedule, Workspace

ws = Workspace.from_config()
store = ws.get_default_datastore()
input_path = PipelineParameter(name="input_path", default_value="none")
step = CommandStep(command=["echo", "got", input_path], name="show", source_directory="scripts")
pipeline = Pipeline(ws, steps=[step])
published = pipeline.publish(name="Watched", version="1")
Schedule.create(ws, name="on-new-data", pipeline_id=published.id, experiment_name="watched",
                datastore=store, path_on_datastore="incoming", polling_interval=5,
                data_path_parameter_name="PARAM")
"""


def test_datastore_trigger_compiles_to_a_polling_dag(project):
    project.write("scripts/README", "x\n")
    project.write("watched.py", WATCHED.replace("PARAM", "input_path"))
    text = (build([project.root / "watched.py"]).out_dir / "Watched.py").read_text()
    assert "dag_id='Watched__datastore_watch'," in text
    assert "schedule=datetime.timedelta(seconds=300)," in text
    assert "parameter='input_path'," in text
    assert "trigger_dag_id='Watched'," in text


@pytest.mark.parametrize(
    "change, message",
    [
        ('data_path_parameter_name="PARAM"', "'nope' must name a string pipeline parameter"),
        ('path_on_datastore="incoming"', "path_on_datastore '/abs' must be a relative path"),
        ("polling_interval=5", "polling_interval 0 must be minutes >= 1"),
    ],
)
def test_bad_datastore_triggers(project, change, message):
    bad = {
        'data_path_parameter_name="PARAM"': 'data_path_parameter_name="nope"',
        'path_on_datastore="incoming"': 'path_on_datastore="/abs"',
        "polling_interval=5": "polling_interval=0",
    }[change]
    project.write("scripts/README", "x\n")
    project.write("watched.py", WATCHED.replace(change, bad).replace("PARAM", "input_path"))
    with pytest.raises(BuildError) as err:
        build([project.root / "watched.py"])
    assert "watched.py:10: " in str(err.value) and message in str(err.value)


def test_watch_listing_reports_added_and_changed_files(tmp_path):
    pytest.importorskip("airflow")
    from amlcompile.runtime.watch import changes, listing

    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.csv").write_text("1")
    first = listing(tmp_path, "in")
    assert changes(None, first) == []  # the first poll only records
    (tmp_path / "in" / "sub" / "b.csv").write_text("2")
    (tmp_path / "in" / "a.csv").write_text("11")
    assert changes(first, listing(tmp_path, "in")) == ["in/a.csv", "in/sub/b.csv"]
    assert listing(tmp_path, "missing") == {}


REMOTE_STORES = """\
[datastores.blobstore]
kind = "azure_blob"
path = "landing"
conn_id = "blob_conn"

[datastores.lake]
kind = "adls_gen2"
path = "lake"
conn_id = "lake_conn"

[datastores.share]
kind = "azure_file"
path = "share"
conn_id = "files_conn"
"""

WATCHED_DATAPATH = """
from amlcompile import *

ws = Workspace.from_config()
blob = Datastore(ws, "blobstore")
data = (PipelineParameter("input_data", default_value=DataPath(blob, "incoming/x.csv")),
        DataPathComputeBinding(mode="mount"))
step = PythonScriptStep("read.py", name="read", source_directory="scripts",
                        arguments=["--data", data], inputs=[data])
published = Pipeline(ws, steps=[step]).publish(name="BlobWatched", version="1")
Schedule.create(ws, name="on-new-blob", pipeline_id=published.id, experiment_name="watched",
                datastore=Datastore(ws, "WATCHED"), path_on_datastore="incoming",
                polling_interval=1, data_path_parameter_name="input_data")
"""


def test_a_blob_datastore_trigger_compiles_with_its_connection(project):
    project.write("amlcompile.toml", REMOTE_STORES)
    project.write("scripts/read.py", "print(1)\n")
    project.write("watched.py", WATCHED_DATAPATH.replace("WATCHED", "blobstore"))
    text = (build([project.root / "watched.py"]).out_dir / "BlobWatched.py").read_text()
    for line in [
        "datastore='blobstore',",
        "kind='azure_blob',",
        "root='landing',",
        "conn_id='blob_conn',",
        "parameter='input_data',",
        "skip_when_already_exists=True,",
        ").expand_kwargs(_detect_changes.output)",
        "trigger_rule='none_failed',",
        "_start_pipeline >> _record_listing",
    ]:
        assert line in text


@pytest.mark.parametrize(
    "watched, message",
    [
        ("lake", "'input_data' is a DataPath on datastore 'blobstore', but the trigger watches"),
    ],
)
def test_a_datastore_trigger_the_runs_could_not_read_is_refused(project, watched, message):
    project.write("amlcompile.toml", REMOTE_STORES)
    project.write("scripts/read.py", "print(1)\n")
    project.write("watched.py", WATCHED_DATAPATH.replace("WATCHED", watched))
    with pytest.raises(BuildError) as err:
        build([project.root / "watched.py"])
    assert "watched.py:11: " in str(err.value) and message in str(err.value)
