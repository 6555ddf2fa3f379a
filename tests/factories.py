"""Rows for tests that need stored papers and issues without running the pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine

from pipeline.store.db import session
from pipeline.store.issues import LoadedItem, Placement, save_issue, set_status
from pipeline.store.models import IssueItem, Paper, Summary

NOW = datetime(2026, 6, 16, 12, 0, tzinfo=UTC)


def paper(
    pid: str,
    title: str | None = None,
    *,
    version: int = 1,
    when: datetime = NOW,
    updated: datetime | None = None,
    abstract: str = "An abstract.",
    category: str = "cs.LG",
    categories: Sequence[str] | None = None,  # default: just `category`
    authors: Sequence[str] = ("A. Author",),
) -> Paper:
    return Paper(
        id=pid,
        version=version,
        title=title if title is not None else f"Paper {pid}",
        abstract=abstract,
        authors=list(authors),
        categories=list(categories or [category]),
        primary_category=category,
        published=when,
        updated=updated or when,
        first_seen=when,
        last_changed=updated or when,
        title_key=pid,
        content_hash=f"{pid}v{version}",
    )


def summary(
    pid: str,
    text: str,
    *,
    version: int = 1,
    when: datetime = NOW,
    kind: str = "summary",
    flags: Sequence[str] = (),
) -> Summary:
    return Summary(
        paper_id=pid,
        version=version,
        kind=kind,
        prompt_hash="p",
        model="m",
        params_hash="q",
        text=text,
        created=when,
        flags=list(flags),
    )


def loaded_item(
    n: int,
    section: str,
    position: int,
    title: str,
    abstract: str,
    *,
    authors: Sequence[str],
    explanation: str,
    summary_text: str | None = None,
    flags: Sequence[str] = (),
    category: str = "cs.LG",
) -> LoadedItem:
    """An issue item as the renderers get it: paper 2606.<n> v2, its placement and summary."""
    row = paper(
        f"2606.{n:05d}",
        title,
        version=2,
        abstract=abstract,
        category=category,
        categories=[category, "stat.ML"],
        authors=authors,
    )
    item = IssueItem(
        issue_week="2026-W25",
        paper_id=row.id,
        version=2,
        section=section,
        position=position,
        score=0.5,
        explanation=explanation,
    )
    text = None
    if summary_text is not None:
        text = summary(row.id, summary_text, version=2, flags=flags)
    return LoadedItem(item, row, text)


def stored_issue(
    engine: Engine,
    week: str,
    entries: Sequence[tuple[Paper, str, str | None]],
    *,
    created: datetime = NOW,
    status: str = "rendered",
    explanation: str = "matches 'depth'",
) -> None:
    """Papers (with a summary when given) placed in `week` as (paper, section, summary)."""
    placements = []
    positions: dict[str, int] = {}
    with session(engine) as s:
        for row, section, text in entries:
            s.add(row)
            if text is not None:
                s.add(summary(row.id, text, version=row.version, when=created))
            position = positions.get(section, 0)
            positions[section] = position + 1
            placements.append(Placement(row.id, row.version, section, position, 0.5, explanation))
    save_issue(engine, week, placements, created=created, candidates=10)
    set_status(engine, week, status, model="m")
