"""The scheduler: fires through a short trigger, coalesces missed runs into one, keeps its
job in the database across restarts, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from pipeline.errors import ConfigError
from pipeline.ops.schedule import (
    Schedule,
    build,
    cron_trigger,
    next_fire_time,
    start_and_keep,
    stored_next_fire_time,
)
from tests.helpers import Recorder, cli_database_url, invoke, python_child

FIRE = "tests.test_schedule:record_fire"


def record_fire(path: str) -> None:
    """The test job: one line per fire (stored by reference in the job store)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{time.monotonic()}\n")


def fires(path: Path) -> list[float]:
    return [float(x) for x in path.read_text().split()] if path.exists() else []


def wait_for(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def plan(db_url: str, log: Path, seconds: int = 1) -> Schedule:
    return Schedule(
        database_url=db_url,
        trigger=IntervalTrigger(seconds=seconds),
        func=FIRE,
        kwargs={"path": str(log)},
        misfire_grace=timedelta(hours=1),
    )


def test_a_short_interval_job_fires(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "fires.log"
    scheduler = build(plan(db_url, log))
    try:
        when = start_and_keep(scheduler, plan(db_url, log))
        assert when is not None
        wait_for(lambda: len(fires(log)) >= 2)
    finally:
        scheduler.shutdown(wait=True)
    stamps = fires(log)
    assert 0.5 < stamps[1] - stamps[0] < 2.0  # about one interval apart


def test_missed_runs_are_coalesced_into_one_on_start(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "fires.log"
    first = build(plan(db_url, log, seconds=2))
    start_and_keep(first, plan(db_url, log, seconds=2))
    first.shutdown(wait=True)  # "the machine goes off" before the first fire
    assert fires(log) == []
    stored = stored_next_fire_time(db_url)
    assert stored is not None
    time.sleep(6.5)  # three fire times pass while nothing runs
    assert stored < datetime.now(UTC) - timedelta(seconds=4)

    second = build(plan(db_url, log, seconds=2))
    try:
        start_and_keep(second, plan(db_url, log, seconds=2))  # same rule: the job is kept
        wait_for(lambda: len(fires(log)) >= 1)
        time.sleep(0.8)  # the next regular fire is ~2 s away
        assert len(fires(log)) == 1  # one catch-up run, not three
        when = next_fire_time(second)
        assert when is not None and when > datetime.now(UTC)
    finally:
        second.shutdown(wait=True)


def test_a_changed_rule_replaces_the_job(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "fires.log"
    first = build(plan(db_url, log, seconds=3600))
    start_and_keep(first, plan(db_url, log, seconds=3600))
    first.shutdown(wait=True)
    second = build(plan(db_url, log, seconds=7200))
    try:
        start_and_keep(second, plan(db_url, log, seconds=7200))
        job = second.get_job("weekly-run")
        assert job is not None and "2:00:00" in str(job.trigger)
    finally:
        second.shutdown(wait=True)


@pytest.mark.parametrize(
    ("rule", "zone", "message"),
    [
        ("0 7 * * mon", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("every monday", "UTC", "'every monday' is not a crontab rule"),
    ],
)
def test_bad_rules_are_config_errors(rule: str, zone: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cron_trigger(rule, zone)


def test_weekly_rule_fires_on_monday_morning() -> None:
    trigger = cron_trigger("0 7 * * mon", "Europe/Berlin")
    sunday = datetime(2026, 11, 22, 12, tzinfo=UTC)
    nxt = trigger.get_next_fire_time(None, sunday)
    assert nxt is not None and nxt.isoformat() == "2026-11-23T07:00:00+01:00"


def test_schedule_command_starts_and_stops_on_sigterm(tmp_path: Path) -> None:
    with python_child("-m", "pipeline.cli", "schedule") as (proc, line):
        assert line.startswith("scheduled '0 7 * * mon' (UTC): next run Mon "), line
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "scheduler stopped" in out
    assert stored_next_fire_time(cli_database_url()) is not None


def test_the_stored_job_reference_resolves() -> None:
    """Job stores keep the job by this name (stored before the move into packages too): it
    must keep resolving to the weekly run."""
    from apscheduler.util import ref_to_obj

    from pipeline.ops.schedule import WEEKLY_JOB
    from pipeline.schedule_job import weekly_run

    assert WEEKLY_JOB == "pipeline.schedule_job:weekly_run"
    assert ref_to_obj(WEEKLY_JOB) is weekly_run


def test_the_weekly_job_runs_the_pipeline(env: dict[str, str]) -> None:
    """What the scheduler fires: a whole run of the last complete week (the sample's
    papers are from June, so this week's issue is empty but complete)."""
    from sqlmodel import Session, col, select

    from pipeline.schedule_job import weekly_run
    from pipeline.store.db import open_database
    from pipeline.store.models import Run

    weekly_run(None, {"highlights": "3"})
    engine = open_database(cli_database_url())
    with Session(engine) as s:
        runs = s.exec(select(Run).order_by(col(Run.id))).all()
    engine.dispose()
    assert [r.stage for r in runs] == ["fetch", "rank", "summarize", "render"]
    assert all(r.status == "ok" for r in runs), [(r.stage, r.error) for r in runs]
    assert Path("out/site/index.html").exists()


def test_the_weekly_job_with_schedule_send_runs_then_sends(
    env: dict[str, str], mailbox: Recorder
) -> None:
    """`schedule_send`: the same run then send as `newsletter run --send` (runner.run)."""
    from sqlmodel import Session, col, select

    from pipeline.schedule_job import weekly_run
    from pipeline.store.db import open_database
    from pipeline.store.models import Run

    invoke("subscribers", "add", "ann@example.org")
    weekly_run(None, {"highlights": "3", "schedule_send": "true"})
    engine = open_database(cli_database_url())
    with Session(engine) as s:
        runs = s.exec(select(Run).order_by(col(Run.id))).all()
    engine.dispose()
    assert [r.stage for r in runs] == ["fetch", "rank", "summarize", "render", "send"]
    assert all(r.status == "ok" for r in runs), [(r.stage, r.error) for r in runs]
    assert runs[-1].counts["sent"] == 1
    assert [rcpts for _, rcpts, _ in mailbox.messages] == [["ann@example.org"]]


def test_status_reads_the_schedule_without_creating_tables(db_url: str) -> None:
    from sqlalchemy import inspect

    from pipeline.store.db import make_engine

    assert stored_next_fire_time(db_url) is None
    engine = make_engine(db_url)
    assert not inspect(engine).has_table("apscheduler_jobs")
    engine.dispose()
