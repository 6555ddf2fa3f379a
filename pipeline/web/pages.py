"""The pages of the web endpoints and the confirmation email, rendered from `templates/web/`
and `templates/email/confirm.txt.j2` (a user template directory overrides them).

Every page is autoescaped (nothing from the request or the database becomes markup), carries
`noindex`, is never cached and is sent with restrictive security headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from starlette.responses import HTMLResponse

from pipeline.config import Settings
from pipeline.mail.smtp import sender_address
from pipeline.mail.tokens import CONFIRM_MAX_AGE
from pipeline.render.files import environment

HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


@dataclass(frozen=True)
class Link:
    href: str
    text: str


class Pages:
    """Renders the pages and the confirmation email with one Jinja environment."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = environment(settings.site.templates_dir)
        self.sender = sender_address(settings)  # a missing From fails at start, not per request

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(f"web/{template}").render(
            title=self.settings.site.title, **context
        )
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def message(
        self, heading: str, *lines: str, status: int = 200, link: Link | None = None
    ) -> HTMLResponse:
        return self.page("message.html.j2", status, heading=heading, lines=lines, link=link)

    def confirmation_email(
        self, email: str, *, confirm_url: str = "", unsubscribe_url: str = ""
    ) -> EmailMessage:
        """The double opt-in email; with `unsubscribe_url` instead, "you're already subscribed"."""
        title = self.settings.site.title
        already = bool(unsubscribe_url)
        text = self.env.get_template("email/confirm.txt.j2").render(
            title=title,
            email=email,
            already=already,
            confirm_url=confirm_url,
            unsubscribe_url=unsubscribe_url,
            valid_days=CONFIRM_MAX_AGE // 86400,
            public_url=self.settings.site.public_url,
        )
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = email
        msg["Subject"] = (
            f"You are already subscribed to {title}"
            if already
            else f"Confirm your subscription to {title}"
        )
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        domain = parseaddr(self.sender)[1].rpartition("@")[2]
        msg["Message-ID"] = make_msgid(domain=domain or None)
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to it
        msg.set_content(text)
        return msg
