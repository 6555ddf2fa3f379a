"""One run per issue at a time: a lock row in the database with a heartbeat.

`hold(engine, "week:2026-W25", command="run")` inserts the row (the primary key makes two
inserts collide), refreshes `heartbeat_at` from a background thread while the body runs,
and deletes the row at the end.  A row whose heartbeat is older than `stale_after` was left
by a process that died (kill -9, power loss), and so is the row of a process on this host
that no longer exists: the next holder takes it over with a compare-and-swap on (owner,
heartbeat_at), so two waiting processes cannot both win.

Senders share an issue: `hold_shared(engine, "week:W", command="send")` takes the exclusive
lock only for a moment (waiting a little while another sender is doing the same), and under
it adds a registration row "week:W send:<owner>" with a heartbeat of its own, kept until the
sender ends.  `acquire` (a run, regenerate or render of the week) refuses while a live
registration exists, checked under the exclusive lock, so a re-render cannot interleave
with sending, while any number of senders, on any hosts, coexist.  A registration is live
while its heartbeat is fresh and, on this host, its process exists (`shared_holders`); the
delivery claims of a sender that is not live may be taken over (`pipeline.mail.claims`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
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
JOINING = "send: joining"  # the exclusive lock's command while a sender registers
JOIN_WAIT = 30.0  # seconds a sender waits for others that are registering


def shared_prefix(name: str) -> str:
    return f"{name} send:"


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
    """Take the lock or raise LockHeld (also while senders share it); returns the owner
    token."""
    owner = _take(engine, name, command=command, stale_after=stale_after)
    senders = shared_holders(engine, name, stale_after=stale_after)
    if senders:
        release(engine, name, owner)
        who = ", ".join(o.rsplit(":", 1)[0] for o in senders)
        raise LockHeld(
            f"{name.removeprefix('week:')} is being sent by {len(senders)} `send` "
            f"process(es) ({who}); wait for them to finish, or check `newsletter status`"
        )
    return owner


def shared_holders(engine: Engine, name: str, *, stale_after: timedelta = STALE_AFTER) -> list[str]:
    """The owners of the live shared registrations of lock `name`; the dead ones' rows are
    deleted."""
    now = utcnow()
    rows = locks.locks_under(engine, shared_prefix(name))
    dead = [
        r
        for r in rows
        if _age(now, r.heartbeat_at) >= stale_after.total_seconds() or not _alive(r.owner)
    ]
    if dead:
        locks.delete_rows(engine, dead)
    return [r.owner for r in rows if r not in dead]


def _take(engine: Engine, name: str, *, command: str, stale_after: timedelta) -> str:
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
        return _take(engine, name, command=command, stale_after=stale_after)
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
    with _kept(engine, name, owner, heartbeat):
        yield owner


@contextmanager
def hold_shared(engine: Engine, name: str, *, command: str) -> Iterator[str]:
    """A shared registration under lock `name` for the block (see the module doc): raises
    LockHeld when a run, regenerate or render holds `name`; yields the owner token. Its
    heartbeat and staleness are the module's (HEARTBEAT, STALE_AFTER)."""
    deadline = time.monotonic() + JOIN_WAIT
    while True:
        try:
            gate = _take(engine, name, command=JOINING, stale_after=STALE_AFTER)
            break
        except LockHeld:
            held = locks.get_lock(engine, name)
            if (held is not None and held.command != JOINING) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)  # another sender is registering: a moment
    try:
        owner = _owner()
        shared = shared_prefix(name) + owner
        if not locks.insert_lock(engine, shared, owner, command, utcnow()):
            raise RuntimeError(f"the registration {shared} exists already")  # pragma: no cover
    finally:
        release(engine, name, gate)
    with _kept(engine, shared, owner, HEARTBEAT):
        yield owner


@contextmanager
def _kept(engine: Engine, name: str, owner: str, heartbeat: timedelta) -> Iterator[None]:
    """Refresh the row's heartbeat from a daemon thread during the block; delete it after."""
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
        yield
    finally:
        stop.set()
        thread.join()
        release(engine, name, owner)
