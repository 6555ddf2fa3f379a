"""The run lock's rows (`run_lock`): insert, read, compare-and-swap, heartbeat, delete.

The rules (who may take a lock over, and when) are in `pipeline.ops.lock`; these functions
only speak SQL, one transaction each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from pipeline.clock import utcnow
from pipeline.store.db import locked_session, session
from pipeline.store.models import RunLock


def insert_lock(engine: Engine, name: str, owner: str, command: str, now: datetime) -> bool:
    """Insert the lock row; False when a row of that name is there already."""
    try:
        with session(engine) as s:
            s.add(
                RunLock(name=name, owner=owner, command=command, acquired_at=now, heartbeat_at=now)
            )
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True)
class TakeOver:
    """What `take_over` found: `held` is the row it read (None: released meanwhile),
    `allowed` what `may_take` said of it, `taken` whether the row is now ours."""

    held: RunLock | None
    allowed: bool
    taken: bool


def take_over(
    engine: Engine,
    name: str,
    owner: str,
    command: str,
    now: datetime,
    may_take: Callable[[RunLock], bool],
) -> TakeOver:
    """In one transaction: read the row, locked (`locked_session`); when `may_take(row)`
    says so, give it to `owner` by compare-and-swap on (owner, heartbeat_at), so that of two
    processes taking over the same row only one wins (the CAS is the last line of defence)."""
    with locked_session(engine) as s:
        held = s.get(RunLock, name, with_for_update=True)
        if held is None:
            return TakeOver(None, allowed=False, taken=False)
        if not may_take(held):
            return TakeOver(held, allowed=False, taken=False)
        taken = s.exec(
            update(RunLock)
            .where(
                col(RunLock.name) == name,
                col(RunLock.owner) == held.owner,
                col(RunLock.heartbeat_at) == held.heartbeat_at,
            )
            .values(owner=owner, command=command, acquired_at=now, heartbeat_at=now)
        )
        return TakeOver(held, allowed=True, taken=taken.rowcount == 1)


def delete_lock(engine: Engine, name: str, owner: str) -> None:
    with session(engine) as s:
        s.exec(delete(RunLock).where(col(RunLock.name) == name, col(RunLock.owner) == owner))


def refresh_heartbeat(engine: Engine, name: str, owner: str) -> bool:
    """False when the row is no longer `owner`'s."""
    with session(engine) as s:
        result = s.exec(
            update(RunLock)
            .where(col(RunLock.name) == name, col(RunLock.owner) == owner)
            .values(heartbeat_at=utcnow())
        )
        return bool(result.rowcount == 1)


def get_lock(engine: Engine, name: str) -> RunLock | None:
    with session(engine) as s:
        return s.get(RunLock, name)


def locks_under(engine: Engine, prefix: str) -> list[RunLock]:
    """The rows whose name starts with `prefix` (a lock's shared holders)."""
    with session(engine) as s:
        return list(
            s.exec(select(RunLock).where(col(RunLock.name).startswith(prefix, autoescape=True)))
        )


def delete_rows(engine: Engine, rows: list[RunLock]) -> None:
    """Delete these rows unless their holder changed meanwhile (owner and heartbeat match)."""
    with session(engine) as s:
        for row in rows:
            s.exec(
                delete(RunLock).where(
                    col(RunLock.name) == row.name,
                    col(RunLock.owner) == row.owner,
                    col(RunLock.heartbeat_at) == row.heartbeat_at,
                )
            )
