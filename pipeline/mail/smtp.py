"""An SMTP connection from settings: plain, STARTTLS or implicit TLS, optional login.

The password comes only from the environment (`NEWSLETTER_SMTP_PASSWORD`).  Connection
failures become one-line `SMTPUnavailable` errors that say which server and what to check.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.headerregistry import Address
from email.utils import parseaddr

from pipeline.config import Settings
from pipeline.env import SMTP_PASSWORD, smtp_password
from pipeline.errors import ConfigError, SMTPUnavailable

PASSWORD_ENV = SMTP_PASSWORD
_ENHANCED = re.compile(rb"^([245])\.(\d{1,3})\.(\d{1,3})\b")


def close(conn: smtplib.SMTP) -> None:
    """QUIT politely; a connection that fails even that is just closed."""
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


def sender_address(settings: Settings) -> str:
    """The From address, checked: `News <news@example.org>` or `news@example.org`."""
    if not settings.smtp.from_address:
        raise ConfigError(
            "no From address: set NEWSLETTER_FROM (e.g. 'AI papers <news@example.org>') "
            "or [smtp] from in newsletter.toml"
        )
    name, addr = parseaddr(settings.smtp.from_address)
    if "@" not in addr or any(c in settings.smtp.from_address for c in "\r\n"):
        raise ConfigError(
            f"bad setting 'smtp_from': {settings.smtp.from_address!r} is not an address"
        )
    return str(Address(display_name=name, addr_spec=addr)) if name else addr


def connect(settings: Settings) -> smtplib.SMTP:
    """A logged-in connection (the caller closes it with `quit()`); on failure nothing is
    left open."""
    where = f"{settings.smtp.host}:{settings.smtp.port}"
    context = ssl.create_default_context()
    conn: smtplib.SMTP | None = None
    try:
        if settings.smtp.tls == "ssl":
            conn = smtplib.SMTP_SSL(
                settings.smtp.host,
                settings.smtp.port,
                timeout=settings.smtp.timeout_seconds,
                context=context,
            )
        else:
            conn = smtplib.SMTP(
                settings.smtp.host, settings.smtp.port, timeout=settings.smtp.timeout_seconds
            )
        conn.ehlo()
        if settings.smtp.tls == "starttls":
            conn.starttls(context=context)
            conn.ehlo()
        if settings.smtp.user:
            password = smtp_password()
            if not password:
                raise ConfigError(f"smtp_user is set but {PASSWORD_ENV} is empty")
            conn.login(settings.smtp.user, password)
    except smtplib.SMTPAuthenticationError as exc:
        _close_quietly(conn)
        raise SMTPUnavailable(
            f"the SMTP server {where} refused the login of {settings.smtp.user!r} "
            f"({exc.smtp_code}); check smtp_user and {PASSWORD_ENV}"
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        _close_quietly(conn)
        raise SMTPUnavailable(
            f"cannot use the SMTP server {where} ({type(exc).__name__}: {exc}); "
            "check smtp_host, smtp_port and smtp_tls"
        ) from None
    except ConfigError:
        _close_quietly(conn)
        raise
    return conn


def _close_quietly(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        conn.close()


class SMTPReply(Exception):
    """An SMTP reply that is not the expected one."""

    def __init__(self, stage: str, code: int, text: bytes) -> None:
        self.stage, self.code, self.text = stage, code, text
        super().__init__(f"{stage}: {code} {text.decode('utf-8', 'replace')}".strip())

    @property
    def mailbox_gone(self) -> bool:
        """A permanent reply to RCPT (or, one recipient per message, to the end of DATA)
        that says the address does not exist: 550/551/553 or a 5.1.x destination status."""
        if self.stage not in ("RCPT TO", "end of DATA"):
            return False
        enhanced = _ENHANCED.match(self.text)
        if enhanced:
            return (
                enhanced.group(1) == b"5"
                and enhanced.group(2) == b"1"
                and (
                    enhanced.group(3) not in (b"7", b"8")  # 5.1.7, 5.1.8: the sender's address
                )
            )
        return self.stage == "RCPT TO" and self.code in (550, 551, 553)
