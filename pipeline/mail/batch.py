"""The SMTP side of `send`: one worker's batch over one (re)connected session, its
messages claimed in batches (`pipeline.mail.claims`), each transmitted and recorded so that
nobody gets it twice (the protocol is in `pipeline.mail.send`'s docstring)."""

from __future__ import annotations

import heapq
import logging
import random
import smtplib
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Connection

from pipeline.backoff import backoff_delay
from pipeline.config import Settings
from pipeline.errors import BadAddress, SMTPUnavailable
from pipeline.mail.claims import Claims, Pacer
from pipeline.mail.commits import GroupCommit, Marked
from pipeline.mail.message import IssueMail, Outgoing, Recipient, dot_stuffed
from pipeline.mail.smtp import SMTPReply, close, connect, sender_address
from pipeline.store import deliveries

log = logging.getLogger(__name__)
IDLE_CHECK = 5.0  # seconds: a connection idle longer is checked with NOOP before use
_STAGES = ("MAIL FROM", "RCPT TO", "DATA")
_WANT = ((250,), (250, 251), (354,))


@dataclass
class SendResult:
    """What a send did.  `failed` excludes `bounced` (mailbox does not exist): a rerun
    tries the failed ones again, never the bounced."""

    week: str
    sent: int = 0
    skipped: int = 0  # already sent by an earlier run
    failed: int = 0
    bounced: int = 0
    remaining: int = 0  # not tried because the batch stopped (see `stopped`)
    stopped: str = ""  # why the batch stopped early; "" when it ran to the end

    def counts(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "skipped": self.skipped,
            "failed": self.failed,
            "bounced": self.bounced,
            "remaining": self.remaining,
        }

    def summary(self) -> str:
        line = (
            f"sent {self.week}: {self.sent} sent, {self.skipped} skipped, "
            f"{self.failed} failed, {self.bounced} bounced"
        )
        return f"{line}, {self.remaining} remaining" if self.remaining else line

    def stopped_note(self) -> str:
        """Why the batch stopped early, and what sends the rest ("" when it did not stop)."""
        if not self.stopped:
            return ""
        return (
            f"sending {self.week} stopped early: {self.stopped}; run `newsletter send "
            f"{self.week}` again to send the rest"
        )

    def add(self, other: SendResult) -> None:
        """Count in another worker's result."""
        self.sent += other.sent
        self.failed += other.failed
        self.bounced += other.bounced
        self.remaining += other.remaining
        self.stopped = self.stopped or other.stopped


@dataclass
class Todo:
    recipient: Recipient
    fresh: bool  # its row was inserted by our claim (withdrawn by deleting it)
    tries: int = 0  # attempts in this run


@dataclass(order=True)
class _Retry:
    due: float
    seq: int
    todo: Todo = field(compare=False)


class _Stop(Exception):
    """The server cannot be reached any more: the batch ends; a rerun continues it."""


class Batch:
    """Sends what `claims` gives over one (re)connected SMTP session, recording every step."""

    def __init__(
        self,
        db: Connection,
        settings: Settings,
        mail: IssueMail,
        result: SendResult,
        *,
        claims: Claims,
        pacer: Pacer,
        commits: GroupCommit,
        retry_base: float,
        tick: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.db, self.settings, self.mail, self.result = db, settings, mail, result
        self.claims, self.pacer, self.commits = claims, pacer, commits
        self.tick = tick  # told of each message that reached its outcome (progress bars)
        self.week = mail.week
        self.envelope_from = parseaddr(sender_address(settings))[1]
        self.retry_base = retry_base
        self.rng = random.Random()
        self.conn: smtplib.SMTP | None = None
        self.last_used = 0.0  # monotonic time of the connection's last reply
        self.in_data = False  # a message body was sent, its terminator not yet
        self.eight_bit = False
        self.pipelining = False
        self.queue: deque[Todo] = deque()
        self.retries: list[_Retry] = []
        self.seq = 0
        self.pending: tuple[Todo, smtplib.SMTP] | None = None  # terminator sent, reply unread

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            if not self._claim_more():
                return
            self._connection(first=True)
            while (item := self._next()) is not None:
                self.pacer.wait()
                try:
                    out = self.mail.compose(item.recipient, eight_bit=self.eight_bit, stuffed=True)
                except BadAddress as exc:
                    item.tries += 1
                    self._fail(item, str(exc))
                    continue
                self._finish()
                self._transmit(item, out)
            self._finish()
        except _Stop as stop:
            self.result.stopped = str(stop)
        finally:
            self.result.remaining = len(self.queue) + len(self.retries)
            self._quit()  # first: an unterminated message must be gone before its row is freed
            self.claims.withdraw([(t.recipient, t.fresh) for t in self.queue if not t.tries])

    def _claim_more(self) -> bool:
        got = self.claims.take()
        self.queue.extend(Todo(Recipient(c.subscriber_id, c.email, c.name), c.fresh) for c in got)
        return bool(got)

    def _next(self) -> Todo | None:
        while True:
            if self.queue:
                return self.queue.popleft()
            if self.pending is not None:
                self._finish()
                continue
            if self._claim_more():
                continue
            if not self.retries:
                return None
            delay = self.retries[0].due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            return heapq.heappop(self.retries).todo

    # -- one message -------------------------------------------------------------------------

    def _transmit(self, item: Todo, out: Outgoing) -> None:
        try:
            conn = self._connection()
        except _Stop:
            self.queue.appendleft(item)
            raise
        if out.eight_bit and not self.eight_bit:  # reconnected to a server without 8BITMIME
            out = self.mail.compose(
                item.recipient, eight_bit=False, message_id=out.message_id, stuffed=True
            )
        item.tries += 1
        try:
            self._envelope(conn, item.recipient.email, out.eight_bit)
            self.in_data = True
            conn.send(out.data if out.stuffed else dot_stuffed(out.data))
        except SMTPReply as reply:
            self._reset(conn, reply.code)
            self._refused(item, reply)
            return
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            self._transient(item, f"connection lost: {exc}")
            return
        outcome, failure = self.commits.mark_sent(
            self.db, item.recipient.id, out.message_id, lambda: conn.send(b".\r\n")
        )
        if outcome is Marked.NOT_OURS:
            # The subscriber left since the claim, or the claim was taken over: the message
            # stays unterminated and the connection is dropped, so the server discards it.
            log.info(
                "%s: not sent (unsubscribed meanwhile, or claim taken over)", item.recipient.email
            )
            self._drop()
            self.claims.withdraw([(item.recipient, item.fresh)])  # no-op when not ours
            return
        self.in_data = False
        if outcome is Marked.LOST:  # the terminator could not be written (step 4)
            self._drop()
            self._unconfirmed(item, failure or OSError("the terminator was not sent"))
            return
        self.pending = (item, conn)

    def _envelope(self, conn: smtplib.SMTP, recipient: str, eight_bit: bool) -> None:
        """MAIL FROM, RCPT TO and DATA, up to the 354 that asks for the message; in one
        write when the server offers PIPELINING (RFC 2920), each reply read in turn.  The
        addresses were checked when the message was composed (plain ASCII, no line breaks,
        parsed as an address), so they go in the commands as they are."""
        commands = [
            f"MAIL FROM:<{self.envelope_from}>" + (" BODY=8BITMIME" if eight_bit else ""),
            f"RCPT TO:<{recipient}>",
            "DATA",
        ]
        if self.pipelining:
            conn.send("".join(c + "\r\n" for c in commands))
            replies = [conn.getreply() for _ in commands]
        else:
            replies = []
            for command in commands:
                conn.putcmd(command)
                replies.append(conn.getreply())
                if replies[-1][0] not in (250, 251, 354):
                    break
        for stage, want, (code, text) in zip(_STAGES, _WANT, replies, strict=False):
            if code not in want:
                if replies[-1][0] == 354:  # DATA was taken after all: leave, discarding it
                    self._drop()
                raise SMTPReply(stage, code, text)

    def _finish(self) -> None:
        """Read the reply to the last terminator sent."""
        if self.pending is None:
            return
        item, conn = self.pending
        self.pending = None
        try:
            code, text = conn.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            self._unconfirmed(item, exc)
            return
        self.last_used = time.monotonic()
        if code == 250:
            self.result.sent += 1
            self.tick(1)
            return
        if code == 421 or code < 400:
            self._drop()
        self._refused(item, SMTPReply("end of DATA", code, text))  # the server did not take it

    def _unconfirmed(self, item: Todo, exc: Exception) -> None:
        note = f"sent; connection lost before the server confirmed it ({exc})"
        log.warning("%s: %s", item.recipient.email, note)
        self._set(item, error=note)
        self.result.sent += 1
        self.tick(1)

    def _refused(self, item: Todo, reply: SMTPReply) -> None:
        if 500 <= reply.code < 600:
            self._fail(item, str(reply), bounce=reply.mailbox_gone)
        else:
            self._transient(item, str(reply))

    def _transient(self, item: Todo, error: str) -> None:
        if item.tries > self.settings.smtp.retries:
            self._fail(item, f"gave up after {item.tries} attempts: {error}")
            return
        deliveries.retrying(self.db, self.week, item.recipient.id, error)
        delay = backoff_delay(item.tries, None, base=self.retry_base, rng=self.rng)
        self.seq += 1
        heapq.heappush(self.retries, _Retry(time.monotonic() + delay, self.seq, item))
        log.info("%s: %s; retrying in %.1f s", item.recipient.email, error, delay)

    def _fail(self, item: Todo, error: str, *, bounce: bool = False) -> None:
        mid = self.mail.message_id(item.recipient)
        self._set(item, status="failed", sent_at=None, error=error[:1000], message_id=mid)
        if bounce:
            self._bounce(item.recipient.id)
            self.result.bounced += 1
        else:
            self.result.failed += 1
        self.tick(1)
        log.warning("%s: %s", item.recipient.email, error)

    # -- the connection ----------------------------------------------------------------------

    def _connection(self, first: bool = False) -> smtplib.SMTP:
        if self.conn is not None and time.monotonic() - self.last_used > IDLE_CHECK:
            try:  # idle while retries waited: the server may have closed it
                self.conn.noop()
            except (smtplib.SMTPException, OSError):
                self._drop()
        if self.conn is not None:
            return self.conn
        tries = 0
        while True:
            try:
                self.conn = connect(self.settings)
                break
            except SMTPUnavailable as exc:
                tries += 1
                if first:
                    raise
                if tries > self.settings.smtp.retries:
                    raise _Stop(str(exc)) from None
                time.sleep(backoff_delay(tries, None, base=self.retry_base, rng=self.rng))
        self.eight_bit = self.conn.has_extn("8bitmime")
        self.pipelining = self.conn.has_extn("pipelining")
        self.last_used = time.monotonic()
        if self.conn.sock is not None:  # the small terminator must not wait for an ACK (Nagle)
            self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.conn

    def _reset(self, conn: smtplib.SMTP, code: int) -> None:
        if code == 421 or code < 400:  # closing, or a reply that makes no sense
            self._drop()
            return
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self.in_data = False

    def _quit(self) -> None:
        if self.in_data:  # an unterminated message: just close, the server discards it
            self._drop()
        if self.conn is not None:
            close(self.conn)
        self.conn = None

    # -- the records -------------------------------------------------------------------------

    def _set(self, item: Todo, **values: Any) -> None:
        deliveries.set_delivery(self.db, self.week, item.recipient.id, **values)

    def _bounce(self, subscriber_id: int) -> None:
        """Mark the address bounced (an unsubscribed one stays unsubscribed)."""
        deliveries.mark_bounced(self.db, subscriber_id)
