"""The `delivery` rows of `send`: who is still to be sent an issue, and the claim / sent /
failed records of each message.  The exactly-once protocol these serve is in
`pipeline.mail.send`'s docstring; here every write is committed at once, in its own
transaction, on the connection a send worker holds for its whole batch (`connect`).

Claims come in batches (`claim_new`, `reclaim`), several senders at once: on PostgreSQL
the candidate rows are locked with `FOR ... SKIP LOCKED`, so concurrent claimers take
different ones; on SQLite the claim runs under `BEGIN IMMEDIATE` (one writer at a time).
The unique (issue_week, subscriber_id) constraint is the last line of defence: a row
inserted by someone else meanwhile is skipped (`ON CONFLICT DO NOTHING`).  A row claimed
is "sending" with `claimed_by` = the sender's owner token; "sent" is recorded only by
that owner (`mark_sent` compares and swaps), so a claim taken over from a sender
believed dead can never be sent twice."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Select
from sqlmodel import col
from sqlmodel.sql.sqltypes import UTCDateTime

from pipeline.clock import utcnow
from pipeline.store.models import Delivery, Subscriber

S = TypeVar("S", bound=Select[*tuple[Any, ...]])


@contextmanager
def connect(engine: Engine, *, durable: bool = False) -> Iterator[Connection]:
    """The connection a send's reads and records go through (closed at the end).

    `durable`: every commit is on disk before it returns, even across a power loss.  On
    SQLite (WAL) that is `synchronous=FULL` on this connection (the WAL is synced at each
    commit; the rest of the program keeps NORMAL); PostgreSQL's default
    `synchronous_commit=on` already does it."""
    with engine.connect() as db:
        full = durable and db.dialect.name == "sqlite"
        if full:
            db.exec_driver_sql("PRAGMA synchronous=FULL")
            db.commit()
        try:
            yield db
        finally:
            if full:
                db.rollback()
                db.exec_driver_sql("PRAGMA synchronous=NORMAL")
                db.commit()


@dataclass(frozen=True)
class Unsent:
    subscriber_id: int
    email: str
    name: str
    has_row: bool  # a delivery row exists ("sending" from a killed run, or "failed")


def unsent(db: Connection, week: str) -> tuple[list[Unsent], int]:
    """Active subscribers not yet sent the issue (in id order), and how many were."""
    rows = db.execute(
        _active_with_delivery(
            select(
                col(Subscriber.id),
                col(Subscriber.email),
                col(Subscriber.name),
                col(Delivery.status),
            ),
            week,
        ).order_by(col(Subscriber.id))
    ).all()
    todo = [
        Unsent(sid or 0, email, name, has_row=status is not None)
        for sid, email, name, status in rows
        if status != "sent"
    ]
    return todo, len(rows) - len(todo)


@dataclass(frozen=True)
class Claimed:
    subscriber_id: int
    email: str
    name: str
    fresh: bool  # its row was inserted by this claim (no earlier attempt)


def _locking(db: Connection, query: S, **options: Any) -> S:
    """On PostgreSQL: the rows `query` reads locked, skipping rows others hold."""
    if db.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True, **options)
    return query


def _begin_write(db: Connection) -> None:
    """Start the claim's transaction: on SQLite take the write lock first (BEGIN IMMEDIATE),
    so that its reads and writes see one state and never need an upgrade."""
    if db.dialect.name == "sqlite":
        db.exec_driver_sql("BEGIN IMMEDIATE")


def _recipients(db: Connection, ids: Sequence[int], fresh: bool) -> list[Claimed]:
    rows = db.execute(
        select(col(Subscriber.id), col(Subscriber.email), col(Subscriber.name))
        .where(col(Subscriber.id).in_(ids))
        .order_by(col(Subscriber.id))
    ).all()
    return [Claimed(sid or 0, email, name, fresh) for sid, email, name in rows]


def window_end(db: Connection, after: int, size: int) -> int | None:
    """The id of the `size`-th active subscriber after id `after` (None: fewer are left).
    Claims look at one such window of ids at a time: the planner then probes the delivery
    index per subscriber instead of joining the whole issue's rows (PostgreSQL chose a hash
    anti-join over all 100,000 rows, 40 ms, for every batch of 50)."""
    end = db.execute(
        select(col(Subscriber.id))
        .where(col(Subscriber.status) == "active", col(Subscriber.id) > after)
        .order_by(col(Subscriber.id))
        .offset(size - 1)
        .limit(1)
    ).scalar()
    db.commit()
    return end


def claim_new(
    db: Connection, week: str, owner: str, *, after: int, upto: int | None, limit: int
) -> list[Claimed]:
    """Claim (insert as "sending", committed) up to `limit` active subscribers with
    `after` < id <= `upto` (None: no upper bound) that have no row for the issue yet, in id
    order."""
    now = utcnow()
    window = [col(Subscriber.id) > after]
    if upto is not None:
        window.append(col(Subscriber.id) <= upto)
    has_row = (
        select(col(Delivery.id))
        .where(col(Delivery.issue_week) == week, col(Delivery.subscriber_id) == col(Subscriber.id))
        .exists()
    )
    rows = _locking(
        db,
        select(
            literal(week),
            col(Subscriber.id),
            literal("sending"),
            literal(1),
            literal(""),
            literal(now, UTCDateTime()),
            literal(owner),
        )
        .where(col(Subscriber.status) == "active", *window, ~has_row)
        .order_by(col(Subscriber.id))
        .limit(limit),
        key_share=True,  # FOR NO KEY UPDATE: the delivery's foreign key check still passes
    )
    names = ["issue_week", "subscriber_id", "status", "attempts", "message_id", "claimed_at"]
    dialect = postgresql if db.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(Delivery)
        .from_select([*names, "claimed_by"], rows)
        .on_conflict_do_nothing(index_elements=["issue_week", "subscriber_id"])
        .returning(col(Delivery.subscriber_id))
    )
    _begin_write(db)
    ids = [sid for (sid,) in db.execute(stmt).all()]
    claimed = _recipients(db, ids, fresh=True) if ids else []
    db.commit()
    return claimed


def reclaim(
    db: Connection, week: str, owner: str, *, live: Sequence[str], limit: int
) -> list[Claimed]:
    """Claim up to `limit` rows left "sending" or "failed" by senders that are not `live`
    (killed, or an earlier run), of subscribers still active; committed."""
    now = utcnow()
    retry = col(Delivery.status).in_(("sending", "failed"))
    ids = _locking(
        db,
        select(col(Delivery.id))
        .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
        .where(
            col(Delivery.issue_week) == week,
            retry,
            or_(col(Delivery.claimed_by).is_(None), col(Delivery.claimed_by).not_in(live)),
            col(Subscriber.status) == "active",
        )
        .order_by(col(Delivery.subscriber_id))
        .limit(limit),
        of=Delivery,
    )
    stmt = (
        update(Delivery)
        .where(col(Delivery.id).in_(ids.scalar_subquery()), retry)
        .values(
            status="sending",
            attempts=col(Delivery.attempts) + 1,
            claimed_at=now,
            claimed_by=owner,
            sent_at=None,
        )
        .returning(col(Delivery.subscriber_id))
    )
    _begin_write(db)
    got = [sid for (sid,) in db.execute(stmt).all()]
    claimed = _recipients(db, got, fresh=False) if got else []
    db.commit()
    return claimed


# Step 3 for one row, one shape for every group (built once: SQLAlchemy compiles it once
# and runs a group as one executemany).
_MARK_SENT = (
    update(Delivery)
    .where(
        col(Delivery.issue_week) == bindparam("b_week"),
        col(Delivery.subscriber_id) == bindparam("b_subscriber"),
        col(Delivery.status) == "sending",
        col(Delivery.claimed_by) == bindparam("b_owner"),
        select(col(Subscriber.id))
        .where(
            col(Subscriber.id) == col(Delivery.subscriber_id), col(Subscriber.status) == "active"
        )
        .exists(),
    )
    .values(status="sent", sent_at=bindparam("b_at"), error=None, message_id=bindparam("b_mid"))
)


def mark_sent(db: Connection, week: str, owner: str, marks: Sequence[tuple[int, str]]) -> set[int]:
    """Step 3 for (subscriber id, message id) pairs, in one transaction (one durable commit
    for all: a group commit): each row "sent" -- only while `owner`'s claim on it stands and
    the subscriber is still active.  Returns the subscriber ids marked; for the others the
    message must not be terminated."""
    now = utcnow()
    db.execute(
        _MARK_SENT,
        [
            {"b_week": week, "b_subscriber": sid, "b_owner": owner, "b_at": now, "b_mid": mid}
            for sid, mid in marks
        ],
    )
    # Rows "sent" under our claim are the ones just marked: a row is marked once, and the
    # update's row locks (PostgreSQL) or the write lock (SQLite) keep others out until the
    # commit.  Read by the (issue, subscriber) key alone and checked here, so that the
    # database looks the rows up by it rather than by (issue, status) among all sent.
    rows = db.execute(
        select(col(Delivery.subscriber_id), col(Delivery.status), col(Delivery.claimed_by)).where(
            col(Delivery.issue_week) == week,
            col(Delivery.subscriber_id).in_([sid for sid, _ in marks]),
        )
    ).all()
    db.commit()
    return {sid for sid, status, by in rows if status == "sent" and by == owner}


def retrying(db: Connection, week: str, subscriber_id: int, error: str) -> None:
    """A transient failure: the row stays "sending" (still claimed), one attempt more."""
    db.execute(
        update(Delivery)
        .where(_row(week, subscriber_id))
        .values(status="sending", sent_at=None, error=error, attempts=col(Delivery.attempts) + 1)
    )
    db.commit()


def withdraw(
    db: Connection, week: str, owner: str, *, fresh: Sequence[int], other: Sequence[int]
) -> None:
    """Give back claims never tried: rows this claim inserted are deleted (as if never
    claimed), older ones freed for any sender; committed."""
    mine = and_(
        col(Delivery.issue_week) == week,
        col(Delivery.status) == "sending",
        col(Delivery.claimed_by) == owner,
    )
    if fresh:
        db.execute(delete(Delivery).where(mine, col(Delivery.subscriber_id).in_(fresh)))
    if other:
        db.execute(
            update(Delivery)
            .where(mine, col(Delivery.subscriber_id).in_(other))
            .values(claimed_by=None)
        )
    db.commit()


def progress(db: Connection, week: str) -> tuple[int, int, int]:
    """Of the active subscribers: how many were sent the issue, how many are not (no row,
    or a row not "sent"), and how many of those have no row or one in "sending"."""
    status = col(Delivery.status)
    sent, unsent, untried = db.execute(
        _active_with_delivery(
            select(
                func.coalesce(func.sum(case((status == "sent", 1), else_=0)), 0),
                func.coalesce(func.sum(case((status == "sent", 0), else_=1)), 0),
                func.coalesce(
                    func.sum(case((or_(status.is_(None), status == "sending"), 1), else_=0)), 0
                ),
            ),
            week,
        )
    ).one()
    db.commit()
    return int(sent), int(unsent), int(untried)


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


def count_sent(engine: Engine, week: str) -> int:
    """The issue's "sent" rows (the send benchmark watches senders in other processes)."""
    with engine.connect() as db:
        n = db.execute(
            select(func.count())
            .select_from(Delivery)
            .where(col(Delivery.issue_week) == week, col(Delivery.status) == "sent")
        ).scalar()
    return int(n or 0)


@dataclass(frozen=True)
class Row:
    email: str
    status: str
    claimed_by: str
    sent_at: datetime | None


def rows_for(engine: Engine, week: str, emails: Sequence[str]) -> list[Row]:
    """The delivery rows of `week` for these addresses (the send benchmark explains a
    message the sink never got)."""
    with engine.connect() as db:
        found = db.execute(
            select(
                col(Subscriber.email),
                col(Delivery.status),
                col(Delivery.claimed_by),
                col(Delivery.sent_at),
            )
            .join(Delivery, col(Delivery.subscriber_id) == col(Subscriber.id))
            .where(col(Delivery.issue_week) == week, col(Subscriber.email).in_(list(emails)))
        ).all()
    return [Row(e, st, by or "", at) for e, st, by, at in found]


def _active_with_delivery(stmt: S, week: str) -> S:
    """`stmt` over the active subscribers, each with its delivery of `week` (or none)."""
    return (
        stmt.select_from(Subscriber)
        .outerjoin(
            Delivery,
            and_(
                col(Delivery.subscriber_id) == col(Subscriber.id),
                col(Delivery.issue_week) == week,
            ),
        )
        .where(col(Subscriber.status) == "active")
    )
