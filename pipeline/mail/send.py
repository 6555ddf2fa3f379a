"""An issue emailed to every active subscriber, each exactly once, even across kills.

SMTP cannot take part in a database transaction, so each message follows this protocol:

1. claim: the `delivery` row (issue, subscriber) "sending", owned by this sender, committed
   -- claimed in batches (`pipeline.mail.claims`), only for subscribers `active` then and
   rows not "sent"; the subscriber is checked again just before MAIL FROM;
2. MAIL FROM, RCPT TO, DATA (in one write when the server offers PIPELINING), then the
   whole dot-stuffed message *without* the final `CRLF . CRLF` that ends it;
3. commit the row as "sent" -- only while the claim is still ours (else drop the connection:
   the message is discarded, the new owner of the claim sends it);
4. send the terminator `. CRLF` (written by whichever worker led the group commit, at once:
   `pipeline.mail.commits`) and read the reply.

A kill before step 3 leaves the server an unterminated message, which it discards when the
connection drops (RFC 5321 4.1.1.4), and a row in "sending": the next run sends it again --
it was never delivered.  A kill during step 3 or between steps 3 and 4 can lose that one
message, never send it twice: the database completes a commit whose client died (on
PostgreSQL that window is the commit's WAL flush, milliseconds; on SQLite, the fsync),
and then nothing sends the terminator.  A 4xx or 5xx reply to the
terminator means the server did not take the message: the row goes back to "sending"
(retried) or to "failed".
A connection lost after the terminator was sent is ambiguous (RFC 1047); the row stays
"sent", with a note in `error`, so nobody gets a second copy.  The commits survive a killed
process and a power loss: the sender's connections commit durably (SQLite
`synchronous=FULL`, PostgreSQL `synchronous_commit=on`), so a "sent" row is on disk before
its terminator goes out.

Transient failures (4xx, a dropped connection, a timeout) are retried with the project's
backoff up to `smtp_retries` times, reconnecting as needed, while the batch goes on.  A 5xx
marks the delivery "failed" with the reply; when it says the mailbox does not exist (550,
551 or 553 to RCPT, or an enhanced status 5.1.x), the subscriber is also marked bounced.
"failed" deliveries are tried again by the next run; bounced subscribers are no longer
active.

Senders share an issue: `send --workers N` runs N workers (threads, each with its own SMTP
connection and database connection), and any number of `send` processes, on any hosts, may
run at once: `pipeline.runner.send` registers each as a shared holder of the issue's lock
(`pipeline.ops.lock.hold_shared`), which keeps a run, regenerate or render of the week out
while they send.  A sender that dies leaves rows "sending" under its owner token; once its
registration is not live (its process is gone from this host, or its heartbeat is stale),
any sender takes them over, and a rerun sends them.

Each worker's connection serves its whole batch; the next message is composed while the
server answers the previous one; `smtp_rate` caps the messages per second of all the
workers of one process together (0: no cap).
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from sqlalchemy import Connection, Engine

from pipeline.clock import utcnow
from pipeline.config import Settings
from pipeline.errors import BadAddress, SMTPUnavailable, UserInputError
from pipeline.mail.batch import Batch, SendResult
from pipeline.mail.claims import Claims, Pacer
from pipeline.mail.commits import GroupCommit
from pipeline.mail.message import IssueMail, Recipient
from pipeline.mail.smtp import close, connect, sender_address
from pipeline.mail.tokens import Signer, secret_from_env
from pipeline.ops.progress import Quiet, Reporter
from pipeline.render.publish import load_view
from pipeline.store import deliveries
from pipeline.store.issues import load_issue

log = logging.getLogger(__name__)
SENDABLE = ("rendered", "sent")  # issue statuses that may be emailed


def issue_mail(
    engine: Engine, settings: Settings, week: str, signer: Signer | None = None
) -> IssueMail:
    """The issue's messages, ready to personalise; raises when it cannot be sent (not
    rendered, no such issue, no secret key, templates without the unsubscribe link)."""
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
        templates=settings.site.templates_dir,
    )


def _todo(db: Connection, week: str) -> tuple[list[Recipient], int]:
    """Active subscribers not yet sent this issue (in id order), and how many were."""
    rows, sent = deliveries.unsent(db, week)
    return [Recipient(r.subscriber_id, r.email, r.name) for r in rows], sent


def send_issue(
    engine: Engine,
    settings: Settings,
    mail: IssueMail,
    *,
    owner: str,
    live: Callable[[], list[str]] = list,
    workers: int = 1,
    retry_base: float = 1.0,
    progress: Reporter | None = None,
) -> SendResult:
    """Email `mail` to every active subscriber not yet sent it (the protocol is in the
    module doc) over `workers` SMTP connections.  `owner` is this sender's token in the
    issue's lock, `live` gives the other live senders' (whose claims are not taken over).
    Callers hold the issue's lock or a shared registration: use `pipeline.runner.send`."""
    result = SendResult(mail.week)
    with deliveries.connect(engine) as db:
        result.skipped, unsent, _ = deliveries.progress(db, mail.week)
    pacer, commits = Pacer(settings.smtp.rate), GroupCommit(mail.week, owner)
    ticks = threading.Lock()
    with (progress or Quiet()).task(f"sending {mail.week}", total=unsent) as bar:

        def tick(n: int) -> None:
            with ticks:
                bar.advance(n)

        def work() -> SendResult:
            mine = SendResult(mail.week)
            with deliveries.connect(engine, durable=True) as db:
                claims = Claims(db, mail.week, owner, live)
                Batch(
                    db,
                    settings,
                    mail,
                    mine,
                    claims=claims,
                    pacer=pacer,
                    commits=commits,
                    retry_base=retry_base,
                    tick=tick,
                ).run()
            return mine

        if workers == 1:
            result.add(work())
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="send") as pool:
                for done in [pool.submit(work) for _ in range(workers)]:
                    result.add(done.result())
    if result.stopped:  # what is left for a rerun, whoever claimed it
        with deliveries.connect(engine) as db:
            result.remaining = deliveries.progress(db, mail.week)[2]
    return result


@dataclass(frozen=True)
class Outbox:
    directory: Path
    paths: list[Path]
    skipped: int  # already sent: not written


def write_outbox(engine: Engine, mail: IssueMail, directory: Path) -> Outbox:
    """Write the messages a send would make as `.eml` files; claims and sends nothing.

    The folder's earlier `.eml` files are removed first; bodies are written as 8bit (as to a
    server that offers 8BITMIME) so they read plainly."""
    target = directory
    with deliveries.connect(engine) as db:
        todo, skipped = _todo(db, mail.week)
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.eml"):
        old.unlink()
    paths = []
    for r in todo:
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
    mail = issue_mail(engine, settings, week, signer)
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
