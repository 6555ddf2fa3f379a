"""`newsletter fetch|rank|summarize|render|regenerate`: one stage at a time (each reads the
database and writes its result there), and an issue re-rendered from stored data."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
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
    TemplatesOpt,
    WeekOpt,
    out,
    pipeline_for,
    user_errors,
    week_or_default,
)
from pipeline.cli.report import (
    exit_partial,
    print_estimate,
    print_fetch,
    print_rank,
    print_summaries,
)
from pipeline.config import Settings
from pipeline.errors import ConfigError, UserInputError
from pipeline.records import Window, parse_day, parse_week, week_window


def register(app: typer.Typer) -> None:
    app.command()(fetch)
    app.command()(rank)
    app.command()(summarize)
    app.command()(render)
    app.command()(regenerate)


@user_errors
def fetch(
    ctx: typer.Context,
    week: WeekOpt = None,
    since: Annotated[str | None, typer.Option(help="Start date (UTC), YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="End date (UTC, exclusive).")] = None,
    database_url: DbOpt = None,
) -> None:
    """Fetch new arXiv papers into the database (default: everything since the last fetch)."""
    settings = ctx.obj.settings(database_url=database_url)
    window: Window | None = None
    if week and (since or until):
        raise ConfigError("give either --week or --since/--until, not both")
    if week:
        window = week_window(week)
    elif since or until:
        if not (since and until):
            raise ConfigError("--since and --until go together")
        window = Window(parse_day(since, key="--since"), parse_day(until, key="--until"))
    with pipeline_for(settings) as p:
        print_fetch(runner.fetch(p, window))


@contextmanager
def _issue_stage(
    settings: Settings, week: str | None, command: str
) -> Iterator[tuple[runner.Pipeline, str]]:
    """The pipeline and the week (default: the last complete one), its run lock held."""
    with pipeline_for(settings) as p:
        target = week_or_default(week, p)
        with runner.locked(p, target, command):
            yield p, target


@user_errors
def rank(ctx: typer.Context, week: WeekOpt = None, database_url: DbOpt = None) -> None:
    """Rank the week's papers by your interests and place them in the issue."""
    with _issue_stage(ctx.obj.settings(database_url=database_url), week, "rank") as (p, target):
        r = runner.rank(p, target)
    print_rank(target, r)


@user_errors
def summarize(
    ctx: typer.Context,
    week: WeekOpt = None,
    database_url: DbOpt = None,
    budget: BudgetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Summarize the issue's papers with the LLM (cached; --dry-run estimates the cost)."""
    settings = ctx.obj.settings(database_url=database_url)
    if dry_run:
        with pipeline_for(settings) as p:
            target = week_or_default(week, p)
            print_estimate(target, runner.estimate_summaries(p, target), settings.model_name)
        return
    wiring.check_llm(settings)
    with _issue_stage(settings, week, "summarize") as (p, target):
        r = runner.summarize(p, target, budget_usd=budget)
    print_summaries(f"summarized {target}", r)
    exit_partial(r)


@user_errors
def render(
    ctx: typer.Context,
    week: WeekOpt = None,
    output_dir: OutOpt = None,
    database_url: DbOpt = None,
    templates: TemplatesOpt = None,
    audio: AudioOpt = False,
) -> None:
    """Write the issue's files and the archive site from stored data (no LLM call)."""
    settings = ctx.obj.settings(output_dir=output_dir, database_url=database_url)
    with _issue_stage(settings, week, "render") as (p, target):
        paths = runner.render(p, target, templates, audio=audio)
    for path in paths:
        out.print(f"wrote {path}")


def _digests(directory: Path) -> dict[Path, str]:
    if not directory.exists():
        return {}
    return {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@user_errors
def regenerate(
    ctx: typer.Context,
    week: Annotated[str, typer.Argument(metavar="WEEK", help="ISO week, e.g. 2026-W25.")],
    resummarize: Annotated[
        bool, typer.Option("--resummarize", help="Write the summaries again (LLM calls).")
    ] = False,
    templates: TemplatesOpt = None,
    audio: AudioOpt = False,
    output_dir: OutOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Re-render an issue from stored data: no LLM call, same bytes when nothing changed."""
    target = parse_week(week)
    if templates is not None and not templates.is_dir():
        raise UserInputError(f"--templates {templates}: not a directory of Jinja templates")
    settings = ctx.obj.settings(output_dir=output_dir, database_url=database_url)
    issue_dir = settings.output_dir / "issues" / target
    before = _digests(issue_dir)
    with pipeline_for(settings) as p:
        summarized, paths = runner.regenerate(
            p, target, resummarize=resummarize, templates=templates, audio=audio
        )
    after = _digests(issue_dir)
    changed = [path for path in paths if before.get(path) != after.get(path)]
    calls = summarized.calls if summarized else 0
    for path in paths:
        out.print(f"{'changed  ' if path in changed else 'unchanged'} {path}", markup=False)
    out.print(
        f"regenerated {target}: {len(paths)} files, {len(changed)} changed, {calls} LLM calls; "
        f"archive site in {settings.output_dir / 'site'}",
        markup=False,
    )
