"""The web app behind `newsletter serve`: the archive site (out/site) over HTTP.

A small Starlette app, so later endpoints (subscribe, unsubscribe, feedback) join it as
routes; served with uvicorn.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles


def create_app(site_dir: Path) -> Starlette:
    """The archive: index.html, issues/<week>/, atom.xml, podcast.xml and the audio."""
    return Starlette(routes=[Mount("/", StaticFiles(directory=site_dir, html=True), name="site")])
