"""Whether `serve` mounts the editor's desk: `DeskAccess` (what the desk needs to run), the
security headers of its pages, and the one page /desk answers when no editor password is set.

Kept apart from `pipeline.web.desk` so that the app without the desk never imports it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from pipeline.config import Settings
from pipeline.render.files import environment

if TYPE_CHECKING:
    from pipeline.runner import Pipeline

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CSP,
}


@dataclass(frozen=True)
class DeskAccess:
    """What the desk needs: the pipeline (database, settings, clients for approve and
    re-summarize), the editor's password and the key that signs sessions."""

    pipeline: Pipeline
    password: str
    secret_key: str


def off_routes(settings: Settings) -> list[BaseRoute]:
    """/desk when no editor password is set: one page saying how to turn the desk on."""
    env = environment(settings.site.templates_dir)

    async def off(request: Request) -> Response:
        html = env.get_template("desk/off.html.j2").render(
            title=settings.site.title, desk="/desk", versions={}
        )
        return HTMLResponse(html, status_code=404, headers=HEADERS)

    return [
        Route("/desk", off, methods=["GET", "POST"]),
        Route("/desk/{rest:path}", off, methods=["GET", "POST"]),
    ]
