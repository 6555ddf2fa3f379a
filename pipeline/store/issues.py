"""Issues and their items: what each weekly newsletter contains, in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from pipeline.store.db import locked_session, session
from pipeline.store.models import Issue, IssueItem, Paper, Summary

HIGHLIGHT = "highlight"
LOOKBACK = timedelta(days=7)
ALSO = "also"
UPDATED = "updated"  # a paper highlighted in an earlier issue that has a new version


def candidates_for_week(engine: Engine, since: datetime, until: datetime, week: str) -> list[Paper]:
    """Papers submitted in [since, until) -- or in the week before but first seen only after
    `since` (announced late) -- that are not excluded, not near-duplicates and not already
    placed in an earlier issue."""
    featured = select(IssueItem.paper_id).where(IssueItem.issue_week < week)
    in_week = col(Paper.published) >= since
    late = (col(Paper.published) >= since - LOOKBACK) & (col(Paper.first_seen) >= since)
    with session(engine) as s:
        rows = s.exec(
            select(Paper)
            .where(
                in_week | late,
                col(Paper.published) < until,
                col(Paper.duplicate_of).is_(None),
                col(Paper.id).not_in(featured),
            )
            .order_by(col(Paper.published), col(Paper.id))
        ).all()
    return list(rows)


@dataclass(frozen=True)
class Revision:
    paper: Paper
    featured_week: str
    featured_version: int


def revised_highlights(
    engine: Engine, since: datetime, until: datetime, week: str
) -> list[Revision]:
    """Papers highlighted in an earlier issue whose newer version appeared in [since, until)."""
    with session(engine) as s:
        rows = s.exec(
            select(Paper, IssueItem)
            .join(IssueItem, col(IssueItem.paper_id) == col(Paper.id))
            .where(
                IssueItem.issue_week < week,
                IssueItem.section == HIGHLIGHT,
                col(Paper.version) > col(IssueItem.version),
                col(Paper.updated) >= since,
                col(Paper.updated) < until,
            )
            .order_by(col(Paper.updated), col(Paper.id))
        ).all()
    return [Revision(paper, item.issue_week, item.version) for paper, item in rows]


@dataclass(frozen=True)
class Placement:
    paper_id: str
    version: int
    section: str
    position: int
    score: float
    explanation: str


def save_issue(
    engine: Engine,
    week: str,
    placements: list[Placement],
    *,
    created: datetime,
    candidates: int,
    categories: list[str] | None = None,
) -> None:
    """Replace the issue's items in one transaction (its creation date is kept). An
    editor's approval stands only while the papers and their order stay the same."""
    with locked_session(engine) as s:
        issue = s.get(Issue, week, with_for_update=True)
        if issue is None:
            issue = Issue(week=week, created=created)
        before = s.exec(
            select(IssueItem.paper_id, IssueItem.section, IssueItem.position).where(
                IssueItem.issue_week == week
            )
        ).all()
        after = {(p.paper_id, p.section, p.position) for p in placements}
        if {tuple(row) for row in before} != after:
            issue.approved_at = issue.approved_by = None
        issue.candidates = candidates
        if categories is not None:
            issue.categories = list(categories)
        issue.status = "ranked"
        s.add(issue)
        write_items(s, week, placements)


def set_status(engine: Engine, week: str, status: str, *, model: str | None = None) -> None:
    with locked_session(engine) as s:
        issue = s.get(Issue, week, with_for_update=True)
        if issue is not None:
            issue.status = status
            if model is not None:
                issue.model = model
            s.add(issue)


@dataclass(frozen=True)
class LoadedItem:
    item: IssueItem
    paper: Paper
    summary: Summary | None
    oneliner: Summary | None = None
    narration: Summary | None = None  # the podcast's spoken text, when one was written


def load_issue(engine: Engine, week: str) -> tuple[Issue | None, list[LoadedItem]]:
    """The issue with its items in order, each with its paper and its newest texts."""
    with session(engine) as s:
        issue = s.get(Issue, week)
        if issue is None:
            return None, []
        rows = s.exec(
            select(IssueItem, Paper)
            .join(Paper, col(Paper.id) == col(IssueItem.paper_id))
            .where(IssueItem.issue_week == week)
            .order_by(col(IssueItem.section).desc(), col(IssueItem.position))
        ).all()
        ids = [paper.id for _, paper in rows]
        texts: dict[tuple[str, int, str], Summary] = {}
        for summ in s.exec(
            select(Summary).where(col(Summary.paper_id).in_(ids)).order_by(col(Summary.id))
        ):
            texts[(summ.paper_id, summ.version, summ.kind)] = summ
    return issue, [
        LoadedItem(
            item,
            paper,
            texts.get((paper.id, item.version, "summary")),
            texts.get((paper.id, item.version, "oneliner")),
            texts.get((paper.id, item.version, "podcast")),
        )
        for item, paper in rows
    ]


def list_issues(engine: Engine, statuses: tuple[str, ...] = ("rendered", "sent")) -> list[Issue]:
    """Issues in one of `statuses`, newest week first."""
    with session(engine) as s:
        rows = s.exec(
            select(Issue).where(col(Issue.status).in_(statuses)).order_by(col(Issue.week).desc())
        ).all()
    return list(rows)


def write_items(s: Session, week: str, placements: Sequence[Placement]) -> None:
    """Replace the issue's items with `placements`, inside the caller's transaction."""
    s.exec(delete(IssueItem).where(col(IssueItem.issue_week) == week))
    s.flush()
    s.add_all(
        IssueItem(
            issue_week=week,
            paper_id=p.paper_id,
            version=p.version,
            section=p.section,
            position=p.position,
            score=p.score,
            explanation=p.explanation,
        )
        for p in placements
    )
