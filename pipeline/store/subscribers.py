"""The mailing list's rows: who is sent each issue, and how an address moves between statuses.

The functions here take addresses already normalised and names already checked (by
`pipeline.mail.subscribers`, which also owns the CSV files and the user's wording), and
return rows, or None where there is no such subscriber.

Statuses: pending (signed up, not yet confirmed), active (sent each issue), unsubscribed (asked
to leave), bounced (the address does not take mail). Only active addresses are sent an issue.

- `add` and `import_rows` (the operator): a new address is inserted with the status given.
  A pending address becomes active when added as active; an active one is never set back to
  pending. An unsubscribed or bounced address is left exactly as it is: re-importing an old
  list must not put back someone who left. `reactivate=True` (`--reactivate`) is the explicit
  override. Adding as unsubscribed records an opt-out and applies to any address. A non-empty
  name replaces the stored one.
- `subscribe_pending` (web sign-up): a new address is pending; a pending or active one is
  returned unchanged; an unsubscribed or bounced one goes back to pending (the person asked
  again) and becomes active only by confirming.
- `confirm`: pending -> active. Active stays active; unsubscribed and bounced are not changed.
- `unsubscribe` and `remove`: any status -> unsubscribed; idempotent.
- `mark_bounced`: -> bounced, except that unsubscribed stays unsubscribed (bounced_at is set).

`confirmed_at`, `unsubscribed_at` and `bounced_at` record when that last happened and are kept
as history when the status changes again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from pipeline.clock import utcnow
from pipeline.store.db import locked_session, locked_transaction, session
from pipeline.store.models import Subscriber

log = logging.getLogger(__name__)

STATUSES = ("pending", "active", "unsubscribed", "bounced")
IMPORT_STATUSES = ("active", "pending", "unsubscribed")
_LEFT = ("unsubscribed", "bounced")
T = TypeVar("T")


def _transaction(engine: Engine, work: Callable[[Session], T]) -> T:
    """Run `work` in one locked transaction; once more if a concurrent insert took the same
    address (the unique address is the last line of defence)."""
    return locked_transaction(engine, work)


def _by_email(s: Session, address: str) -> Subscriber | None:
    return s.exec(select(Subscriber).where(Subscriber.email == address).with_for_update()).first()


def _apply(
    s: Session,
    row: Subscriber | None,
    address: str,
    name: str,
    status: str,
    source: str,
    reactivate: bool,
) -> tuple[Subscriber, str]:
    """The operator's add rules; the outcome is added, updated, unchanged or kept (left out)."""
    now = utcnow()
    if row is None:
        row = Subscriber(email=address, name=name, status=status, source=source, created=now)
        row.confirmed_at = now if status == "active" else None
        row.unsubscribed_at = now if status == "unsubscribed" else None
        s.add(row)
        return row, "added"
    if row.status in _LEFT and status != "unsubscribed" and not reactivate:
        return row, "kept"
    before = (row.status, row.name)
    row.name = name or row.name
    if status == "unsubscribed" and row.status != "unsubscribed":
        row.status, row.unsubscribed_at = "unsubscribed", now
    elif status != "unsubscribed" and row.status in _LEFT:  # reactivate
        row.status = status
        row.confirmed_at = now if status == "active" else row.confirmed_at
    elif status == "active" and row.status == "pending":
        row.status, row.confirmed_at = "active", now
    if (row.status, row.name) == before:
        return row, "unchanged"
    s.add(row)
    return row, "updated"


def add(
    engine: Engine, address: str, name: str, status: str, source: str, reactivate: bool
) -> tuple[Subscriber, bool]:
    """Add or update one (normalised) address by the rules above; True when it was new."""
    if status not in IMPORT_STATUSES:
        raise ValueError(f"add cannot set status {status!r}")

    def work(s: Session) -> tuple[Subscriber, bool]:
        row, outcome = _apply(s, _by_email(s, address), address, name, status, source, reactivate)
        return row, outcome == "added"

    return _transaction(engine, work)


def subscribe_pending(
    engine: Engine, address: str, name: str = "", source: str = "web"
) -> Subscriber:
    """A sign-up: a new or departed address becomes pending; others are returned as they are."""

    def work(s: Session) -> Subscriber:
        row = _by_email(s, address)
        if row is None:
            row = Subscriber(
                email=address, name=name, status="pending", source=source, created=utcnow()
            )
        elif row.status in _LEFT:
            row.status, row.name = "pending", name or row.name
        else:
            return row
        s.add(row)
        return row

    return _transaction(engine, work)


def _change(
    engine: Engine, address: str, change: Callable[[Session, Subscriber], Subscriber]
) -> Subscriber | None:
    with locked_session(engine) as s:
        row = _by_email(s, address)
        return None if row is None else change(s, row)


def _confirm(s: Session, row: Subscriber) -> Subscriber:
    if row.status == "pending":
        row.status, row.confirmed_at = "active", utcnow()
        s.add(row)
    return row


def _unsubscribe(s: Session, row: Subscriber) -> Subscriber:
    if row.status != "unsubscribed":
        row.status, row.unsubscribed_at = "unsubscribed", utcnow()
        s.add(row)
    return row


def confirm(engine: Engine, address: str) -> Subscriber | None:
    """Pending -> active (sets confirmed_at); any other status is left as it is."""
    return _change(engine, address, _confirm)


def unsubscribe(engine: Engine, subscriber_id: int) -> Subscriber | None:
    """Unsubscribe by id (idempotent); None when there is no such subscriber."""
    with locked_session(engine) as s:
        row = s.get(Subscriber, subscriber_id, with_for_update=True)
        return None if row is None else _unsubscribe(s, row)


def remove(engine: Engine, address: str) -> Subscriber | None:
    """Unsubscribe by address: the row stays, so a re-import cannot put them back."""
    return _change(engine, address, _unsubscribe)


def mark_bounced(engine: Engine, subscriber_id: int, reason: str) -> Subscriber | None:
    """The address does not take mail: stop sending to it. None when there is no such id."""
    with locked_session(engine) as s:
        row = s.get(Subscriber, subscriber_id, with_for_update=True)
        if row is None:
            return None
        log.warning("subscriber %s bounced: %s", subscriber_id, reason)
        row.bounced_at = utcnow()
        if row.status != "unsubscribed":
            row.status = "bounced"
        s.add(row)
        return row


def get(engine: Engine, subscriber_id: int) -> Subscriber | None:
    with session(engine) as s:
        return s.get(Subscriber, subscriber_id)


def active_ids(engine: Engine) -> list[int]:
    with session(engine) as s:
        query = (
            select(Subscriber.id).where(Subscriber.status == "active").order_by(col(Subscriber.id))
        )
        return [i for i in s.exec(query).all() if i is not None]


def list_subscribers(engine: Engine, status: str | None = None) -> list[Subscriber]:
    """Every subscriber (or those with one status), ordered by address."""
    query = select(Subscriber).order_by(Subscriber.email)
    if status is not None:
        query = query.where(Subscriber.status == status)
    with session(engine) as s:
        return list(s.exec(query).all())


def counts(engine: Engine) -> dict[str, int]:
    """How many subscribers have each status (every status listed, zeros included)."""
    with session(engine) as s:
        found = s.exec(select(Subscriber.status, func.count()).group_by(Subscriber.status)).all()
    return {name: 0 for name in STATUSES} | dict(found)


@dataclass
class ImportCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0  # of the unchanged: unsubscribed or bounced, not put back without reactivate


def import_rows(
    engine: Engine, wanted: dict[str, tuple[str, str]], *, reactivate: bool = False
) -> ImportCounts:
    """Add or update every address (-> name, status) by the rules above, in one transaction."""

    def work(s: Session) -> ImportCounts:
        tally = ImportCounts()
        addresses = list(wanted)
        existing: dict[str, Subscriber] = {}
        for start in range(0, len(addresses), 500):
            chunk = addresses[start : start + 500]
            query = (
                select(Subscriber)
                .where(col(Subscriber.email).in_(chunk))
                .order_by(col(Subscriber.email))  # rows locked in one order: no deadlock
                .with_for_update()
            )
            existing.update((row.email, row) for row in s.exec(query).all())
        for address, (name, status) in wanted.items():
            row = existing.get(address)
            _, outcome = _apply(s, row, address, name, status, "import", reactivate)
            if outcome == "kept":
                tally.kept += 1
                outcome = "unchanged"
            setattr(tally, outcome, getattr(tally, outcome) + 1)
        return tally

    return _transaction(engine, work)
