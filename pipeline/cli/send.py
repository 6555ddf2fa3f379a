"""`newsletter send WEEK`: email an issue to the active subscribers, each exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import DbOpt, OutOpt, err, out, user_errors
from pipeline.errors import PARTIAL, UserInputError
from pipeline.ops.progress import Bars
from pipeline.records import parse_week
from pipeline.store.db import open_database


def register(app: typer.Typer) -> None:
    app.command()(send)


@user_errors
def send(
    ctx: typer.Context,
    week: Annotated[str, typer.Argument(metavar="WEEK", help="ISO week, e.g. 2026-W25.")],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Write the messages as .eml files; send nothing."),
    ] = False,
    outbox: Annotated[
        Path | None,
        typer.Option(
            "--outbox",
            metavar="DIR",
            help="Where --dry-run writes (default OUTPUT_DIR/issues/WEEK/outbox); implies it.",
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", metavar="ADDRESS", help="Send one test copy here (not recorded as sent)."
        ),
    ] = None,
    database_url: DbOpt = None,
    output_dir: OutOpt = None,
) -> None:
    """Email an issue to every active subscriber not sent it yet; safe to rerun after a crash.

    Needs NEWSLETTER_SECRET_KEY (signed links), a From address and the [smtp] settings."""
    from pipeline.mail.send import send_issue, send_test, write_outbox

    target = parse_week(week)
    if to is not None and (dry_run or outbox is not None):
        raise UserInputError("--to sends one test copy and --dry-run sends nothing: give one")
    settings = ctx.obj.settings(database_url=database_url, output_dir=output_dir)
    engine = open_database(settings.database_url)
    try:
        if to is not None:
            message_id = send_test(engine, settings, target, to)
            out.print(f"sent a test copy of {target} to {to} ({message_id})", markup=False)
            return
        if dry_run or outbox is not None:
            box = write_outbox(engine, settings, target, outbox)
            out.print(
                f"dry run {target}: {len(box.paths)} messages written to {box.directory}, "
                f"{box.skipped} already sent; nothing sent",
                markup=False,
            )
            return
        result = send_issue(engine, settings, target, progress=Bars(err))
    finally:
        engine.dispose()
    out.print(result.summary(), markup=False)
    if result.stopped:
        err.print(
            f"error: stopped early: {result.stopped}; run `newsletter send {target}` again "
            "to send the rest",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    if result.failed:
        raise typer.Exit(PARTIAL)  # some deliveries failed: a rerun tries them again
