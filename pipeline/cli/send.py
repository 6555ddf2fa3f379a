"""`newsletter send WEEK`: email an issue to the active subscribers, each exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline import runner
from pipeline.cli.common import DbOpt, OutOpt, WorkersOpt, out, pipeline_for, user_errors
from pipeline.cli.report import exit_partial, print_sent
from pipeline.errors import UserInputError
from pipeline.records import parse_week


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
    workers: WorkersOpt = None,
    database_url: DbOpt = None,
    output_dir: OutOpt = None,
) -> None:
    """Email an issue to every active subscriber not sent it yet; safe to rerun after a crash.

    Needs NEWSLETTER_SECRET_KEY (signed links), a From address and the [smtp] settings.
    Several `send` processes, on this host or others, may send the same issue at once."""
    from pipeline.mail.send import issue_mail, send_test, write_outbox

    target = parse_week(week)
    if to is not None and (dry_run or outbox is not None):
        raise UserInputError("--to sends one test copy and --dry-run sends nothing: give one")
    settings = ctx.obj.settings(database_url=database_url, output_dir=output_dir)
    with pipeline_for(settings) as p:
        if to is not None:
            message_id = send_test(p.engine, settings, target, to)
            out.print(f"sent a test copy of {target} to {to} ({message_id})", markup=False)
            return
        if dry_run or outbox is not None:
            directory = outbox or settings.output_dir / "issues" / target / "outbox"
            box = write_outbox(p.engine, issue_mail(p.engine, settings, target), directory)
            out.print(
                f"dry run {target}: {len(box.paths)} messages written to {box.directory}, "
                f"{box.skipped} already sent; nothing sent",
                markup=False,
            )
            return
        result = runner.send(p, target, workers=workers)
    print_sent(result)
    exit_partial(result)  # some deliveries failed: a rerun tries them again
