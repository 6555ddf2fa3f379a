"""`newsletter schedule`: the weekly run, fired by APScheduler (3.x) from a cron rule.

The job lives in the project's database (SQLAlchemy job store, table `apscheduler_jobs`),
so its next fire time survives restarts.  With `coalesce` and a misfire grace time, a run
missed while the machine was off runs once when the scheduler starts again, not once per
missed week.  On start the stored job is kept when its rule is unchanged (replacing it
would forget the missed run); a changed rule replaces it.  SIGTERM and SIGINT shut the
scheduler down cleanly, letting a running job finish.  The run itself holds the issue's
lock, so a scheduled run never overlaps a manual `run` or `regenerate` of the same week.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from pipeline.errors import ConfigError
from pipeline.store.db import has_table, make_engine

log = logging.getLogger(__name__)
JOB_ID = "weekly-run"
JOBS_TABLE = "apscheduler_jobs"
WEEKLY_JOB = "pipeline.schedule_job:weekly_run"  # kept by name in job stores: see that module


def cron_trigger(rule: str, timezone: str) -> CronTrigger:
    """`0 7 * * mon` in `Europe/Berlin`; a bad rule or zone is a ConfigError naming the key."""
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        raise ConfigError(
            f"bad setting 'schedule_timezone': unknown time zone {timezone!r} "
            "(use an IANA name such as Europe/Berlin or UTC)"
        ) from None
    try:
        return CronTrigger.from_crontab(rule, timezone=zone)
    except ValueError as exc:
        raise ConfigError(
            f"bad setting 'schedule_cron': {rule!r} is not a crontab rule ({exc}); "
            "e.g. '0 7 * * mon' = Mondays 07:00"
        ) from None


@dataclass(frozen=True)
class Schedule:
    database_url: str
    trigger: BaseTrigger
    func: str = WEEKLY_JOB  # "module:function", stored by reference
    kwargs: dict[str, Any] | None = None
    misfire_grace: timedelta = timedelta(days=6)


def build(schedule: Schedule) -> BackgroundScheduler:
    """A paused-on-start scheduler with the job in the database; call `start_and_keep`."""
    store = SQLAlchemyJobStore(engine=make_engine(schedule.database_url), tablename=JOBS_TABLE)
    return BackgroundScheduler(
        jobstores={"default": store},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(schedule.misfire_grace.total_seconds()),
        },
    )


def start_and_keep(scheduler: BackgroundScheduler, schedule: Schedule) -> datetime | None:
    """Start, keep the stored job if its rule is unchanged (so a missed run still fires),
    else (re)create it; returns the next fire time."""
    scheduler.start(paused=True)
    job = scheduler.get_job(JOB_ID)
    kwargs = schedule.kwargs or {}
    if (
        job is not None
        and str(job.trigger) == str(schedule.trigger)
        and job.func_ref == (schedule.func)
    ):
        if job.kwargs != kwargs:
            job.modify(kwargs=kwargs)
    else:
        job = scheduler.add_job(
            schedule.func,
            trigger=schedule.trigger,
            id=JOB_ID,
            name="weekly newsletter run",
            kwargs=kwargs,
            replace_existing=True,
        )
    scheduler.resume()
    return next_fire_time(scheduler)


def next_fire_time(scheduler: BackgroundScheduler) -> datetime | None:
    job = scheduler.get_job(JOB_ID)
    when: datetime | None = None if job is None else job.next_run_time
    return when


def stored_next_fire_time(database_url: str) -> datetime | None:
    """The next scheduled run as stored, without starting a scheduler (for `status`)."""
    store = SQLAlchemyJobStore(engine=make_engine(database_url), tablename=JOBS_TABLE)
    if not has_table(store.engine, JOBS_TABLE):  # starting the store would create it
        store.engine.dispose()
        return None
    try:
        store.start(BackgroundScheduler(), "default")
        when: datetime | None = store.get_next_run_time()
    except Exception:  # no job table yet: nothing scheduled
        return None
    finally:
        store.shutdown()
    return when


def run_forever(
    schedule: Schedule, *, on_start: Callable[[datetime | None], None] | None = None
) -> None:
    """Run the scheduler until SIGTERM or SIGINT; a running job is allowed to finish."""
    scheduler = build(schedule)
    stop = threading.Event()

    def ask_stop(signum: int, _frame: object) -> None:
        log.warning("received %s: stopping after the running job", signal.Signals(signum).name)
        stop.set()

    def report(event: JobExecutionEvent) -> None:
        if event.exception is not None:
            log.error("the weekly run failed: %s", event.exception)
        else:
            log.warning("the weekly run finished; next: %s", next_fire_time(scheduler))

    previous = {s: signal.signal(s, ask_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.add_listener(report, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        when = start_and_keep(scheduler, schedule)
        if on_start is not None:
            on_start(when)
        stop.wait()
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
