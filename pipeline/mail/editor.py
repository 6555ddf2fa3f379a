"""The email that tells the editor an issue awaits approval, with a link to the desk.

Sent by the scheduled run when `approval = "required"` (see `pipeline.schedule_job`), to
the setting `editor_email`. Its only variable parts are settings and the ISO week: no
paper text goes into it."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from pipeline.config import Settings
from pipeline.errors import ConfigError, SMTPUnavailable
from pipeline.mail.message import one_line
from pipeline.mail.smtp import close, connect, sender_address
from pipeline.records import parse_week

log = logging.getLogger(__name__)


def desk_url(settings: Settings, week: str) -> str:
    base = (
        settings.site.public_url
        if settings.site.public_url.endswith("/")
        else settings.site.public_url + "/"
    )
    return f"{base}desk/{parse_week(week)}"


def approval_request(settings: Settings, week: str) -> EmailMessage:
    """The message to `editor_email`: the issue is built and waits for the editor."""
    name, addr = parseaddr(settings.desk.editor_email)
    if "@" not in addr or any(c in settings.desk.editor_email for c in "\r\n"):
        raise ConfigError(f"bad setting 'editor_email': {settings.desk.editor_email!r}")
    title = one_line(settings.site.title)
    url = desk_url(settings, week)
    msg = EmailMessage()
    sender = sender_address(settings)
    msg["From"] = sender
    msg["To"] = addr
    msg["Subject"] = f"{title}: issue {week} awaits your approval"
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(
        f"Issue {week} of {title} is built and waits for your approval.\n\n"
        f"Screen, compose and preview it at the desk:\n{url}\n\n"
        f"Then approve it there, or run `newsletter approve {week}`; until then "
        f"`newsletter send {week}` refuses to send it.\n"
    )
    return msg


def notify_editor(settings: Settings, week: str) -> bool:
    """Email the editor that the issue awaits approval; True when sent. Without an
    `editor_email`, or when the mail cannot go out, one log line says so instead."""
    url = desk_url(settings, week)
    if not settings.desk.editor_email:
        log.warning("issue %s awaits approval at %s (no editor_email is set)", week, url)
        return False
    msg = approval_request(settings, week)
    try:
        conn = connect(settings)
        try:
            conn.send_message(msg)
        finally:
            close(conn)
    except (SMTPUnavailable, smtplib.SMTPException, OSError) as exc:
        log.warning(
            "issue %s awaits approval at %s; emailing the editor failed: %s", week, url, exc
        )
        return False
    log.warning("issue %s awaits approval: emailed %s a link to %s", week, msg["To"], url)
    return True
