"""The web app behind `newsletter serve`: the archive site (out/site) and, given a database,
settings and a token signer, the endpoints behind the links in emails.

    GET  /subscribe           a form: email, optional name
    POST /subscribe           a pending subscriber and a confirmation email (double opt-in)
    GET  /confirm?t=TOKEN     the subscriber becomes active
    GET  /unsubscribe?t=T     asks to confirm with a button; changes nothing
    POST /unsubscribe?t=T     unsubscribes: RFC 8058 one-click (body List-Unsubscribe=One-Click)
                              or the button of the GET page
    GET  /feedback?t=TOKEN    records a 👍/👎 click (see pipeline.web.clicks)
    /desk/...                 the editor's desk (pipeline.web.desk), given DeskAccess; without
                              it (no editor password) a page saying how to turn it on
    /                         the archive: index.html, issues/<week>/, feeds, audio

Decisions:
- Privacy: POST /subscribe shows the same "check your inbox" page whether or not the address
  was already on the list, and always sends exactly one email: the confirmation link, or to an
  already active address a "you're already subscribed" note with its unsubscribe link.  Only
  the owner of the mailbox learns the address is subscribed.
- No CSRF tokens: the only state-changing forms are unsubscribe, authorised by the signed
  token in its URL (a forged request needs the token, i.e. the email), and subscribe, which
  only creates a pending row and mails the address; nothing happens without its owner
  following the emailed link.
- GET never unsubscribes (mail link scanners follow links).  Confirm and feedback links act
  on GET, as mail clients open them; a bad token changes nothing.
- Bad, tampered, expired or wrong-purpose tokens: 400; a subscriber who no longer exists: 404.
- Sign-up emails are rate-limited in memory (per process): 3 an hour to one address, 10 an
  hour from one client address (behind a reverse proxy that is the proxy's); more get 429.
"""

from __future__ import annotations

import functools
import logging
import smtplib
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from pipeline.config import Settings
from pipeline.errors import BadToken, NotFoundError, SMTPUnavailable, UserInputError
from pipeline.mail.smtp import close, connect
from pipeline.mail.subscribers import check_name, confirm, normalise_email, subscribe_pending
from pipeline.mail.tokens import Signer
from pipeline.store.subscribers import get, unsubscribe
from pipeline.web.clicks import record_click
from pipeline.web.deskgate import DeskAccess, off_routes
from pipeline.web.pages import Link, Pages
from pipeline.web.ratelimit import RateLimit

log = logging.getLogger(__name__)
MAX_TOKEN = 2000  # characters; real tokens are < 200
MAX_NAME = 200
FORM_LIMITS = {"max_files": 0, "max_fields": 10, "max_part_size": 64 * 1024}


def create_app(
    site_dir: Path,
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    signer: Signer | None = None,
    desk: DeskAccess | None = None,
) -> Starlette:
    """The archive at "/"; with engine, settings and signer also the endpoints above, and the
    editor's desk at /desk (on with `desk`, else a page saying how to turn it on)."""
    routes: list[BaseRoute] = []
    if engine is not None and settings is not None and signer is not None:
        routes += Endpoints(engine, settings, signer).routes()
        if desk is not None:
            from pipeline.web.desk import Desk  # the desk's dependencies only when it is on

            routes += Desk(desk).routes()
        else:
            routes += off_routes(settings)
    elif engine is not None or settings is not None or signer is not None or desk is not None:
        raise ValueError("create_app needs all of engine, settings and signer, or none")
    routes.append(Mount("/", StaticFiles(directory=site_dir, html=True), name="site"))
    return Starlette(routes=routes)


class _Refused(Exception):
    """Stops a request with an error page."""

    def __init__(self, response: Response) -> None:
        self.response = response


Handler = Callable[["Endpoints", Request], Awaitable[Response]]


def _link_errors(link: Link | None = None) -> Callable[[Handler], Handler]:
    """The answer of every link endpoint to a missing, bad or expired token (400) and to a
    subscriber who is gone (404): an error page with `link`, nothing changed."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def answer(self: Endpoints, request: Request) -> Response:
            try:
                return await handler(self, request)
            except _Refused as refused:
                return refused.response
            except BadToken as exc:
                return self._bad_token(exc, link)
            except NotFoundError:
                return self._not_found(link)

        return answer

    return wrap


class Endpoints:
    def __init__(self, engine: Engine, settings: Settings, signer: Signer) -> None:
        self.engine, self.settings, self.signer = engine, settings, signer
        self.pages = Pages(settings)
        # Sign-up emails: at most 3 an hour to one address, 10 an hour from one client.
        self.per_address = RateLimit(3, 3600.0)
        self.per_client = RateLimit(10, 3600.0)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/subscribe", self.subscribe_form, methods=["GET"]),
            Route("/subscribe", self.subscribe, methods=["POST"]),
            Route("/confirm", self.confirm, methods=["GET"]),
            Route("/unsubscribe", self.unsubscribe_form, methods=["GET"]),
            Route("/unsubscribe", self.unsubscribe, methods=["POST"]),
            Route("/feedback", self.feedback, methods=["GET"]),
        ]

    # -- subscribe ---------------------------------------------------------------------------

    async def subscribe_form(self, request: Request) -> Response:
        return self.pages.page("subscribe.html.j2", error="", email="", name="")

    async def subscribe(self, request: Request) -> Response:
        form = await request.form(**FORM_LIMITS)
        raw, name = str(form.get("email") or ""), str(form.get("name") or "")
        try:
            email = normalise_email(raw)
            name = check_name(name)
            if len(name) > MAX_NAME:
                raise UserInputError(f"the name is too long (at most {MAX_NAME} characters)")
        except UserInputError as exc:
            return self.pages.page(
                "subscribe.html.j2", 400, error=_sentence(str(exc)), email=raw, name=name
            )
        client = request.client.host if request.client else "?"
        # A refused client is not counted against the address it asked for.
        wait = self.per_client.retry_after(client) or self.per_address.retry_after(email)
        if wait:
            response = self.pages.message(
                "Too many attempts",
                "Too many sign-up emails were asked for; try again in a while.",
                status=429,
                link=Link("subscribe", "Back to the form"),
            )
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        try:
            await run_in_threadpool(self._subscribe, email, name)
        except (SMTPUnavailable, smtplib.SMTPException, OSError) as exc:
            log.warning("confirmation email to %s not sent: %s", email, exc)
            return self.pages.message(
                "Not sent",
                "We could not send the confirmation email, try again later.",
                status=503,
                link=Link("subscribe", "Back to the form"),
            )
        return self.pages.message(
            "Check your inbox",
            f"We sent an email to {email}. Open the link in it to confirm your subscription.",
            "No email? Look in the spam folder, or subscribe again in a few minutes.",
        )

    def _subscribe(self, email: str, name: str) -> None:
        subscriber = subscribe_pending(self.engine, email, name=name, source="web")
        if subscriber.status == "active":
            assert subscriber.id is not None
            unsubscribe_url = f"{self.settings.site.public_url}unsubscribe?t="
            message = self.pages.confirmation_email(
                email, unsubscribe_url=unsubscribe_url + self.signer.unsubscribe(subscriber.id)
            )
        else:
            confirm_url = f"{self.settings.site.public_url}confirm?t={self.signer.confirm(email)}"
            message = self.pages.confirmation_email(email, confirm_url=confirm_url)
        conn = connect(self.settings)
        try:
            conn.send_message(message)
        finally:
            close(conn)

    @_link_errors(Link("subscribe", "Subscribe again"))
    async def confirm(self, request: Request) -> Response:
        email = self.signer.check_confirm(self._token(request))
        subscriber = await run_in_threadpool(confirm, self.engine, email)
        if subscriber.status != "active":  # it left the list after this link was sent
            return self.pages.message(
                "Not subscribed",
                f"{subscriber.email} left the list after this link was sent.",
                link=Link("subscribe", "Subscribe again"),
            )
        return self.pages.message(
            "You're subscribed",
            f"Each weekly issue will be sent to {subscriber.email}.",
            "Every email has a link to unsubscribe.",
        )

    # -- unsubscribe -------------------------------------------------------------------------

    @_link_errors()
    async def unsubscribe_form(self, request: Request) -> Response:
        token = self._token(request)
        subscriber_id = self.signer.check_unsubscribe(token)
        subscriber = await run_in_threadpool(get, self.engine, subscriber_id)
        if subscriber is None:
            return self._not_found()
        if subscriber.status == "unsubscribed":
            return self.pages.message(
                "Unsubscribed", f"{subscriber.email} is not on the list: nothing more to do."
            )
        return self.pages.page("unsubscribe.html.j2", email=subscriber.email, token=token)

    @_link_errors()
    async def unsubscribe(self, request: Request) -> Response:
        form = await request.form(**FORM_LIMITS)  # List-Unsubscribe=One-Click, or nothing
        subscriber_id = self.signer.check_unsubscribe(self._token(request, form.get("t")))
        subscriber = await run_in_threadpool(unsubscribe, self.engine, subscriber_id)
        if subscriber is None:
            return self._not_found()
        return self.pages.message(
            "Unsubscribed", f"{subscriber.email} will get no more issues. Sorry to see you go."
        )

    # -- feedback ----------------------------------------------------------------------------

    @_link_errors()
    async def feedback(self, request: Request) -> Response:
        token = self.signer.check_feedback(self._token(request))
        click = await run_in_threadpool(record_click, self.engine, token)
        return self.pages.page(
            "feedback.html.j2", paper_title=click.title, signal=click.signal, week=click.week
        )

    # -- shared ------------------------------------------------------------------------------

    def _token(self, request: Request, fallback: object = None) -> str:
        token = request.query_params.get("t") or (fallback if isinstance(fallback, str) else "")
        if not token:
            raise _Refused(
                self.pages.message(
                    "Link incomplete",
                    "This link has no token: copy the whole link from the email.",
                    status=400,
                )
            )
        if len(token) > MAX_TOKEN:
            raise BadToken("this link is not valid (it is far too long)")
        return token

    def _bad_token(self, exc: BadToken, link: Link | None = None) -> HTMLResponse:
        return self.pages.message("Link not valid", _sentence(str(exc)), status=400, link=link)

    def _not_found(self, link: Link | None = None) -> HTMLResponse:
        return self.pages.message(
            "Not on the list",
            "This link is for a subscriber who is no longer on the list.",
            status=404,
            link=link,
        )


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
