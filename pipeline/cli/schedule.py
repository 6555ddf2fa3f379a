"""`newsletter schedule`: the weekly run on a cron rule, until stopped."""

from __future__ import annotations

from datetime import datetime, timedelta

import typer

from pipeline.cli.common import DbOpt, OutOpt, out, user_errors
from pipeline.ops.schedule import Schedule, cron_trigger, run_forever


def register(app: typer.Typer) -> None:
    app.command()(schedule)


@user_errors
def schedule(ctx: typer.Context, output_dir: OutOpt = None, database_url: DbOpt = None) -> None:
    """Run the weekly job on `schedule_cron` (default Mondays 07:00) until SIGTERM / Ctrl-C.

    The job is kept in the database: a run missed while the machine was off runs once on
    start-up. For a system timer instead, see deploy/ (systemd) or README (cron).
    """
    state = ctx.obj
    settings = state.settings(output_dir=output_dir, database_url=database_url)
    trigger = cron_trigger(settings.schedule.cron, settings.schedule.timezone)
    overrides = state.overrides()
    if output_dir is not None:
        overrides["output_dir"] = str(output_dir)
    if database_url is not None:
        overrides["database_url"] = database_url
    plan = Schedule(
        database_url=settings.database_url,
        trigger=trigger,
        kwargs={"config": str(state.config) if state.config else None, "overrides": overrides},
        misfire_grace=timedelta(hours=settings.schedule.grace_hours),
    )

    def started(when: datetime | None) -> None:
        next_run = f"{when:%a %Y-%m-%d %H:%M %Z}" if when else "never"
        out.print(
            f"scheduled '{settings.schedule.cron}' ({settings.schedule.timezone}): "
            f"next run {next_run}; SIGTERM or Ctrl-C stops",
            markup=False,
        )

    run_forever(plan, on_start=started)
    out.print("scheduler stopped", markup=False)
