"""Feedback clicks from emailed issues (`feedback_click` rows and the shared "email"
`feedback` rows): the rules are in `pipeline.web.clicks`, which words the result."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from pipeline.clock import utcnow
from pipeline.store.db import locked_session
from pipeline.store.feedback import SIGNALS
from pipeline.store.models import Feedback, FeedbackClick, Paper, Subscriber

SOURCE = "email"
_OPPOSITE = {"like": "dislike", "dislike": "like"}


@dataclass(frozen=True)
class Recorded:
    title: str  # the paper's title; "" when the paper is unknown
    recorded: bool  # False: the same click was already there


def record_click(
    engine: Engine, subscriber_id: int, paper_id: str, signal: str, week: str
) -> Recorded | None:
    """Record one click in one transaction; None when there is no such subscriber.  When
    the same click is written at the same moment by another request (IntegrityError), the
    transaction is tried once more."""
    try:
        return _record(engine, subscriber_id, paper_id, signal, week)
    except IntegrityError:
        return _record(engine, subscriber_id, paper_id, signal, week)


def _record(
    engine: Engine, subscriber_id: int, paper_id: str, signal: str, week: str
) -> Recorded | None:
    with locked_session(engine) as s:  # one subscriber's clicks are made one at a time
        if s.get(Subscriber, subscriber_id, with_for_update=True) is None:
            return None
        paper = s.get(Paper, paper_id)
        title = paper.title if paper is not None else ""
        clicks = s.exec(
            select(FeedbackClick).where(
                FeedbackClick.subscriber_id == subscriber_id,
                FeedbackClick.paper_id == paper_id,
            )
        ).all()
        if any(c.signal == signal for c in clicks):
            return Recorded(title, recorded=False)
        for c in clicks:  # the subscriber's opposite click
            s.delete(c)
        now = utcnow()
        s.add(
            FeedbackClick(
                subscriber_id=subscriber_id,
                paper_id=paper_id,
                issue_week=week,
                signal=signal,
                at=now,
            )
        )
        s.exec(
            delete(Feedback).where(
                col(Feedback.paper_id) == paper_id,
                col(Feedback.signal) == _OPPOSITE[signal],
                col(Feedback.source) == SOURCE,
            )
        )
        row = s.exec(
            select(Feedback).where(
                Feedback.paper_id == paper_id, Feedback.signal == signal, Feedback.source == SOURCE
            )
        ).first() or Feedback(
            paper_id=paper_id, signal=signal, value=SIGNALS[signal], source=SOURCE, at=now
        )
        row.title, row.at = title or row.title, now
        if paper is not None:
            row.paper_date = paper.published
        s.add(row)
        return Recorded(title, recorded=True)
