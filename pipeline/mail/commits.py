"""Step 3 of the protocol ("sent", committed durably before the terminator) for all the
workers of one `send`, as group commits.

A durable commit waits for the disk (on SQLite with `synchronous=FULL` an fsync of the WAL,
about 1.5 ms here), and on SQLite commits are one at a time: one commit per message would
cap a sender at a few hundred messages/s however many connections it has.  So the workers
hand their "sent" marks to `GroupCommit.mark_sent` and wait: the first to arrive commits
everything waiting in one transaction (leader), the others wait for it; marks that arrive
meanwhile go in the next commit.  Each worker sends its terminator only after its own mark
is committed, so the rule holds for every message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Connection

from pipeline.store import deliveries


@dataclass
class _Mark:
    subscriber_id: int
    message_id: str
    done: bool = False
    ok: bool = False
    error: BaseException | None = field(default=None)


class GroupCommit:
    """The "sent" marks of one sender's workers (its owner token in the issue's lock)."""

    def __init__(self, week: str, owner: str) -> None:
        self.week, self.owner = week, owner
        self.cond = threading.Condition()
        self.waiting: list[_Mark] = []
        self.committing = False
        self.commits = 0  # transactions made (the benchmark reports marks per commit)

    def mark_sent(self, db: Connection, subscriber_id: int, message_id: str) -> bool:
        """Commit the row "sent" (with the others waiting), on `db` when this caller leads;
        False when the claim is no longer ours or the subscriber left meanwhile."""
        mark = _Mark(subscriber_id, message_id)
        with self.cond:
            self.waiting.append(mark)
            while not mark.done and self.committing:
                self.cond.wait()
            if mark.done:
                return self._outcome(mark)
            batch, self.waiting, self.committing = self.waiting, [], True
        error: BaseException | None = None
        marked: set[int] = set()
        try:
            marks = [(m.subscriber_id, m.message_id) for m in batch]
            marked = deliveries.mark_sent(db, self.week, self.owner, marks)
        except BaseException as exc:
            error = exc
            db.rollback()
        with self.cond:
            for m in batch:
                m.done, m.error = True, error
                m.ok = error is None and m.subscriber_id in marked
            self.committing = False
            self.commits += 1
            self.cond.notify_all()
        return self._outcome(mark)

    @staticmethod
    def _outcome(mark: _Mark) -> bool:
        if mark.error is not None:
            raise mark.error
        return mark.ok
