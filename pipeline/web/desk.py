"""The editor's desk at /desk: screen a week's candidates, compose and approve its issue.

    GET  /desk                         the weeks, newest first
    GET  /desk/login, POST /desk/login sign in with the editor's password
    POST /desk/logout                  sign out
    GET  /desk/static/desk.{js,css}    the one script and stylesheet (served here, no CDN)
    GET  /desk/{week}                  screening: the ranked candidates, keyboard first
    POST /desk/{week}/label            one screening decision (seen / downloaded / kept / undo)
    GET  /desk/{week}/compose          highlights, "also this week", texts, approval
    POST /desk/{week}/compose          one change (pin as a highlight or in "also this week",
                                       unpin, move, drop, restore, keep, edit, re-summarize,
                                       approve), then back to the page (303)
    GET  /desk/{week}/preview          the email (HTML in a sandboxed frame, text) and the
                                       podcast script; GET .../preview/email.html is the frame
    GET  /desk/{week}/kept.bib         the week's kept papers as BibTeX (a download)

Decisions:
- Every page and action needs a session (pipeline.web.auth); without one, pages redirect to
  the sign-in form and actions answer 403.  Every POST but sign-in carries the session's CSRF
  token, else 403 and nothing changes.  (Signing in needs none: a forged sign-in would
  need the password.)
- Paper text is only ever text: Jinja autoescapes every page, the script sets `textContent`
  and never `innerHTML`, and the CSP allows scripts and styles from this app only (no inline
  script or style).  The email preview is the one document with inline styles (an email needs
  them); it is sandboxed and may run no script at all.
- The desk's work is done by `pipeline.desk` (plain values in and out); this module parses,
  checks and answers.  Slow work (approve: summarize and render; re-summarize: an LLM call)
  runs in a worker thread.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from pipeline import desk
from pipeline.config import Settings
from pipeline.desk import approval, compose, export, learning, review
from pipeline.errors import ConfigError, NewsletterError, NotFoundError, UserInputError
from pipeline.records import parse_week
from pipeline.resources import resource_dir
from pipeline.store.issues import list_issues
from pipeline.web.auth import COOKIE, CSRF_FIELD, CSRF_HEADER, EditorAuth, Session
from pipeline.web.deskgate import HEADERS, DeskAccess
from pipeline.web.preview import preview

EMAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
)
STATIC = {
    "desk.js": "text/javascript; charset=utf-8",
    "desk.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
FORM_LIMITS = {"max_files": 0, "max_fields": 12, "max_part_size": 256 * 1024}
LABELS = ("seen", "downloaded", "kept")
ALL_STATUSES = ("ranked", "summarized", "rendered", "sent")
_PAPER_ID = re.compile(r"[A-Za-z0-9._/-]{1,64}")
_NEXT = re.compile(r"/desk(/[0-9]{4}-W[0-9]{2}(/compose|/preview)?)?")
ACTIONS = (
    "pin",
    "also",
    "unpin",
    "move",
    "drop",
    "restore",
    "keep",
    "edit",
    "resummarize",
    "approve",
)
DONE = {  # what the page says after an action (never text from the request)
    "pin": "Pinned as a highlight.",
    "also": "Added to also this week.",
    "unpin": "Unpinned: the ranking places it again.",
    "move": "Moved.",
    "drop": "Removed from the issue.",
    "restore": "Back in the running.",
    "keep": "Kept.",
    "edit": "Saved. The LLM will not overwrite it.",
    "resummarize": "Asked the model again.",
    "approve": "Approved: the issue can be sent.",
}


Handler = Callable[["Desk", Request, Session], Awaitable[Response]]


def _editor(*, page: bool) -> Callable[[Handler], Callable[[Desk, Request], Awaitable[Response]]]:
    """Run the handler for a signed-in editor: a page without a session redirects to the sign-in
    form; an action without a session or CSRF token is refused with 403.  Errors the user can
    fix become a page with their one line."""

    def wrap(handler: Handler) -> Callable[[Desk, Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def answer(self: Desk, request: Request) -> Response:
            session = self.auth.session(request.cookies.get(COOKIE))
            try:
                if session is None:
                    if page and request.method == "GET":
                        target = quote(request.url.path, safe="/")
                        return self._redirect(f"/desk/login?next={target}")
                    return self._refuse(request, 403, "Sign in first: this needs a session.")
                if request.method == "POST":
                    form = await request.form(**FORM_LIMITS)
                    token = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
                    if not self.auth.csrf_ok(session, token):
                        return self._refuse(
                            request, 403, "Refused: the form is out of date (no CSRF token)."
                        )
                return await handler(self, request, session)
            except NotFoundError as exc:
                return self._refuse(request, 404, str(exc))
            except UserInputError as exc:
                return self._refuse(request, 400, str(exc))
            except NewsletterError as exc:
                return self._refuse(request, 409, str(exc))

        return answer

    return wrap


class Desk:
    def __init__(self, access: DeskAccess) -> None:
        self.p = access.pipeline
        self.engine, self.settings = self.p.engine, self.p.settings
        secure = self.settings.site.public_url.startswith("https:")
        self.auth = EditorAuth(access.password, access.secret_key, secure=secure)
        self.pages = DeskPages(self.settings)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/desk", self.weeks, methods=["GET"]),
            Route("/desk/", self.weeks, methods=["GET"]),
            Route("/desk/login", self.login_form, methods=["GET"]),
            Route("/desk/login", self.login, methods=["POST"]),
            Route("/desk/logout", self.logout, methods=["POST"]),
            Route("/desk/static/{name}", self.pages.static, methods=["GET"]),
            Route("/desk/{week}", self.screen, methods=["GET"]),
            Route("/desk/{week}/label", self.label, methods=["POST"]),
            Route("/desk/{week}/compose", self.compose_page, methods=["GET"]),
            Route("/desk/{week}/compose", self.compose_action, methods=["POST"]),
            Route("/desk/{week}/preview", self.preview_page, methods=["GET"]),
            Route("/desk/{week}/preview/email.html", self.preview_email, methods=["GET"]),
            Route("/desk/{week}/kept.bib", self.bibtex, methods=["GET"]),
        ]

    # -- signing in ----------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        return self.pages.page("login.html.j2", error="", next=_next(request), author="")

    async def login(self, request: Request) -> Response:
        form = await request.form(**FORM_LIMITS)
        target = _next(request, form.get("next"))
        author = str(form.get("author") or "")
        client = request.client.host if request.client else "?"
        wait = self.auth.wait_before_attempt(client)
        if wait:
            refused = self.pages.page(
                "login.html.j2",
                429,
                error="Too many attempts: wait a few minutes and try again.",
                next=target,
                author=author,
            )
            refused.headers["Retry-After"] = str(int(wait) + 1)
            return refused
        typed = str(form.get("password") or "")
        if not await run_in_threadpool(self.auth.password_matches, typed):
            return self.pages.page(
                "login.html.j2", 403, error="Wrong password.", next=target, author=author
            )
        _, cookie = self.auth.new_session(author)
        response = self._redirect(target)
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=self.auth.max_age,
            path="/desk",
            secure=self.auth.secure,
            httponly=True,
            samesite="strict",
        )
        return response

    @_editor(page=False)
    async def logout(self, request: Request, session: Session) -> Response:
        response = self._redirect("/desk/login")
        response.delete_cookie(COOKIE, path="/desk", httponly=True, samesite="strict")
        return response

    # -- pages ---------------------------------------------------------------------------------

    @_editor(page=True)
    async def weeks(self, request: Request, session: Session) -> Response:
        issues = await run_in_threadpool(list_issues, self.engine, ALL_STATUSES)
        return self.pages.page("weeks.html.j2", session=session, issues=issues)

    @_editor(page=True)
    async def screen(self, request: Request, session: Session) -> Response:
        week = _week(request)
        cold = request.query_params.get("round") == "cold"
        data = await run_in_threadpool(self._screen_data, week, cold)
        return self.pages.page("screen.html.j2", session=session, week=week, cold=cold, **data)

    def _screen_data(self, week: str, cold: bool) -> dict[str, Any]:
        candidates = review.candidates(self.engine, week)
        screened, total = review.progress(self.engine, week)
        offer = learning.cold_start_round(self.engine, week) if cold else []
        if offer:
            by_id = {c.id: c for c in candidates}
            candidates = [by_id[i] for i in offer if i in by_id]
        counts: dict[str, int] = {}
        for c in candidates:
            for cat in c.categories:
                counts[cat] = counts.get(cat, 0) + 1
        categories = sorted(counts, key=lambda k: (-counts[k], k))
        return {
            "candidates": candidates,
            "screened": screened,
            "total": total,
            "categories": categories,
            "cold_offer": not cold and learning.needs_cold_start(self.engine),
        }

    @_editor(page=False)
    async def label(self, request: Request, session: Session) -> Response:
        week = _week(request)
        form = await request.form(**FORM_LIMITS)
        paper_id = _paper_id(form)
        label = str(form.get("label") or "")
        if label != "undo" and label not in LABELS:
            raise UserInputError(f"unknown label {label[:20]!r}")
        screened, total = await run_in_threadpool(self._label, week, paper_id, label)
        body = {"paper_id": paper_id, "label": label, "screened": screened, "total": total}
        return JSONResponse(body, headers=HEADERS)

    def _label(self, week: str, paper_id: str, label: str) -> tuple[int, int]:
        if label == "undo":
            learning.undo(self.engine, week, paper_id)
        else:
            learning.record(self.engine, week, paper_id, label, source="desk")
        return review.progress(self.engine, week)

    @_editor(page=True)
    async def compose_page(self, request: Request, session: Session) -> Response:
        week = _week(request)
        done = DONE.get(request.query_params.get("done", ""), "")
        data = await run_in_threadpool(self._compose_data, week)
        return self.pages.page("compose.html.j2", session=session, week=week, done=done, **data)

    def _compose_data(self, week: str) -> dict[str, Any]:
        candidates = review.candidates(self.engine, week)
        live = [c for c in candidates if not c.dropped]

        def placed(section: str) -> list[Any]:
            items = [c for c in live if c.section == section]
            return sorted(items, key=lambda c: c.position if c.position is not None else 1 << 30)

        highlights, also = placed("highlight"), placed("also")
        picked = [c for c in live if c.section is None and c.label in ("downloaded", "kept")]

        def text(target: str) -> str:
            return compose.current_text(self.engine, week, target) or ""

        texts = {"intro": text("intro"), "outro": text("outro")}
        for c in highlights:
            for kind in ("summary", "narration"):
                texts[f"{kind}:{c.id}"] = text(f"{kind}:{c.id}")
        for c in also:
            texts[f"oneliner:{c.id}"] = text(f"oneliner:{c.id}")
        return {
            "highlights": highlights,
            "also": also,
            "picked": picked,
            "dropped": [c for c in candidates if c.dropped],
            "texts": texts,
            "state": review.approval_state(self.engine, self.settings, week),
        }

    @_editor(page=False)
    async def compose_action(self, request: Request, session: Session) -> Response:
        week = _week(request)
        form = await request.form(**FORM_LIMITS)
        action = str(form.get("action") or "")
        if action not in ACTIONS:
            raise UserInputError(f"unknown action {action[:20]!r}")
        await run_in_threadpool(self._act, week, action, form, session.author)
        anchor = f"#p-{quote(_paper_id(form), safe='')}" if form.get("paper_id") else ""
        return self._redirect(f"/desk/{week}/compose?done={action}{anchor}")

    def _act(self, week: str, action: str, form: FormData, author: str) -> None:
        engine = self.engine
        if action == "approve":
            approval.approve(self.p, week, author=author)
            return
        if action == "edit":
            target = str(form.get("target") or "")
            text = str(form.get("text") or "")  # compose.edit refuses empty or huge texts
            compose.edit(engine, week, target, text, author=author)
            return
        paper_id = _paper_id(form)
        if action == "pin":
            compose.pin(engine, week, paper_id, _position(form), author=author)
            learning.record(engine, week, paper_id, "kept", source="desk")
        elif action == "also":
            compose.pin(engine, week, paper_id, None, author=author, section="also")
            learning.record(engine, week, paper_id, "kept", source="desk")
        elif action == "move":
            position = _position(form)
            if position is None:
                raise UserInputError("say where to move it (a position)")
            compose.move(engine, week, paper_id, position, author=author)
        elif action == "unpin":
            compose.unpin(engine, week, paper_id, author=author)
        elif action == "drop":
            compose.drop(engine, week, paper_id, author=author)
        elif action == "restore":
            compose.restore(engine, week, paper_id, author=author)
        elif action == "keep":
            learning.record(engine, week, paper_id, "kept", source="desk")
        elif action == "resummarize":
            desk.resummarize(self.p, week, paper_id)

    @_editor(page=True)
    async def preview_page(self, request: Request, session: Session) -> Response:
        week = _week(request)
        shown = await run_in_threadpool(preview, self.engine, self.settings, week)
        state = await run_in_threadpool(review.approval_state, self.engine, self.settings, week)
        return self.pages.page(
            "preview.html.j2", session=session, week=week, preview=shown, state=state
        )

    @_editor(page=True)
    async def preview_email(self, request: Request, session: Session) -> Response:
        week = _week(request)
        shown = await run_in_threadpool(preview, self.engine, self.settings, week)
        headers = {**HEADERS, "Content-Security-Policy": EMAIL_CSP}
        headers["X-Frame-Options"] = "SAMEORIGIN"
        return HTMLResponse(shown.email_html, headers=headers)

    @_editor(page=True)
    async def bibtex(self, request: Request, session: Session) -> Response:
        week = _week(request)
        text = await run_in_threadpool(export.bibtex, self.engine, week)
        headers = {**HEADERS, "Content-Disposition": f'attachment; filename="{week}-kept.bib"'}
        return Response(text, media_type="text/plain; charset=utf-8", headers=headers)

    # -- shared --------------------------------------------------------------------------------

    def _redirect(self, path: str) -> RedirectResponse:
        return RedirectResponse(self.pages.root + path.lstrip("/"), 303, headers=HEADERS)

    def _refuse(self, request: Request, status: int, line: str) -> Response:
        wants_json = request.url.path.endswith("/label")
        if wants_json:
            return JSONResponse({"error": line}, status_code=status, headers=HEADERS)
        return self.pages.page("message.html.j2", status, heading="Not done", line=line)


class DeskPages:
    """The desk's pages (templates/desk/, autoescaped) and its static files."""

    def __init__(self, settings: Settings) -> None:
        from pipeline.render.files import environment

        self.settings = settings
        self.env = environment(settings.site.templates_dir)
        self.env.filters["thousands"] = lambda n: f"{n:,}"
        self.root = "/"
        folder = resource_dir("templates") / "desk" / "static"
        self.files = {name: (folder / name).read_bytes() for name in STATIC}
        self.versions = {n: hashlib.sha256(b).hexdigest()[:12] for n, b in self.files.items()}

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(f"desk/{template}").render(
            title=self.settings.site.title,
            desk=self.root + "desk",
            versions=self.versions,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return Response("not found", 404, media_type="text/plain")
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "max-age=3600"}
        return Response(self.files[name], media_type=STATIC[name], headers=headers)


def _week(request: Request) -> str:
    try:
        return parse_week(str(request.path_params["week"]))
    except ConfigError:
        raise NotFoundError("no such week: use the form YYYY-Www, e.g. 2026-W25") from None


def _paper_id(form: FormData) -> str:
    value = str(form.get("paper_id") or "")
    if not _PAPER_ID.fullmatch(value):
        raise UserInputError("not a paper id")
    return value


def _position(form: FormData) -> int | None:
    raw = str(form.get("position") or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        raise UserInputError("a position is a whole number from 1")
    return int(raw) - 1  # the page counts from 1, the desk from 0


def _next(request: Request, value: object = None) -> str:
    """Where to go after signing in: a desk page, never another site."""
    target = value if isinstance(value, str) else request.query_params.get("next", "")
    return target if _NEXT.fullmatch(target) else "/desk"
