"""`newsletter run` and `newsletter demo`: the weekly job, against arXiv or fully offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline import runner, wiring
from pipeline.cli.common import (
    AudioOpt,
    BudgetOpt,
    DbOpt,
    DryRunOpt,
    OutOpt,
    WeekOpt,
    WorkersOpt,
    out,
    pipeline_for,
    user_errors,
)
from pipeline.cli.report import exit_partial, print_dry_run, print_run
from pipeline.errors import UserInputError
from pipeline.mail.editor import desk_url
from pipeline.records import parse_week


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(demo)


@user_errors
def run(
    ctx: typer.Context,
    week: WeekOpt = None,
    output_dir: OutOpt = None,
    database_url: DbOpt = None,
    budget: BudgetOpt = None,
    dry_run: DryRunOpt = False,
    audio: AudioOpt = False,
    send: Annotated[
        bool, typer.Option("--send", help="Then email the issue to active subscribers.")
    ] = False,
    workers: WorkersOpt = None,
) -> None:
    """The weekly job: fetch, rank, summarize, render (--dry-run stops before the LLM);
    with --send, also email it (never twice to anyone)."""
    target = parse_week(week) if week else None
    if workers is not None and not send:
        raise UserInputError("--workers sets the connections of --send: give --send too")
    with pipeline_for(ctx.obj.settings(output_dir=output_dir, database_url=database_url)) as p:
        if dry_run:
            print_dry_run(runner.dry_run(p, target), p.settings.model_name)
            return
        wiring.check_llm(p.settings)
        if send:
            wiring.check_smtp(p.settings)
        result = runner.run(p, target, budget_usd=budget, audio=audio, send=send, workers=workers)
    print_run(result)
    if p.settings.desk.approval == "required" and not send:
        out.print(
            f"issue {result.week} awaits approval: review it at "
            f"{desk_url(p.settings, result.week)}, then `newsletter approve {result.week}`",
            markup=False,
        )
    exit_partial(result.summarized, result.sent)


@user_errors
def demo(
    ctx: typer.Context,
    output_dir: Annotated[Path, typer.Option(help="Where the demo writes.")] = Path("out/demo"),
    audio: AudioOpt = False,
) -> None:
    """The weekly job fully offline: a local arXiv-compatible server with a bundled sample."""
    from pipeline.demo import DEMO_WEEK, sample_path
    from pipeline.devservers.arxiv_api import ArxivAPIServer, load_listing

    records = load_listing(sample_path())
    with ArxivAPIServer(records) as server:
        settings = ctx.obj.settings(
            arxiv_url=server.url,
            arxiv_delay_seconds=0,
            output_dir=output_dir,
            database_url=f"sqlite:///{output_dir / 'demo.sqlite3'}",
        )
        out.print(
            f"demo: serving {len(records)} sample papers at {server.url}; "
            f"summaries by {settings.model_name}"
        )
        wiring.check_llm(settings)
        with pipeline_for(settings) as p:
            result = runner.run(p, DEMO_WEEK, audio=audio)
    print_run(result)
