"""The reader's feedback: likes and dislikes, clicks, imported reading logs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from pipeline.clock import utcnow
from pipeline.store.db import locked_session, locked_transaction, session
from pipeline.store.models import Feedback, Paper

# "seen": shown and not (yet) picked -- a negative example unless another signal says more.
SIGNALS = {"like": 1, "dislike": -1, "downloaded": 1, "kept": 1, "click": 1, "seen": 0}
WEIGHTS = {
    "like": 2.0,
    "kept": 2.0,
    "downloaded": 1.0,
    "click": 1.0,
    "dislike": 1.0,
    "seen": 1.0,
}


def add_feedback(
    engine: Engine, paper_id: str, signal: str, source: str = "cli"
) -> Feedback | None:
    """Record one signal; a like replaces an earlier dislike from the same source (and back).
    None, and nothing recorded, when the paper is not in the database."""
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}")
    with locked_session(engine) as s:  # one paper's feedback is changed one at a time
        paper = s.get(Paper, paper_id, with_for_update=True)
        if paper is None:
            return None
        opposite = {"like": "dislike", "dislike": "like"}.get(signal)
        if opposite:
            s.exec(
                delete(Feedback).where(
                    col(Feedback.paper_id) == paper_id,
                    col(Feedback.signal) == opposite,
                    col(Feedback.source) == source,
                )
            )
        row = s.exec(
            select(Feedback).where(
                Feedback.paper_id == paper_id, Feedback.signal == signal, Feedback.source == source
            )
        ).first() or Feedback(
            paper_id=paper_id, signal=signal, value=SIGNALS[signal], source=source, at=utcnow()
        )
        row.title, row.paper_date, row.at = paper.title, paper.published, utcnow()
        s.add(row)
        return row


def remove_feedback(engine: Engine, paper_id: str, source: str) -> int:
    """Forget every signal from `source` about the paper; returns how many there were."""
    with session(engine) as s:
        rows = s.exec(
            select(Feedback).where(Feedback.paper_id == paper_id, Feedback.source == source)
        ).all()
        for row in rows:
            s.delete(row)
        return len(rows)


def count_feedback(engine: Engine, *, positive: bool = False) -> int:
    """How many signals are stored (only the interested ones with `positive`)."""
    from sqlalchemy import func  # local: only this count needs it

    with session(engine) as s:
        q = select(func.count()).select_from(Feedback)
        if positive:
            q = q.where(col(Feedback.value) > 0)
        return int(s.exec(q).one())


@dataclass(frozen=True)
class Imported:
    """One row of an imported reading log (parsed by `pipeline.cli.feedback`)."""

    paper_id: str
    title: str
    paper_date: datetime | None
    at: datetime


def add_imported(engine: Engine, signal: str, rows: list[Imported]) -> tuple[int, int]:
    """Record `signal` from source "import" for each row (one per paper) not recorded yet,
    in one transaction (once more when a concurrent import stored one of them first);
    returns (added, already there)."""
    return locked_transaction(engine, lambda s: _add_imported(s, signal, rows))


def _add_imported(s: Session, signal: str, rows: list[Imported]) -> tuple[int, int]:
    added = already = 0
    existing = set(
        s.exec(
            select(Feedback.paper_id).where(
                col(Feedback.paper_id).in_([r.paper_id for r in rows]),
                Feedback.signal == signal,
                Feedback.source == "import",
            )
        ).all()
    )
    for r in rows:
        if r.paper_id in existing:
            already += 1
        else:
            s.add(
                Feedback(
                    paper_id=r.paper_id,
                    signal=signal,
                    value=SIGNALS[signal],
                    source="import",
                    title=r.title,
                    paper_date=r.paper_date,
                    at=r.at,
                )
            )
            added += 1
    return added, already


@dataclass(frozen=True)
class Labelled:
    """One paper the reader has reacted to (label 1) or was shown and passed over (0)."""

    paper_id: str
    title: str
    abstract: str
    authors: tuple[str, ...]
    date: datetime | None
    label: int
    weight: float = 1.0  # a pick you kept or liked counts double one you only downloaded


def training_history(engine: Engine, before_week: str | None = None) -> list[Labelled]:
    """What the ranker learns from: every paper with feedback (its latest value decides),
    plus papers placed in earlier issues with no positive feedback (shown, not picked)."""
    from pipeline.store.models import IssueItem  # local: only this query needs it

    with session(engine) as s:
        feedback = list(s.exec(select(Feedback).order_by(col(Feedback.at))).all())
        shown_q = select(IssueItem.paper_id)
        if before_week is not None:
            shown_q = shown_q.where(IssueItem.issue_week < before_week)
        shown = set(s.exec(shown_q).all())
        ids = {f.paper_id for f in feedback} | shown
        papers = {p.id: p for p in s.exec(select(Paper).where(col(Paper.id).in_(list(ids))))}
    label: dict[str, int] = {}
    weight: dict[str, float] = {}
    titles: dict[str, tuple[str, datetime | None]] = {}
    seen: set[str] = set()
    for f in feedback:
        if f.value == 0:  # seen: counts only where nothing else was said
            seen.add(f.paper_id)
            titles.setdefault(f.paper_id, (f.title, f.paper_date))
            continue
        label[f.paper_id] = 1 if f.value > 0 else 0
        weight[f.paper_id] = (
            max(weight.get(f.paper_id, 0.0), WEIGHTS[f.signal])
            if f.value > 0
            else WEIGHTS[f.signal]
        )
        titles[f.paper_id] = (f.title, f.paper_date)
    for pid in shown | seen:
        label.setdefault(pid, 0)
    out = []
    for pid, y in label.items():
        paper = papers.get(pid)
        if paper is not None:
            out.append(
                Labelled(
                    pid,
                    paper.title,
                    paper.abstract,
                    tuple(paper.authors),
                    paper.published,
                    y,
                    weight.get(pid, 1.0),
                )
            )
        elif pid in titles and titles[pid][0]:
            title, when = titles[pid]
            out.append(Labelled(pid, title, "", (), when, y, weight.get(pid, 1.0)))
    return out
