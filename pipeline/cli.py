"""The command layer: parse flags, build settings and clients once, call the stages.

User errors (`NewsletterError`) become one line on stderr and an exit code;
anything else is a bug and raises.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import httpx
import typer
from rich.console import Console

from pipeline import runner
from pipeline.config import Settings, load_settings
from pipeline.db import open_database
from pipeline.errors import ConfigError, NewsletterError
from pipeline.fulltext import FullTextFetcher
from pipeline.llm.factory import chat_model, embedder
from pipeline.records import Window, last_complete_week, parse_day, parse_week, week_window
from pipeline.sources.arxiv import ArxivSource
from pipeline.summarize import Estimate, SummarizeResult

app = typer.Typer(
    help="Turn each week's new arXiv papers into a newsletter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)
P = ParamSpec("P")
R = TypeVar("R")


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a NewsletterError into one line on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except NewsletterError as exc:
            err.print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


class State:
    def __init__(self, config: Path | None, sets: list[str]) -> None:
        self.config = config
        self.sets = sets

    def settings(self, **flags: Any) -> Settings:
        overrides: dict[str, Any] = {}
        for item in self.sets:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"--set needs KEY=VALUE, got {item!r}")
            overrides[key.strip().replace("-", "_")] = value
        overrides.update({k: v for k, v in flags.items() if v is not None})
        return load_settings(self.config, overrides)


@contextmanager
def pipeline_for(settings: Settings) -> Iterator[runner.Pipeline]:
    """The stages' shared clients, built once from settings and closed at the end."""
    with ExitStack() as stack:
        engine = open_database(settings.database_url)
        stack.callback(engine.dispose)
        http = stack.enter_context(
            httpx.Client(timeout=settings.arxiv_timeout_seconds, follow_redirects=True)
        )

        def source() -> ArxivSource:
            return ArxivSource(
                settings.arxiv_url,
                http=http,
                page_size=settings.arxiv_page_size,
                delay_seconds=settings.arxiv_delay_seconds,
                retries=settings.arxiv_retries,
            )

        def fulltext() -> FullTextFetcher:
            return FullTextFetcher(
                http,
                html_base=settings.fulltext_html_url,
                pdf_base=settings.fulltext_pdf_url,
                cache_dir=settings.cache_dir / "fulltext",
            )

        yield runner.Pipeline(
            settings=settings,
            engine=engine,
            source=source,
            chat=lambda: chat_model(settings),  # each stage closes the model it used
            fulltext=fulltext,
            embedder=functools.cache(lambda: embedder(settings)),
        )


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Settings file (default: ./newsletter.toml)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override any setting: --set highlights=7 (repeatable)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    ctx.obj = State(config, set_ or [])


WeekOpt = Annotated[str | None, typer.Option("--week", "-w", help="ISO week, e.g. 2026-W25.")]
OutOpt = Annotated[Path | None, typer.Option("--output-dir", help="Where issues are written.")]
DbOpt = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy database URL.")]
BudgetOpt = Annotated[
    float | None,
    typer.Option("--budget", min=0, help="Stop starting LLM calls once this many USD are spent."),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the LLM calls, tokens and cost; send nothing.")
]


def _week(value: str | None, p: runner.Pipeline) -> str:
    return parse_week(value) if value else last_complete_week(p.now())


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
        target = _week(week, p)
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
        target = _week(week, p)
        if dry_run:
            _print_estimate(target, runner.estimate_summaries(p, target), p.settings.model_name)
            return
        r = runner.summarize(p, target, budget_usd=budget)
    _print_summaries(f"summarized {target}", r)


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
        + (f", {s.over_budget} over budget" if s.over_budget else "")
        + f" ({s.calls} calls, {s.input_tokens} input / {s.output_tokens} output tokens, "
        f"${s.cost_usd:.4f})"
    )
    if s.flagged:
        out.print(f"{s.flagged} texts contain numbers not found in their source (flagged)")
    if s.failed or s.over_budget:
        err.print(
            f"warning: {s.failed + s.over_budget} texts were not written; "
            "those papers show their abstract"
        )


@app.command()
@user_errors
def render(
    ctx: typer.Context,
    week: WeekOpt = None,
    output_dir: OutOpt = None,
    database_url: DbOpt = None,
    templates: Annotated[
        Path | None, typer.Option(help="Template directory that overrides the built-ins.")
    ] = None,
) -> None:
    """Write the issue's files from stored data (no LLM call)."""
    with pipeline_for(ctx.obj.settings(output_dir=output_dir, database_url=database_url)) as p:
        paths = runner.render(p, _week(week, p), templates)
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
) -> None:
    """The weekly job: fetch, rank, summarize, render (--dry-run stops before the LLM)."""
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
        result = runner.run(p, target, budget_usd=budget)
    _report(result)


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
        with pipeline_for(settings) as p:
            result = runner.run(p, DEMO_WEEK)
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
    """Show the last runs of each stage."""
    from pipeline.store.runs import recent_runs

    settings = ctx.obj.settings(database_url=database_url)
    engine = open_database(settings.database_url)
    try:
        runs = recent_runs(engine)
    finally:
        engine.dispose()
    for r in runs:
        took = f"{(r.finished - r.started).total_seconds():.1f}s" if r.finished else "-"
        out.print(
            f"{r.started:%Y-%m-%d %H:%M} {r.stage:<9} {r.week or '':<8} {r.status:<8} "
            f"{took:>7} {r.counts} {r.error or ''}",
            markup=False,
        )


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


feedback_app = typer.Typer(help="Tell the ranker what you like: it learns from this.")
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("add")
@user_errors
def feedback_add(
    ctx: typer.Context,
    paper_id: Annotated[str, typer.Argument(metavar="ID", help="arXiv id, e.g. 2606.14173.")],
    like: Annotated[bool, typer.Option("--like", help="More papers like this.")] = False,
    dislike: Annotated[bool, typer.Option("--dislike", help="Fewer papers like this.")] = False,
    database_url: DbOpt = None,
) -> None:
    """Record that you like or dislike a paper."""
    from pipeline.store.feedback import add_feedback

    if like == dislike:
        raise ConfigError("give exactly one of --like or --dislike")
    settings = ctx.obj.settings(database_url=database_url)
    engine = open_database(settings.database_url)
    try:
        row = add_feedback(engine, paper_id.strip(), "like" if like else "dislike")
    finally:
        engine.dispose()
    out.print(f"recorded: {row.signal} {row.paper_id} ({row.title})", markup=False)


@feedback_app.command("import")
@user_errors
def feedback_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="FILE.csv", help="Title,ArXiv Link,... CSV.")],
    label: Annotated[
        str, typer.Option(help="What the rows mean: downloaded, kept, liked or disliked.")
    ],
    database_url: DbOpt = None,
) -> None:
    """Import a reading log (columns Title,ArXiv Link,Paper Date,Date Added); idempotent."""
    from pipeline.store.feedback import import_reading_log

    settings = ctx.obj.settings(database_url=database_url)
    engine = open_database(settings.database_url)
    try:
        report = import_reading_log(engine, path, label)
    finally:
        engine.dispose()
    out.print(
        f"imported {path}: {report.added} added, {report.already} already there, "
        f"{len(report.rejected)} rejected",
        markup=False,
    )
    for reason in report.rejected[:20]:
        err.print(f"  rejected {reason}", markup=False)
    if len(report.rejected) > 20:
        err.print(f"  ... and {len(report.rejected) - 20} more", markup=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
