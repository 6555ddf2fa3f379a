"""One run per issue at a time: a lock row in the database with a heartbeat.

`hold(engine, "week:2026-W25", command="run")` inserts the row (the primary key makes two
inserts collide), refreshes `heartbeat_at` from a background thread while the body runs,
and deletes the row at the end.  A row whose heartbeat is older than `stale_after` was left
by a process that died (kill -9, power loss), and so is the row of a process on this host
that no longer exists: the next holder takes it over with a compare-and-swap on (owner,
heartbeat_at), so two waiting processes cannot both win.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Engine

from pipeline.clock import utcnow
from pipeline.errors import LockHeld
from pipeline.store import locks
from pipeline.store.models import RunLock

log = logging.getLogger(__name__)
HEARTBEAT = timedelta(seconds=10)
STALE_AFTER = timedelta(seconds=60)


def week_lock(week: str) -> str:
    return f"week:{week}"


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _alive(owner: str) -> bool:
    """False only when the owner ran on this host and its process is gone (kill -9): then
    its lock need not wait to go stale. Owners on other hosts count as alive."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _age(now: datetime, then: datetime) -> float:
    return (now - then).total_seconds()


def acquire(
    engine: Engine, name: str, *, command: str, stale_after: timedelta = STALE_AFTER
) -> str:
    """Take the lock or raise LockHeld; returns the owner token."""
    owner = _owner()
    now = utcnow()
    if locks.insert_lock(engine, name, owner, command, now):
        return owner
    ages: list[float] = []

    def stale(held: RunLock) -> bool:  # called by take_over, inside its transaction
        ages.append(_age(now, held.heartbeat_at))
        return not (ages[-1] < stale_after.total_seconds() and _alive(held.owner))

    result = locks.take_over(engine, name, owner, command, now, stale)
    if result.held is None:  # released meanwhile: try once more from the start
        return acquire(engine, name, command=command, stale_after=stale_after)
    age = ages[-1]
    if not result.taken:
        if not result.allowed:
            who = result.held.owner.rsplit(":", 1)[0]
            raise LockHeld(
                f"{name.removeprefix('week:')} is being built by `{result.held.command}` "
                f"({who}, heartbeat {age:.0f} s ago); wait for it to finish, or check "
                "`newsletter status`"
            )
        raise LockHeld(f"{name} was just taken over by another process; try again later")
    log.warning(
        "took over the lock %s of a process that is gone (last heartbeat %.0f s ago)", name, age
    )
    return owner


def release(engine: Engine, name: str, owner: str) -> None:
    locks.delete_lock(engine, name, owner)


def beat(engine: Engine, name: str, owner: str) -> bool:
    """Refresh the heartbeat; False when the lock is no longer ours."""
    return locks.refresh_heartbeat(engine, name, owner)


@contextmanager
def hold(
    engine: Engine,
    name: str,
    *,
    command: str,
    heartbeat: timedelta = HEARTBEAT,
    stale_after: timedelta = STALE_AFTER,
) -> Iterator[str]:
    """The lock for the duration of the block, its heartbeat kept by a daemon thread."""
    owner = acquire(engine, name, command=command, stale_after=stale_after)
    stop = threading.Event()

    def keep_alive() -> None:
        while not stop.wait(heartbeat.total_seconds()):
            try:
                if not beat(engine, name, owner):
                    log.error("lost the lock %s to another process", name)
                    return
            except Exception:  # a busy database: the next beat tries again
                log.exception("heartbeat of %s failed", name)

    thread = threading.Thread(target=keep_alive, name=f"lock {name}", daemon=True)
    thread.start()
    try:
        yield owner
    finally:
        stop.set()
        thread.join()
        release(engine, name, owner)
