"""The `delivery` rows of `send`: who is still to be sent an issue, and the claim / sent /
failed records of each message.  The exactly-once protocol these serve is in
`pipeline.mail.send`'s docstring; here every write is committed at once, in its own
transaction, on the one connection a send holds for its whole batch (`connect`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    case,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.sql.sqltypes import UTCDateTime

from pipeline.clock import utcnow
from pipeline.store.models import Delivery, Subscriber


@contextmanager
def connect(engine: Engine) -> Iterator[Connection]:
    """The connection a send's reads and records go through (closed at the end)."""
    with engine.connect() as db:
        yield db


@dataclass(frozen=True)
class Unsent:
    subscriber_id: int
    email: str
    name: str
    has_row: bool  # a delivery row exists ("sending" from a killed run, or "failed")


def unsent(db: Connection, week: str) -> tuple[list[Unsent], int]:
    """Active subscribers not yet sent the issue (in id order), and how many were.  The
    read transaction stays open: `end_read` ends it."""
    rows = db.execute(
        select(
            col(Subscriber.id), col(Subscriber.email), col(Subscriber.name), col(Delivery.status)
        )
        .select_from(Subscriber)
        .outerjoin(
            Delivery,
            and_(
                col(Delivery.subscriber_id) == col(Subscriber.id),
                col(Delivery.issue_week) == week,
            ),
        )
        .where(col(Subscriber.status) == "active")
        .order_by(col(Subscriber.id))
    ).all()
    todo = [
        Unsent(sid or 0, email, name, has_row=status is not None)
        for sid, email, name, status in rows
        if status != "sent"
    ]
    return todo, len(rows) - len(todo)


def end_read(db: Connection) -> None:
    db.commit()


def claim(db: Connection, week: str, subscriber_id: int, message_id: str, *, has_row: bool) -> bool:
    """Step 1, committed: the row (week, subscriber) as "sending" -- updated when `has_row`,
    inserted otherwise -- only while the subscriber is active and the row is not "sent".
    False when nothing was claimed (or a row appeared meanwhile: someone else's)."""
    now = utcnow()
    active = (
        select(col(Subscriber.id))
        .where(col(Subscriber.id) == subscriber_id, col(Subscriber.status) == "active")
        .exists()
    )
    try:
        if has_row:
            done = db.execute(
                update(Delivery)
                .where(_row(week, subscriber_id), col(Delivery.status) != "sent", active)
                .values(
                    status="sending",
                    attempts=col(Delivery.attempts) + 1,
                    message_id=message_id,
                    claimed_at=now,
                    sent_at=None,
                )
            ).rowcount
        else:
            rows = select(
                literal(week),
                col(Subscriber.id),
                literal("sending"),
                literal(1),
                literal(message_id),
                literal(now, UTCDateTime()),
            ).where(col(Subscriber.id) == subscriber_id, col(Subscriber.status) == "active")
            names = ["issue_week", "subscriber_id", "status", "attempts", "message_id"]
            done = db.execute(insert(Delivery).from_select([*names, "claimed_at"], rows)).rowcount
        db.commit()
    except IntegrityError:  # a row appeared meanwhile: someone else's
        db.rollback()
        return False
    return bool(done == 1)


def _row(week: str, subscriber_id: int) -> ColumnElement[bool]:
    return and_(
        col(Delivery.issue_week) == week,
        col(Delivery.subscriber_id) == subscriber_id,
    )


def set_delivery(db: Connection, week: str, subscriber_id: int, **values: Any) -> None:
    """Update the row's columns and commit (step 3, "sent"; or a failure's record)."""
    db.execute(update(Delivery).where(_row(week, subscriber_id)).values(**values))
    db.commit()


def mark_bounced(db: Connection, subscriber_id: int) -> None:
    """Mark the address bounced (an unsubscribed one stays unsubscribed), committed."""
    status = col(Subscriber.status)
    db.execute(
        update(Subscriber)
        .where(col(Subscriber.id) == subscriber_id)
        .values(
            status=case((status == "unsubscribed", status), else_=literal("bounced")),
            bounced_at=utcnow(),
        )
    )
    db.commit()


def count_sent_readonly(db_file: Path, week: str) -> int:
    """The issue's "sent" rows, read through a read-only SQLite connection of its own (the
    send benchmark watches a send in another process with it)."""
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=30) as conn:
        (n,) = conn.execute(
            "SELECT count(*) FROM delivery WHERE issue_week=? AND status='sent'", (week,)
        ).fetchone()
    return int(n)
