"""A 👍/👎 link followed in an emailed issue: one `feedback_click` row, one `feedback` row.

Rules:
- The click is recorded if the subscriber exists, whatever their status: a reader who has
  since unsubscribed still read that issue, and their link is signed for them.
- One click per subscriber, paper and signal: following the same link twice changes nothing.
  The opposite click by the same subscriber replaces their earlier one.
- Many subscribers share the one `feedback` row per (paper, signal, source "email") that the
  ranker learns from: the latest click wins.  A click writes its signal's row (value +1 for
  like, -1 for dislike, the paper's title when the paper is known) and deletes the opposite
  signal's email row, as `pipeline.store.feedback.add_feedback` does for the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from pipeline.clock import utcnow
from pipeline.errors import NotFoundError
from pipeline.mail.tokens import FeedbackToken
from pipeline.store.db import session
from pipeline.store.feedback import SIGNALS
from pipeline.store.models import Feedback, FeedbackClick, Paper, Subscriber

SOURCE = "email"
_OPPOSITE = {"like": "dislike", "dislike": "like"}


@dataclass(frozen=True)
class Click:
    """What a click did: `title` is the paper's title, or its id when the paper is unknown."""

    paper_id: str
    title: str
    signal: str
    week: str
    recorded: bool  # False: the same click was already there


def record_click(engine: Engine, token: FeedbackToken) -> Click:
    """Record the click of a checked token; NotFoundError when the subscriber is gone."""
    try:
        return _record(engine, token)
    except IntegrityError:  # the same click, at the same moment, from another request
        return _record(engine, token)


def _record(engine: Engine, token: FeedbackToken) -> Click:
    signal, paper_id = token.signal, token.paper_id
    with session(engine) as s:
        if s.get(Subscriber, token.subscriber_id) is None:
            raise NotFoundError(f"no subscriber {token.subscriber_id}")
        paper = s.get(Paper, paper_id)
        title = paper.title if paper is not None else ""
        clicks = s.exec(
            select(FeedbackClick).where(
                FeedbackClick.subscriber_id == token.subscriber_id,
                FeedbackClick.paper_id == paper_id,
            )
        ).all()
        if any(c.signal == signal for c in clicks):
            return Click(paper_id, title or paper_id, signal, token.week, recorded=False)
        for c in clicks:  # the subscriber's opposite click
            s.delete(c)
        now = utcnow()
        s.add(
            FeedbackClick(
                subscriber_id=token.subscriber_id,
                paper_id=paper_id,
                issue_week=token.week,
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
        return Click(paper_id, title or paper_id, signal, token.week, recorded=True)
