"""An issue emailed to every active subscriber, each exactly once, even across kills.

SMTP cannot take part in a database transaction, so each message follows this protocol:

1. claim: upsert the `delivery` row (issue, subscriber) as "sending" and commit -- only if
   the subscriber is `active` at that moment and the row is not already "sent";
2. MAIL FROM, RCPT TO, DATA, then the whole dot-stuffed message *without* the final
   `CRLF . CRLF` that ends it;
3. commit the row as "sent";
4. send the terminator `. CRLF` and read the reply.

A kill before step 3 leaves the server an unterminated message, which it discards when the
connection drops (RFC 5321 4.1.1.4), and a row in "sending": the next run sends it again --
it was never delivered.  A kill between steps 3 and 4 can lose that one message (a window
of microseconds), never send it twice.  A 4xx or 5xx reply to the terminator means the
server did not take the message: the row goes back to "sending" (retried) or to "failed".
A connection lost after the terminator was sent is ambiguous (RFC 1047); the row stays
"sent", with a note in `error`, so nobody gets a second copy.  The commits survive a killed
process; with SQLite's `synchronous=NORMAL` a power loss may undo the last ones.

Transient failures (4xx, a dropped connection, a timeout) are retried with the project's
backoff up to `smtp_retries` times, reconnecting as needed, while the batch goes on.  A 5xx
marks the delivery "failed" with the reply; when it says the mailbox does not exist (550,
551 or 553 to RCPT, or an enhanced status 5.1.x), the subscriber is also marked bounced.
"failed" deliveries are tried again by the next run; bounced subscribers are no longer
active.  One sender per issue at a time: a lock file in `cache_dir` (held until the process
exits, however it exits) makes a second `send` of the same issue stop at once.

One SMTP connection serves the whole batch; the next message is composed while the server
answers the previous one; `smtp_rate` caps messages per second (0: no cap).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from sqlalchemy import Connection, Engine

from pipeline.clock import utcnow
from pipeline.config import Settings
from pipeline.desk.review import check_approved
from pipeline.errors import BadAddress, SMTPUnavailable, UserInputError
from pipeline.mail.batch import Batch, SendResult, Todo
from pipeline.mail.message import IssueMail, Recipient
from pipeline.mail.smtp import close, connect, sender_address
from pipeline.mail.tokens import Signer, secret_from_env
from pipeline.ops.progress import Quiet, Reporter
from pipeline.render.publish import load_view
from pipeline.store import deliveries
from pipeline.store.issues import load_issue, set_status
from pipeline.store.runs import finish_run, start_run

log = logging.getLogger(__name__)
SENDABLE = ("rendered", "sent")  # issue statuses that may be emailed


@contextmanager
def _send_lock(settings: Settings, week: str) -> Iterator[None]:
    path = settings.cache_dir / "send" / f"{week}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserInputError(
                f"another `newsletter send {week}` is running (lock {path}); wait for it to end"
            ) from None
        yield
    finally:
        os.close(fd)


def _issue_mail(engine: Engine, settings: Settings, week: str, signer: Signer | None) -> IssueMail:
    issue, _ = load_issue(engine, week)
    if issue is not None and issue.status not in SENDABLE:
        raise UserInputError(
            f"issue {week} is {issue.status}, not rendered: run `newsletter run --week {week}` "
            "before sending it"
        )
    view = load_view(engine, settings, week)  # NotFoundError when there is no issue
    return IssueMail(
        view,
        settings,
        signer or Signer(secret_from_env()),
        sender=sender_address(settings),
        templates=settings.templates_dir,
    )


def _todo(db: Connection, week: str) -> tuple[list[Todo], int]:
    """Active subscribers not yet sent this issue (in id order), and how many were."""
    rows, sent = deliveries.unsent(db, week)
    todo = [Todo(Recipient(r.subscriber_id, r.email, r.name), has_row=r.has_row) for r in rows]
    return todo, sent


def send_issue(
    engine: Engine,
    settings: Settings,
    week: str,
    *,
    signer: Signer | None = None,
    retry_base: float = 1.0,
    progress: Reporter | None = None,
) -> SendResult:
    """Email the issue to every active subscriber not yet sent it (see the module doc),
    recorded as a `send` run (partial when some deliveries failed). NotApproved when the
    setting `approval = "required"` and the editor has not approved the issue."""
    check_approved(engine, settings, week)
    mail = _issue_mail(engine, settings, week, signer)
    result = SendResult(week)
    run_id = start_run(engine, "send", week)
    try:
        with _send_lock(settings, week), deliveries.connect(engine) as db:
            todo, result.skipped = _todo(db, week)
            deliveries.end_read(db)
            with (progress or Quiet()).task(f"sending {week}", total=len(todo)) as bar:
                batch = Batch(db, settings, mail, result, retry_base=retry_base, tick=bar.advance)
                batch.run(todo)
    except BaseException as exc:
        finish_run(engine, run_id, status="failed", counts=result.counts(), error=str(exc))
        raise
    status = "failed" if result.stopped else "partial" if result.failed else "ok"
    finish_run(engine, run_id, status=status, counts=result.counts(), error=result.stopped or None)
    if not result.stopped and result.sent + result.skipped:
        set_status(engine, week, "sent")
    return result


@dataclass(frozen=True)
class Outbox:
    directory: Path
    paths: list[Path]
    skipped: int  # already sent: not written


def write_outbox(
    engine: Engine,
    settings: Settings,
    week: str,
    directory: Path | None = None,
    *,
    signer: Signer | None = None,
) -> Outbox:
    """Write the messages a send would make as `.eml` files; claims and sends nothing.

    The folder's earlier `.eml` files are removed first; bodies are written as 8bit (as to a
    server that offers 8BITMIME) so they read plainly."""
    mail = _issue_mail(engine, settings, week, signer)
    target = directory or settings.output_dir / "issues" / week / "outbox"
    with deliveries.connect(engine) as db:
        todo, skipped = _todo(db, week)
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.eml"):
        old.unlink()
    paths = []
    for item in todo:
        r = item.recipient
        try:
            out = mail.compose(r, eight_bit=True)
        except BadAddress as exc:
            log.warning("%s", exc)
            continue
        path = target / f"{r.id:06d}-{re.sub(r'[^A-Za-z0-9@._+-]', '_', r.email)}.eml"
        path.write_bytes(out.data)
        paths.append(path)
    return Outbox(target, paths, skipped)


def _text(reply: bytes | str) -> str:
    return reply if isinstance(reply, str) else reply.decode("utf-8", "replace")


def send_test(
    engine: Engine, settings: Settings, week: str, address: str, *, signer: Signer | None = None
) -> str:
    """Send one copy to `address` ("Name <a@b>" or "a@b"); returns its Message-ID.

    Not recorded as a delivery.  Its links are signed for subscriber id 0, which no
    subscriber has: they open the pages but change nothing.  A fresh Message-ID each time,
    so a second test is not taken for a duplicate."""
    name, email = parseaddr(address)
    if "@" not in email:
        raise UserInputError(f"--to {address!r} is not an email address")
    mail = _issue_mail(engine, settings, week, signer)
    recipient = Recipient(0, email, name)
    conn = connect(settings)
    try:
        stamp = utcnow().strftime("%Y%m%d%H%M%S")
        mid = f"<{week}.test.{stamp}.{os.urandom(4).hex()}@{mail.host}>"
        out = mail.compose(recipient, eight_bit=conn.has_extn("8bitmime"), message_id=mid)
        options = ["BODY=8BITMIME"] if out.eight_bit else []
        conn.sendmail(parseaddr(sender_address(settings))[1], [email], out.data, options)
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = exc.recipients[email]
        raise UserInputError(f"the SMTP server refused {email}: {code} {_text(text)}") from None
    except smtplib.SMTPResponseException as exc:
        raise SMTPUnavailable(
            f"the SMTP server refused the test message: {exc.smtp_code} {_text(exc.smtp_error)}"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SMTPUnavailable(f"the SMTP connection failed while sending: {exc}") from None
    finally:
        close(conn)
    return mid
