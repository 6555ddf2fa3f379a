"""Where a send worker's next messages come from: delivery rows claimed in batches.

Several workers (threads of one `send`, and other `send` processes, on any host) claim from
the same issue at once; the store makes each claim exclusive (`pipeline.store.deliveries`).
A worker first claims subscribers with no row yet, walking up the subscriber ids from
where its last batch ended; when none are left it takes over the rows that senders no
longer alive left "sending" or "failed" (a killed process, an earlier run).  Which senders
are alive is read from their registrations under the issue's lock (`pipeline.ops.lock`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Connection

from pipeline.mail.message import Recipient
from pipeline.store import deliveries
from pipeline.store.deliveries import Claimed

BATCH = 50  # rows per claim: one transaction per BATCH messages
WINDOW = 500  # subscriber ids looked at per claim (see `deliveries.window_end`)


class Claims:
    """One worker's claims (not shared between threads: each worker has its own)."""

    def __init__(
        self,
        db: Connection,
        week: str,
        owner: str,
        live: Callable[[], list[str]],
        *,
        size: int = BATCH,
    ) -> None:
        self.db, self.week, self.owner, self.live, self.size = db, week, owner, live, size
        self.after = 0  # the highest subscriber id this worker claimed so far

    def take(self) -> list[Claimed]:
        """The next batch, claimed ("sending", ours, committed); [] when nothing is left."""
        got = self._new()
        if not got and self.after:  # others may have skipped a row at our back: look again
            self.after = 0
            got = self._new()
        if got:
            self.after = got[-1].subscriber_id
            return got
        live = [self.owner, *self.live()]
        return deliveries.reclaim(self.db, self.week, self.owner, live=live, limit=self.size)

    def _new(self) -> list[Claimed]:
        """Claims from the window after `self.after` on, window by window; [] at the end."""
        after = self.after
        while True:
            end = deliveries.window_end(self.db, after, WINDOW)
            got = deliveries.claim_new(
                self.db, self.week, self.owner, after=after, upto=end, limit=self.size
            )
            if got or end is None:
                return got
            after = end  # all taken by others: the next window

    def withdraw(self, never_tried: list[tuple[Recipient, bool]]) -> None:
        """Give back claims this worker will not try (recipient, fresh)."""
        fresh = [r.id for r, new in never_tried if new]
        other = [r.id for r, new in never_tried if not new]
        if fresh or other:
            deliveries.withdraw(self.db, self.week, self.owner, fresh=fresh, other=other)


class Pacer:
    """`smtp_rate` as a total cap over all the workers of one `send`: each start of a
    message takes the next free slot, 1/rate seconds after the previous one."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_start = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            start = max(self.next_start, now)
            self.next_start = start + self.interval
        if start > now:
            time.sleep(start - now)
