"""Steps 3 and 4 of the protocol ("sent", committed durably, then the terminator) for all
the workers of one `send`, as group commits.

A durable commit waits for the disk (on SQLite with `synchronous=FULL` an fsync of the WAL,
about 1.5 ms here; on PostgreSQL the WAL flush and a reply over the socket), and on SQLite
commits are one at a time: one commit per message would cap a sender at a few hundred
messages/s however many connections it has.  So the workers hand their "sent" marks to
`GroupCommit.mark_sent` and wait: the first to arrive commits everything waiting in one
transaction (leader), the others wait for it; marks that arrive meanwhile go in the next
commit.

The leader also writes the terminator of every message its commit marked, at once after the
commit returns: a waiting worker would first have to be woken and win the GIL (up to the
interpreter's switch interval, 5 ms), and a kill in that time loses the message (its row
says "sent", the server never got the end of it).  So the rule holds for every message --
no terminator before its row is durable -- and the window between the two is as short as
one thread can make it.  The worker whose mark it is reads the server's reply.
"""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from sqlalchemy import Connection

from pipeline.store import deliveries


class Marked(Enum):
    TERMINATED = "terminated"  # committed "sent", terminator written: read the reply
    NOT_OURS = "not ours"  # not marked (claim taken over, or unsubscribed): drop the message
    LOST = "lost"  # committed "sent", but writing the terminator failed


@dataclass
class _Mark:
    subscriber_id: int
    message_id: str
    terminate: Callable[[], None]
    done: bool = False
    outcome: Marked = Marked.NOT_OURS
    failure: Exception | None = None  # why the terminator could not be written
    error: BaseException | None = field(default=None)  # the commit failed


class GroupCommit:
    """The "sent" marks of one sender's workers (its owner token in the issue's lock)."""

    def __init__(self, week: str, owner: str) -> None:
        self.week, self.owner = week, owner
        self.cond = threading.Condition()
        self.waiting: list[_Mark] = []
        self.committing = False
        self.commits = 0  # transactions made (the benchmark reports marks per commit)

    def mark_sent(
        self,
        db: Connection,
        subscriber_id: int,
        message_id: str,
        terminate: Callable[[], None],
    ) -> tuple[Marked, Exception | None]:
        """Commit the row "sent" (with the others waiting), on `db` when this caller leads,
        and then call `terminate` (it writes the message's terminator); the outcome, and
        the exception `terminate` raised when it is LOST."""
        mark = _Mark(subscriber_id, message_id, terminate)
        with self.cond:
            self.waiting.append(mark)
            while not mark.done and self.committing:
                self.cond.wait()
            if not mark.done:
                batch, self.waiting, self.committing = self.waiting, [], True
        if not mark.done:
            self._lead(db, batch)
        if mark.error is not None:
            raise mark.error
        return mark.outcome, mark.failure

    def _lead(self, db: Connection, batch: list[_Mark]) -> None:
        error: BaseException | None = None
        marked: set[int] = set()
        try:
            marked = deliveries.mark_sent(
                db, self.week, self.owner, [(m.subscriber_id, m.message_id) for m in batch]
            )
        except BaseException as exc:
            error = exc
            db.rollback()
        for m in batch:
            if error is None and m.subscriber_id in marked:
                m.outcome = Marked.TERMINATED
                try:
                    m.terminate()  # step 4, right after the commit
                except (smtplib.SMTPException, OSError) as exc:
                    m.outcome, m.failure = Marked.LOST, exc
        with self.cond:
            for m in batch:
                m.done, m.error = True, error
            self.committing = False
            self.commits += 1
            self.cond.notify_all()
