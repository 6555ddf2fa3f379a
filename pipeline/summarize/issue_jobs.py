"""The LLM texts an issue needs: which kinds, for which papers, from which source text."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.config import Settings
from pipeline.fetch.fulltext import FullTextFetcher
from pipeline.store.issues import ALSO, HIGHLIGHT, LoadedItem
from pipeline.summarize.texts import ONELINER, PODCAST, SUMMARY, Job, SourceText, make_job


def oneliners_enabled(settings: Settings) -> bool:
    """'auto': from an endpoint yes; the small local model writes worse one-liners than the
    abstract's own first sentence, so not from it."""
    if settings.summaries.oneliners == "auto":
        return not settings.uses_local_model
    return settings.summaries.oneliners == "on"


def narration_enabled(settings: Settings) -> bool:
    """'auto': from an endpoint yes; the small local model's narration is no better than its
    summary, so the podcast reads the summary instead."""
    if settings.podcast.narration == "auto":
        return not settings.uses_local_model
    return settings.podcast.narration == "on"


def issue_jobs(
    items: list[LoadedItem],
    s: Settings,
    fulltext: Callable[[], FullTextFetcher] | None = None,
) -> list[Job]:
    """A summary (and podcast narration, if enabled) for each highlight, of its full text if
    configured; a one-liner for each also-this-week item (updated papers need none)."""
    jobs = []
    for loaded in items:
        paper = loaded.paper
        if loaded.item.section == HIGHLIGHT:
            source = None
            if s.summaries.full_text and fulltext is not None:
                full = fulltext().fetch(
                    paper.id,
                    paper.version,
                    fallback=paper.abstract,
                    budget_tokens=s.summaries.full_text_tokens,
                )
                source = SourceText(full.text, full.source, full.note or None)
            kinds = [SUMMARY, PODCAST] if narration_enabled(s) else [SUMMARY]
        elif loaded.item.section == ALSO and oneliners_enabled(s):
            source, kinds = None, [ONELINER]
        else:
            continue
        jobs += [
            make_job(
                paper,
                kind,
                max_tokens=s.llm.max_tokens,
                temperature=s.llm.temperature,
                source=source,
            )
            for kind in kinds
        ]
    return jobs
