"""The command layer: parse flags, build settings and clients once, call the stages.

User errors (`NewsletterError`) become one line on stderr and an exit code;
anything else is a bug and raises.  Commands live here and in `cli_feedback` and
`cli_publish`; what they share is in `cli_common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline import (
    cli_feedback,
    cli_publish,
    cli_schedule,
    cli_send,
    cli_subscribers,
    runner,
    wiring,
)
from pipeline.cli_common import (
    AudioOpt,
    BudgetOpt,
    DbOpt,
    DryRunOpt,
    OutOpt,
    TemplatesOpt,
    WeekOpt,
    app,
    err,
    out,
    pipeline_for,
    user_errors,
    week_or_default,
)
from pipeline.errors import ConfigError, NewsletterError
from pipeline.records import Window, parse_day, parse_week, week_window
from pipeline.store.db import open_database
from pipeline.summarize.texts import Estimate, SummarizeResult

__all__ = [
    "app",
    "cli_feedback",
    "cli_publish",
    "cli_schedule",
    "cli_send",
    "cli_subscribers",
    "main",
]


def _print_fetch(result: runner.FetchResult) -> None:
    c, w = result.counts, result.window
    out.print(
        f"fetched {w.since:%Y-%m-%d %H:%M} .. {w.until:%Y-%m-%d %H:%M} UTC: "
        f"{c.new} new, {c.updated} updated, {c.unchanged} unchanged, {c.excluded} excluded"
        + (f" ({c.near_duplicates} near-duplicates linked)" if c.near_duplicates else "")
    )


@app.command()
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
        _print_fetch(runner.fetch(p, window))


@app.command()
@user_errors
def rank(ctx: typer.Context, week: WeekOpt = None, database_url: DbOpt = None) -> None:
    """Rank the week's papers by your interests and place them in the issue."""
    with pipeline_for(ctx.obj.settings(database_url=database_url)) as p:
        target = week_or_default(week, p)
        with runner.locked(p, target, "rank"):
            r = runner.rank(p, target)
    _print_rank(target, r)


@app.command()
@user_errors
def summarize(
    ctx: typer.Context,
    week: WeekOpt = None,
    database_url: DbOpt = None,
    budget: BudgetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Summarize the issue's papers with the LLM (cached; --dry-run estimates the cost)."""
    with pipeline_for(ctx.obj.settings(database_url=database_url)) as p:
        target = week_or_default(week, p)
        if dry_run:
            _print_estimate(target, runner.estimate_summaries(p, target), p.settings.model_name)
            return
        wiring.check_llm(p.settings)
        with runner.locked(p, target, "summarize"):
            r = runner.summarize(p, target, budget_usd=budget)
    _print_summaries(f"summarized {target}", r)
    _exit_partial(r)


def _print_estimate(week: str, e: Estimate, model: str) -> None:
    cost = f"${e.cost_usd:.4f}" if e.priced else "unknown (no price for this model)"
    out.print(
        f"dry run, {week}: {e.calls} LLM calls to {model} ({e.cached} cached), about "
        f"{e.input_tokens:,} input + at most {e.output_tokens:,} output tokens, cost at most "
        f"{cost}; nothing was sent"
    )


def _print_summaries(prefix: str, s: SummarizeResult) -> None:
    out.print(
        f"{prefix}: {s.made} new, {s.cached} cached, {s.failed} failed"
        + (f", {s.known_failed} failed before" if s.known_failed else "")
        + (f", {s.over_budget} over budget" if s.over_budget else "")
        + f" ({s.calls} calls, {s.input_tokens} input / {s.output_tokens} output tokens, "
        f"${s.cost_usd:.4f})"
    )
    if s.flagged:
        out.print(f"{s.flagged} texts contain numbers not found in their source (flagged)")
    if s.model_gone:
        err.print(
            f"warning: {s.model_gone}; {s.failed + s.over_budget} texts were not written "
            "(those papers show their abstract; run again to write them)",
            markup=False,
            soft_wrap=True,
        )
    elif s.failed or s.over_budget:
        err.print(
            f"warning: {s.failed + s.over_budget} texts were not written; "
            "those papers show their abstract"
        )
    if s.known_failed:
        out.print(
            f"{s.known_failed} texts failed in an earlier run and were not asked again (their "
            "papers show their abstract); `newsletter regenerate WEEK --resummarize` asks again"
        )


@app.command()
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
    with pipeline_for(ctx.obj.settings(output_dir=output_dir, database_url=database_url)) as p:
        target = week_or_default(week, p)
        with runner.locked(p, target, "render"):
            paths = runner.render(p, target, templates, audio=audio)
    for path in paths:
        out.print(f"wrote {path}")


@app.command()
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
) -> None:
    """The weekly job: fetch, rank, summarize, render (--dry-run stops before the LLM);
    with --send, also email it (never twice to anyone)."""
    target = parse_week(week) if week else None
    with pipeline_for(ctx.obj.settings(output_dir=output_dir, database_url=database_url)) as p:
        if dry_run:
            week_name, fetched, ranked = runner.fetch_and_rank(p, target, llm=False)
            _print_fetch(fetched)
            _print_rank(week_name, ranked)
            _print_estimate(
                week_name, runner.estimate_summaries(p, week_name), p.settings.model_name
            )
            return
        wiring.check_llm(p.settings)
        if send:
            wiring.check_smtp(p.settings)
        result = runner.run(p, target, budget_usd=budget, audio=audio)
        _report(result)
        if send:
            from pipeline.mail.send import send_issue

            sent = send_issue(p.engine, p.settings, result.week, progress=p.progress)
            out.print(sent.summary(), markup=False)
            if sent.stopped:
                raise NewsletterError(
                    f"sending stopped early: {sent.stopped}; run `newsletter send "
                    f"{result.week}` to send the rest"
                )
            if sent.failed:
                raise typer.Exit(PARTIAL)
    _exit_partial(result.summarized)


PARTIAL = 3  # exit code: the stage finished, but some texts (or deliveries) failed


def _exit_partial(s: SummarizeResult) -> None:
    if s.failed or s.over_budget:
        raise typer.Exit(PARTIAL)


def _print_rank(week: str, r: runner.RankResult) -> None:
    out.print(
        f"ranked {week}: {r.candidates} candidates, {r.highlights} highlights, "
        f"{r.also} also this week"
    )


def _report(result: runner.RunResult) -> None:
    _print_fetch(result.fetched)
    _print_rank(result.week, result.ranked)
    _print_summaries("summaries", result.summarized)
    for path in result.files:
        out.print(f"wrote {path}")


@app.command()
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
    _report(result)


@app.command("arxiv-server")
@user_errors
def arxiv_server(
    data: Annotated[Path, typer.Argument(help="A .jsonl listing file or a folder of them.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8088,
) -> None:
    """Serve listing files as a local arXiv-compatible API (for demos and benchmarks)."""
    from pipeline.devservers.arxiv_api import main as serve

    raise typer.Exit(serve([str(data), "--port", str(port)]))


@app.command()
@user_errors
def status(ctx: typer.Context, database_url: DbOpt = None) -> None:
    """The newest issue's progress, the last run of each stage, the schedule and any run
    in progress."""
    from pipeline.ops.schedule import stored_next_fire_time
    from pipeline.ops.status import describe_issue, describe_run, report
    from pipeline.store.db import utcnow

    settings = ctx.obj.settings(database_url=database_url)
    engine = open_database(settings.database_url)
    try:
        rep = report(engine)
    finally:
        engine.dispose()
    now = utcnow()
    nxt = stored_next_fire_time(settings.database_url)
    out.print(
        f"schedule: next run {nxt:%a %Y-%m-%d %H:%M %Z} ('{settings.schedule_cron}')"
        if nxt
        else "schedule: none stored (start `newsletter schedule`, or use cron/systemd)",
        markup=False,
    )
    for lock in rep.locks:
        age = (now - lock.heartbeat_at.replace(tzinfo=now.tzinfo)).total_seconds()
        out.print(
            f"in progress: `{lock.command}` on {lock.name.removeprefix('week:')} "
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


@app.command("rank-csv")
def rank_csv(
    train: Annotated[Path, typer.Argument(help="Labelled history: id,title,...,label.")],
    candidates: Annotated[Path, typer.Argument(help="Candidates: id,title,date,added,week.")],
    out: Annotated[Path, typer.Argument(help="Where to write id,score.")],
    cache_dir: Annotated[
        Path | None, typer.Option(help="Embedding cache (default: db/cache).")
    ] = None,
    description: Annotated[str, typer.Option(help="Interest description (cold start).")] = "",
) -> None:
    """The ranking benchmark's CSV contract: train on TRAIN, score CANDIDATES into OUT."""
    from pipeline.ranking.rank_csv import main as rank_csv_main

    argv = [str(train), str(candidates), str(out), "--description", description]
    if cache_dir is not None:
        argv += ["--cache-dir", str(cache_dir)]
    raise typer.Exit(rank_csv_main(argv))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
