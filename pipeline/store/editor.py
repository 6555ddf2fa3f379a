"""The editor's desk in the database: a week's ranked candidates, the editor's pins and drops,
text revisions, and the issue's approval. Every change the editor makes marks the issue
edited: its approval is cleared and its files are stale until the next render."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete
from sqlalchemy import select as sa_select  # typed past sqlmodel's four columns
from sqlmodel import Session, col, select

from pipeline.store.db import locked_session, session
from pipeline.store.issues import HIGHLIGHT, UPDATED, Placement, write_items
from pipeline.store.models import (
    Candidate,
    EditorPlacement,
    EditorRevision,
    Issue,
    IssueItem,
    Paper,
)


def save_candidates(engine: Engine, week: str, rows: Sequence[Candidate]) -> None:
    """Replace the week's ranked candidate list in one transaction."""
    with session(engine) as s:
        s.exec(delete(Candidate).where(col(Candidate.week) == week))
        s.add_all([Candidate.model_validate(r.model_dump()) for r in rows])


def candidates(engine: Engine, week: str) -> list[Candidate]:
    """The week's candidates, best first."""
    with session(engine) as s:
        return list(
            s.exec(select(Candidate).where(Candidate.week == week).order_by(col(Candidate.rank)))
        )


@dataclass(frozen=True)
class Listed:
    """One new candidate with what the desk shows of its paper (plain values)."""

    paper_id: str
    version: int
    rank: int
    score: float
    explanation: str
    title: str
    authors: list[str]
    categories: list[str]
    primary_category: str
    abstract: str


def listed(engine: Engine, week: str) -> list[Listed]:
    """The week's new candidates with their papers' text, best first: one query reading only
    the columns shown (the desk lists thousands)."""
    with session(engine) as s:
        rows = s.execute(
            sa_select(
                col(Candidate.paper_id),
                col(Candidate.version),
                col(Candidate.rank),
                col(Candidate.score),
                col(Candidate.explanation),
                col(Paper.title),
                col(Paper.authors),
                col(Paper.categories),
                col(Paper.primary_category),
                col(Paper.abstract),
            )
            .join(Paper, col(Paper.id) == col(Candidate.paper_id))
            .where(col(Candidate.week) == week, col(Candidate.section) != UPDATED)
            .order_by(col(Candidate.rank))
        ).all()
    return [Listed(*row) for row in rows]


def count_candidates(engine: Engine, week: str) -> int:
    """How many new candidates the week has (not counting updated papers)."""
    from sqlalchemy import func  # local: only this count needs it

    with session(engine) as s:
        q = select(func.count()).select_from(Candidate)
        q = q.where(Candidate.week == week, Candidate.section != UPDATED)
        return int(s.exec(q).one())


def is_candidate(engine: Engine, week: str, paper_id: str) -> bool:
    with session(engine) as s:
        return s.get(Candidate, (week, paper_id)) is not None


def placements(engine: Engine, week: str) -> list[EditorPlacement]:
    """The editor's pins (in their order) and drops for the week."""
    with session(engine) as s:
        rows = s.exec(select(EditorPlacement).where(EditorPlacement.week == week)).all()
    return sorted(rows, key=lambda r: (not r.pinned, r.section, r.position or 0, r.paper_id))


def _mark_edited(s: Session, week: str, now: datetime) -> None:
    issue = s.get(Issue, week)
    if issue is not None:
        issue.approved_at = issue.approved_by = None
        issue.edited_at = now
        issue.stale = True
        s.add(issue)


@contextmanager
def _week_locked(engine: Engine, week: str) -> Iterator[Session]:
    """A read-modify-write of the week's editor rows: the issue's row is locked first, so
    two editors' changes to one week apply one after the other (see db.locked_session)."""
    with locked_session(engine) as s:
        s.get(Issue, week, with_for_update=True)
        yield s


def _placement(s: Session, week: str, paper_id: str, author: str, now: datetime) -> EditorPlacement:
    row = s.get(EditorPlacement, (week, paper_id)) or EditorPlacement(
        week=week, paper_id=paper_id, author=author, updated=now
    )
    row.author, row.updated = author, now
    return row


def _keep_or_delete(s: Session, row: EditorPlacement) -> None:
    if row.pinned or row.dropped:
        s.add(row)
    elif s.get(EditorPlacement, (row.week, row.paper_id)) is not None:
        s.delete(row)


def set_pins(
    engine: Engine,
    week: str,
    order: Sequence[str],
    *,
    author: str,
    now: datetime,
    section: str = HIGHLIGHT,
) -> None:
    """The papers pinned in `section` are exactly `order`, in that order (a pinned paper is
    not dropped; one pinned in the other section moves here)."""
    with _week_locked(engine, week) as s:
        rows = s.exec(select(EditorPlacement).where(EditorPlacement.week == week)).all()
        for row in rows:
            if row.pinned and row.section == section and row.paper_id not in order:
                row.pinned, row.position = False, None
                row.author, row.updated = author, now
                _keep_or_delete(s, row)
        s.flush()
        for pos, paper_id in enumerate(order):
            row = _placement(s, week, paper_id, author, now)
            row.pinned, row.section, row.position, row.dropped = True, section, pos, False
            s.add(row)
        _mark_edited(s, week, now)


def set_dropped(
    engine: Engine, week: str, paper_id: str, dropped: bool, *, author: str, now: datetime
) -> None:
    """Drop the paper from the issue (unpinning it) or restore it."""
    with _week_locked(engine, week) as s:
        row = _placement(s, week, paper_id, author, now)
        row.dropped = dropped
        if dropped:
            row.pinned, row.position = False, None
        _keep_or_delete(s, row)
        _mark_edited(s, week, now)


def add_revision(
    engine: Engine, week: str, target: str, text: str, *, author: str, now: datetime
) -> EditorRevision:
    with _week_locked(engine, week) as s:
        row = EditorRevision(week=week, target=target, text=text, author=author, created=now)
        s.add(row)
        _mark_edited(s, week, now)
        return row


def latest_revisions(engine: Engine, week: str) -> dict[str, str]:
    """The newest text of each revised target of the week."""
    with session(engine) as s:
        rows = s.exec(
            select(EditorRevision)
            .where(EditorRevision.week == week)
            .order_by(col(EditorRevision.id))
        ).all()
    return {r.target: r.text for r in rows}


def revision_history(engine: Engine, week: str, target: str) -> list[EditorRevision]:
    """Every revision of one target, oldest first."""
    with session(engine) as s:
        return list(
            s.exec(
                select(EditorRevision)
                .where(EditorRevision.week == week, EditorRevision.target == target)
                .order_by(col(EditorRevision.id))
            )
        )


def mark_edited(engine: Engine, week: str, now: datetime) -> None:
    """Something the editor asked for changed the issue (e.g. a paper re-summarized)."""
    with session(engine) as s:
        _mark_edited(s, week, now)


def mark_rendered(engine: Engine, week: str) -> None:
    """The issue's files are current."""
    with session(engine) as s:
        issue = s.get(Issue, week)
        if issue is not None and issue.stale:
            issue.stale = False
            s.add(issue)


def set_approved(engine: Engine, week: str, *, author: str, now: datetime) -> None:
    with session(engine) as s:
        issue = s.get(Issue, week)
        if issue is None:
            raise LookupError(f"no issue {week}")
        issue.approved_at, issue.approved_by = now, author
        s.add(issue)


def get_issue(engine: Engine, week: str) -> Issue | None:
    with session(engine) as s:
        return s.get(Issue, week)


def issue_items(engine: Engine, week: str) -> list[IssueItem]:
    """The issue's items, by section and position."""
    with session(engine) as s:
        return list(
            s.exec(
                select(IssueItem)
                .where(IssueItem.issue_week == week)
                .order_by(col(IssueItem.section), col(IssueItem.position))
            )
        )


def replace_items(engine: Engine, week: str, items: Sequence[Placement]) -> None:
    """Rewrite the issue's items (its status stays: the desk re-lays out a built issue)."""
    with session(engine) as s:
        write_items(s, week, items)


def week_signals(engine: Engine, week: str, source: str) -> dict[str, set[str]]:
    """The feedback signals from `source` on each of the week's new candidates that has any."""
    from pipeline.store.models import Feedback  # local: only the desk's labels need it

    listed = select(Candidate.paper_id).where(Candidate.week == week, Candidate.section != UPDATED)
    out: dict[str, set[str]] = {}
    with session(engine) as s:
        for paper_id, signal in s.exec(
            select(Feedback.paper_id, Feedback.signal).where(
                Feedback.source == source, col(Feedback.paper_id).in_(listed)
            )
        ):
            out.setdefault(paper_id, set()).add(signal)
    return out


def kept_papers(engine: Engine, week: str) -> list[tuple[Candidate, Paper]]:
    """The week's candidates the reader kept (from any source), best first."""
    from pipeline.store.models import Feedback  # local: only the export needs it

    kept = select(Feedback.paper_id).where(Feedback.signal == "kept")
    with session(engine) as s:
        rows = s.exec(
            select(Candidate, Paper)
            .join(Paper, col(Paper.id) == col(Candidate.paper_id))
            .where(Candidate.week == week, col(Candidate.paper_id).in_(kept))
            .order_by(col(Candidate.rank))
        ).all()
    return [(c, p) for c, p in rows]
