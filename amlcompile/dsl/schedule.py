"""`Schedule` and `ScheduleRecurrence` (SDK v1) → the DAG's schedule (a cron or an interval).

At build time `Schedule.create` attaches the recurrence to the pipeline it names (by the
published pipeline's id, which is the DAG id); `@pipeline(schedule=...)` does the same. The
compiler turns it into `ir.Schedule`; the DAG file gets `schedule=` and a fixed `start_date`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from ..exceptions import BuildError, UserErrorException
from ..ir import models as ir
from ..ir.validate import Problem
from . import session
from .location import caller_location
from .pipeline import note_continue_on_step_failure
from .warnings import ignored, non_default

FREQUENCIES = ("Minute", "Hour", "Day", "Week", "Month")
WEEK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEFAULT_START = "2024-01-01T00:00:00"  # fixed, so the DAG file never depends on the clock
# SDK v1 took Windows time zone names (TimeZone.*); the usual ones, to IANA.
_WINDOWS_ZONES = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "GMT Standard Time": "Europe/London",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Prague",
    "Romance Standard Time": "Europe/Paris",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "Pacific Standard Time": "America/Los_Angeles",
    "India Standard Time": "Asia/Kolkata",
    "China Standard Time": "Asia/Shanghai",
    "Tokyo Standard Time": "Asia/Tokyo",
    "AUS Eastern Standard Time": "Australia/Sydney",
}


class ScheduleRecurrence:
    def __init__(
        self,
        frequency,
        interval,
        start_time=None,
        time_zone=None,
        hours=None,
        minutes=None,
        week_days=None,
        time_of_day=None,
    ):
        self.frequency = frequency
        self.interval = interval
        self.start_time = start_time
        self.time_zone = time_zone
        self.hours = hours
        self.minutes = minutes
        self.week_days = week_days
        self.time_of_day = time_of_day
        self.location = caller_location()

    def validate(self):
        to_ir(self, self.location)


class Schedule:
    """A schedule of a published pipeline; compiled into the DAG's `schedule`."""

    def __init__(self, name, pipeline_id, recurrence=None, description=None, **kwargs):
        self.name = name
        self.id = name
        self.pipeline_id = pipeline_id
        self.recurrence = recurrence
        self.description = description
        self.status = "Active"
        self.pipeline_endpoint_id = None

    @staticmethod
    def create(
        workspace,
        name,
        pipeline_id,
        experiment_name,
        recurrence=None,
        description=None,
        pipeline_parameters=None,
        wait_for_provisioning=False,
        wait_timeout=3600,
        datastore=None,
        polling_interval=5,
        data_path_parameter_name=None,
        continue_on_step_failure=None,
        path_on_datastore=None,
        _workflow_provider=None,
        _service_endpoint=None,
        **kwargs,
    ):
        where = caller_location()
        ignored(
            "Schedule.create",
            **non_default(
                Schedule.create,
                locals(),
                "wait_for_provisioning",
                "wait_timeout",
                "_workflow_provider",
                "_service_endpoint",
            ),
        )
        if not hasattr(workspace, "_config"):
            _fail(where, "Schedule.create: the first argument must be the Workspace")
        if not isinstance(experiment_name, str) or not experiment_name:
            _fail(where, "Schedule.create: experiment_name must be a non-empty string")
        build = session.current()
        if build is None:
            raise UserErrorException(
                f"{where[0]}:{where[1]}: a schedule is part of the DAG file: put Schedule.create"
                " in the pipeline's script, then `amlcompile build` and `amlcompile deploy`"
            )
        if datastore is not None and recurrence is not None:
            _fail(where, "Schedule.create: give recurrence= or datastore=, not both")
        if datastore is None and recurrence is None:
            _fail(where, "Schedule.create needs recurrence=ScheduleRecurrence(...) or datastore=")
        if datastore is None and (path_on_datastore or data_path_parameter_name):
            _fail(where, "Schedule.create: path_on_datastore needs datastore=")
        if pipeline_parameters:
            _fail(
                where,
                "Schedule.create(pipeline_parameters=...): scheduled runs use the parameters'"
                " defaults; change the defaults instead",
            )
        target = next((p for p, n in build.registered if n == pipeline_id), None)
        if target is None:
            known = ", ".join(sorted(n for _, n in build.registered if n)) or "none"
            _fail(
                where,
                f"Schedule.create: no published pipeline {pipeline_id!r} in this file"
                f" (published: {known})",
            )
        note_continue_on_step_failure(target, continue_on_step_failure, "Schedule.create")
        if datastore is not None:
            if getattr(target, "_datastore_trigger", None) is not None:
                _fail(where, f"Schedule.create: {pipeline_id!r} already has a datastore trigger")
            target._datastore_trigger = DatastoreWatch(
                name,
                datastore,
                path_on_datastore,
                polling_interval,
                data_path_parameter_name,
                where,
            )
            return _remember(build, Schedule(name, pipeline_id, None, description))
        target._schedule = recurrence
        target._schedule_meta = (name, description, where)
        return _remember(build, Schedule(name, pipeline_id, recurrence, description))

    @staticmethod
    def create_for_pipeline_endpoint(
        workspace,
        name,
        pipeline_endpoint_id,
        experiment_name,
        recurrence=None,
        description=None,
        pipeline_parameters=None,
        wait_for_provisioning=False,
        wait_timeout=3600,
        datastore=None,
        polling_interval=5,
        data_path_parameter_name=None,
        continue_on_step_failure=None,
        path_on_datastore=None,
        _workflow_provider=None,
        _service_endpoint=None,
    ):
        """Schedules the endpoint's default pipeline (its DAG)."""
        build = session.current()
        endpoint = (build.client.get("pipeline_endpoints", {}) if build else {}).get(
            pipeline_endpoint_id
        )
        pipeline_id = endpoint._versions[int(endpoint.default_version)] if endpoint else None
        if pipeline_id is None:
            where = caller_location()
            _fail(
                where,
                f"Schedule.create_for_pipeline_endpoint: no endpoint {pipeline_endpoint_id!r}"
                " was published by this script",
            )
        schedule = Schedule.create(
            workspace,
            name,
            pipeline_id,
            experiment_name,
            recurrence,
            description,
            pipeline_parameters,
            datastore=datastore,
            polling_interval=polling_interval,
            data_path_parameter_name=data_path_parameter_name,
            continue_on_step_failure=continue_on_step_failure,
            path_on_datastore=path_on_datastore,
        )
        schedule.pipeline_endpoint_id = pipeline_endpoint_id
        return schedule

    # ---- looking schedules up: what this build created (a deployed DAG's schedule is its
    # `schedule`; pause and unpause it with `amlcompile disable|enable`) ----
    @staticmethod
    def list(
        workspace,
        active_only=True,
        pipeline_id=None,
        pipeline_endpoint_id=None,
        _workflow_provider=None,
        _service_endpoint=None,
    ):
        found = list(_created().values())
        if active_only:
            found = [s for s in found if s.status == "Active"]
        if pipeline_id is not None:
            found = [s for s in found if s.pipeline_id == pipeline_id]
        if pipeline_endpoint_id is not None:
            found = [s for s in found if s.pipeline_endpoint_id == pipeline_endpoint_id]
        return found

    @staticmethod
    def get(workspace, id, _workflow_provider=None, _service_endpoint=None):
        found = _created().get(id)
        if found is None:
            raise UserErrorException(f"no schedule {id!r} was created by this script")
        return found

    @staticmethod
    def get_schedules_for_pipeline_id(workspace, pipeline_id, **kwargs):
        return Schedule.list(workspace, active_only=False, pipeline_id=pipeline_id)

    @staticmethod
    def get_schedules_for_pipeline_endpoint_id(workspace, pipeline_endpoint_id, **kwargs):
        return Schedule.list(
            workspace, active_only=False, pipeline_endpoint_id=pipeline_endpoint_id
        )

    def update(
        self,
        name=None,
        description=None,
        recurrence=None,
        pipeline_parameters=None,
        status=None,
        wait_for_provisioning=False,
        wait_timeout=3600,
        datastore=None,
        polling_interval=None,
        data_path_parameter_name=None,
        continue_on_step_failure=None,
        path_on_datastore=None,
    ):
        """A schedule is compiled into its DAG: change Schedule.create and build again."""
        ignored(
            "Schedule.update",
            **{
                k: v
                for k, v in {
                    "name": name,
                    "description": description,
                    "recurrence": recurrence,
                    "pipeline_parameters": pipeline_parameters,
                    "datastore": datastore,
                }.items()
            },
        )
        if status is not None:
            self.status = status

    def wait_for_provisioning_completion(self, *args, **kwargs):
        return None

    def disable(self, wait_for_provisioning=False, wait_timeout=3600):
        """At build time a no-op (pause the DAG: `amlcompile disable`)."""
        self.status = "Disabled"

    def enable(self, wait_for_provisioning=False, wait_timeout=3600):
        """At build time a no-op (unpause the DAG: `amlcompile enable`)."""
        self.status = "Active"

    def __repr__(self) -> str:
        return (
            f"Schedule(name={self.name!r}, pipeline_id={self.pipeline_id!r},"
            f" status={self.status!r})"
        )


def _created() -> dict:
    build = session.current()
    return build.client.get("schedules", {}) if build is not None else {}


def _remember(build, schedule):
    build.client.setdefault("schedules", {})[schedule.id] = schedule
    return schedule


# Kinds the runtime can list (runtime/watch.py): those storage.datastore_root gives a root for.
WATCHABLE_KINDS = ("local", "azure_blob", "adls_gen2", "azure_file", "dbfs")


class DatastoreWatch:
    """What Schedule.create(datastore=...) recorded, checked when the pipeline compiles."""

    def __init__(self, name, datastore, path, polling, parameter, where):
        self.name = name
        self.datastore = datastore
        self.path = path
        self.polling = polling
        self.parameter = parameter
        self.where = where


def watch_to_ir(
    w: DatastoreWatch, parameters: dict[str, str], config, data_paths: dict | None = None
) -> ir.DatastoreTrigger:
    """Checks a datastore watch against the pipeline's parameters (their types, and for
    DataPath parameters the datastores they name paths on) and the project config."""
    where = f"{w.where[0]}:{w.where[1]}"
    ds_name = getattr(w.datastore, "name", w.datastore)
    if ds_name not in config.datastores:
        raise UserErrorException(f"{where}: datastore {ds_name!r} is not configured")
    ds = config.datastores[ds_name]
    if ds.kind not in WATCHABLE_KINDS:
        raise UserErrorException(
            f"{where}: cannot watch datastore {ds_name!r}: {ds.kind} datastores are not"
            f" supported yet ({', '.join(WATCHABLE_KINDS)} are)"
        )
    # No path: the whole container (share, folder), as Azure ML watched it.
    if w.path is not None and (
        not isinstance(w.path, str) or w.path.startswith("/") or ".." in w.path.split("/")
    ):
        raise UserErrorException(
            f"{where}: path_on_datastore {w.path!r} must be a relative path on the datastore"
        )
    if not isinstance(w.polling, int) or isinstance(w.polling, bool) or w.polling < 1:
        raise UserErrorException(f"{where}: polling_interval {w.polling!r} must be minutes >= 1")
    if w.parameter is not None and parameters.get(w.parameter) != "string":
        known = ", ".join(sorted(n for n, t in parameters.items() if t == "string")) or "none"
        raise UserErrorException(
            f"{where}: data_path_parameter_name {w.parameter!r} must name a string pipeline"
            f" parameter (string parameters: {known})"
        )
    elsewhere = sorted((data_paths or {}).get(w.parameter, set()) - {ds_name})
    if elsewhere:
        raise UserErrorException(
            f"{where}: data_path_parameter_name {w.parameter!r} is a DataPath on datastore"
            f" {elsewhere[0]!r}, but the trigger watches {ds_name!r}: the changed file's path"
            " would be read on the wrong datastore"
        )
    return ir.DatastoreTrigger(
        name=w.name,
        datastore=ir.Datastore(
            name=ds_name,
            kind=ds.kind,
            path=config.datastore_root(ds_name),
            conn_id=ds.conn_id,
            shared=ds.shared,
        ),
        path=(w.path or "").strip("/"),
        polling_minutes=w.polling,
        parameter=w.parameter,
        start=DEFAULT_START,
    )


def _fail(where: tuple[str, int], message: str):
    raise BuildError([Problem(message, ir.SourceLocation(file=where[0], line=where[1]))])


def _zone(name, where) -> str:
    raw = str(getattr(name, "value", name) or "UTC")
    zone = _WINDOWS_ZONES.get(raw, raw)
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise UserErrorException(f"{where}: time_zone {name!r} is not a known time zone") from None
    return zone


def _start(value, where) -> dt.datetime:
    if value is None:
        return dt.datetime.fromisoformat(DEFAULT_START)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise UserErrorException(
                f"{where}: start_time {value!r} is not an ISO date-time"
            ) from None
    if not isinstance(value, dt.datetime):
        raise UserErrorException(f"{where}: start_time must be a datetime or an ISO string")
    return value.replace(tzinfo=None, microsecond=0)


def _ints(values, low, high, what, where) -> list[int]:
    out = []
    for v in values or []:
        if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
            raise UserErrorException(f"{where}: {what} {v!r} is not a whole number {low}-{high}")
        out.append(v)
    return sorted(set(out))


def _field(values) -> str:
    return ",".join(str(v) for v in values)


def to_ir(value, location, name=None, description=None) -> ir.Schedule:
    """A ScheduleRecurrence, a cron string or a timedelta → ir.Schedule (or a clear error)."""
    where = f"{location[0]}:{location[1]}" if isinstance(location, tuple) else str(location)
    if isinstance(value, str):
        if len(value.split()) != 5:
            raise UserErrorException(f"{where}: schedule {value!r} is not a five-field cron")
        return ir.Schedule(name=name, cron=value, start=DEFAULT_START, description=description)
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        if seconds <= 0:
            raise UserErrorException(f"{where}: schedule {value!r} must be positive")
        return ir.Schedule(
            name=name, interval_seconds=seconds, start=DEFAULT_START, description=description
        )
    if not isinstance(value, ScheduleRecurrence):
        raise UserErrorException(
            f"{where}: schedule must be a ScheduleRecurrence, a cron string or a timedelta"
        )
    r = value
    if r.frequency not in FREQUENCIES:
        raise UserErrorException(
            f"{where}: frequency {r.frequency!r} is not one of {', '.join(FREQUENCIES)}"
        )
    if not isinstance(r.interval, int) or isinstance(r.interval, bool) or r.interval < 1:
        raise UserErrorException(f"{where}: interval {r.interval!r} must be a whole number >= 1")
    zone = _zone(r.time_zone, where)
    start = _start(r.start_time, where)
    hours = _ints(r.hours, 0, 23, "hour", where)
    minutes = _ints(r.minutes, 0, 59, "minute", where)
    if r.time_of_day:
        try:
            clock = dt.time.fromisoformat(str(r.time_of_day))
        except ValueError:
            raise UserErrorException(
                f"{where}: time_of_day {r.time_of_day!r} is not HH:MM"
            ) from None
        hours, minutes = hours or [clock.hour], minutes or [clock.minute]
    days = []
    for day in r.week_days or []:
        if day not in WEEK_DAYS:
            raise UserErrorException(
                f"{where}: week day {day!r} is not one of {', '.join(WEEK_DAYS)}"
            )
        days.append((WEEK_DAYS.index(day) + 1) % 7)  # cron: Sunday is 0
    if r.frequency == "Minute" and (hours or minutes):
        raise UserErrorException(f"{where}: hours and minutes need frequency Hour, Day or Week")
    if days and r.frequency != "Week":
        raise UserErrorException(f"{where}: week_days need frequency 'Week'")
    common = dict(name=name, time_zone=zone, description=description)
    unit = {"Minute": 60, "Hour": 3600, "Day": 86400, "Week": 604800}
    at_minutes = minutes or [start.minute]
    at_hours = hours or [start.hour]
    cron_at = f"{_field(at_minutes)} {_field(at_hours)}"
    every = r.interval * unit.get(r.frequency, 0)

    def cron(expression: str) -> ir.Schedule:
        return ir.Schedule(cron=expression, start=start.isoformat(), **common)

    def delta(anchor: dt.datetime) -> ir.Schedule:
        # Airflow's DeltaTriggerTimetable (a timedelta schedule): runs at start_date, then
        # every `interval` after it. The anchor is the first run at or after start_time.
        while anchor < start:
            anchor += dt.timedelta(seconds=every)
        return ir.Schedule(interval_seconds=every, start=anchor.isoformat(), **common)

    def one_time_only(what: str):
        raise UserErrorException(
            f"{where}: {what}: Airflow has no timetable that runs several times a period every"
            f" {r.interval} {r.frequency.lower()}s; give one time (or interval=1, which is a"
            " cron)"
        )

    if r.frequency == "Minute":
        return delta(start)
    if r.frequency == "Hour":
        if not minutes:
            return delta(start)
        if r.interval == 1:
            return cron(f"{_field(minutes)} * * * *")
        if 24 % r.interval == 0:  # every N hours from the start hour, the same every day
            return cron(f"{_field(minutes)} {start.hour % r.interval}-23/{r.interval} * * *")
        if len(minutes) == 1:
            return delta(start.replace(minute=minutes[0]))
        one_time_only(f"minutes {minutes} with an hourly interval of {r.interval}")
    if r.frequency == "Day":
        if r.interval == 1:
            return cron(f"{cron_at} * * *")
        if len(at_hours) * len(at_minutes) != 1:
            one_time_only(f"hours {at_hours}, minutes {at_minutes} with a daily interval above 1")
        return delta(start.replace(hour=at_hours[0], minute=at_minutes[0], second=0))
    if r.frequency == "Week":
        dows = sorted(set(days)) if days else [(start.weekday() + 1) % 7]
        if r.interval == 1:
            return cron(f"{cron_at} * * {_field(dows)}")
        if len(dows) * len(at_hours) * len(at_minutes) != 1:
            one_time_only("several week days or times with a weekly interval above 1")
        # Weeks count from the week of start_time (Monday to Sunday).
        monday = (start - dt.timedelta(days=start.weekday())).replace(
            hour=at_hours[0], minute=at_minutes[0], second=0
        )
        return delta(monday + dt.timedelta(days=(dows[0] - 1) % 7))
    # Month: on the start day, every `interval` months.
    months = "*" if r.interval == 1 else f"*/{r.interval}"
    return cron(f"{cron_at} {start.day} {months} *")
