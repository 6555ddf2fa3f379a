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

The rows are written by `pipeline.store.clicks`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from pipeline.errors import NotFoundError
from pipeline.mail.tokens import FeedbackToken
from pipeline.store import clicks


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
    done = clicks.record_click(
        engine, token.subscriber_id, token.paper_id, token.signal, token.week
    )
    if done is None:
        raise NotFoundError(f"no subscriber {token.subscriber_id}")
    title = done.title or token.paper_id
    return Click(token.paper_id, title, token.signal, token.week, recorded=done.recorded)
