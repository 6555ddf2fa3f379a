"""What the stage commands print: one line per stage result, and the exit code of a stage
that finished with some texts or deliveries missing."""

from __future__ import annotations

import typer

from pipeline import runner
from pipeline.cli.common import err, out
from pipeline.errors import PARTIAL, NewsletterError
from pipeline.mail.batch import SendResult
from pipeline.summarize.texts import Estimate, SummarizeResult


def print_fetch(result: runner.FetchResult) -> None:
    c, w = result.counts, result.window
    out.print(
        f"fetched {w.since:%Y-%m-%d %H:%M} .. {w.until:%Y-%m-%d %H:%M} UTC: "
        f"{c.new} new, {c.updated} updated, {c.unchanged} unchanged, {c.excluded} excluded"
        + (f" ({c.near_duplicates} near-duplicates linked)" if c.near_duplicates else "")
    )


def print_rank(week: str, r: runner.RankResult) -> None:
    out.print(
        f"ranked {week}: {r.candidates} candidates, {r.highlights} highlights, "
        f"{r.also} also this week"
    )


def print_estimate(week: str, e: Estimate, model: str) -> None:
    cost = f"${e.cost_usd:.4f}" if e.priced else "unknown (no price for this model)"
    out.print(
        f"dry run, {week}: {e.calls} LLM calls to {model} ({e.cached} cached), about "
        f"{e.input_tokens:,} input + at most {e.output_tokens:,} output tokens, cost at most "
        f"{cost}; nothing was sent"
    )


def print_dry_run(result: runner.DryRun, model: str) -> None:
    print_fetch(result.fetched)
    print_rank(result.week, result.ranked)
    print_estimate(result.week, result.estimate, model)


def print_summaries(prefix: str, s: SummarizeResult) -> None:
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


def print_sent(result: SendResult) -> None:
    """The send's counts; a send that stopped early is an error naming what sends the rest."""
    out.print(result.summary(), markup=False)
    if result.stopped:
        raise NewsletterError(result.stopped_note())


def print_run(result: runner.RunResult) -> None:
    print_fetch(result.fetched)
    print_rank(result.week, result.ranked)
    print_summaries("summaries", result.summarized)
    for path in result.files:
        out.print(f"wrote {path}")
    if result.sent is not None:
        print_sent(result.sent)


def exit_partial(*results: SummarizeResult | SendResult | None) -> None:
    """Exit with `PARTIAL` when a stage finished with some texts or deliveries missing."""
    if any(r is not None and runner.outcome(r)[0] == "partial" for r in results):
        raise typer.Exit(PARTIAL)
