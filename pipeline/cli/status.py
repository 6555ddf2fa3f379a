"""`newsletter status`: the newest issue, the last run of each stage, the schedule and any
run in progress."""

from __future__ import annotations

import typer

from pipeline.cli.common import DbOpt, out, user_errors
from pipeline.store.db import open_database


def register(app: typer.Typer) -> None:
    app.command()(status)


@user_errors
def status(ctx: typer.Context, database_url: DbOpt = None) -> None:
    """The newest issue's progress, the last run of each stage, the schedule and any run
    in progress."""
    from pipeline.clock import utcnow
    from pipeline.ops.schedule import stored_next_fire_time
    from pipeline.ops.status import describe_issue, describe_run, report

    settings = ctx.obj.settings(database_url=database_url)
    engine = open_database(settings.database_url)
    try:
        rep = report(engine, approval=settings.desk.approval)
    finally:
        engine.dispose()
    now = utcnow()
    nxt = stored_next_fire_time(settings.database_url)
    out.print(
        f"schedule: next run {nxt:%a %Y-%m-%d %H:%M %Z} ('{settings.schedule.cron}')"
        if nxt
        else "schedule: none stored (start `newsletter schedule`, or use cron/systemd)",
        markup=False,
    )
    for lock in rep.locks:
        age = (now - lock.heartbeat_at.replace(tzinfo=now.tzinfo)).total_seconds()
        out.print(
            f"in progress: `{lock.command}` on {lock.name.removeprefix('week:').split(' ')[0]} "
            f"({lock.owner.rsplit(':', 1)[0]}, heartbeat {age:.0f} s ago)",
            markup=False,
        )
    out.print(
        f"issue {describe_issue(rep.issue)}" if rep.issue else "issue: none yet", markup=False
    )
    out.print("last run of each stage:", markup=False)
    for run in rep.last_runs.values():
        out.print("  " + describe_run(run), markup=False, emoji=False)
    if not rep.last_runs:
        out.print("  none yet: `newsletter run` (or `newsletter demo` offline)", markup=False)
