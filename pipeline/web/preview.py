"""What an issue will look like before it is approved: the email's HTML and text as a
subscriber gets them (with inert stand-ins for the per-subscriber links) and the podcast
script, all from stored data, as `render` and `send` make them (editor revisions and pins
included)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from pipeline.config import Settings
from pipeline.issue_files import script_for
from pipeline.render.email_html import finish
from pipeline.render.files import environment
from pipeline.render.publish import load_view

LINK = "#preview"  # every unsubscribe and feedback link in a preview


@dataclass(frozen=True)
class Preview:
    email_html: str
    email_text: str
    podcast_script: str


def _feedback_link(paper_id: str, signal: str) -> str:
    return LINK


def preview(engine: Engine, settings: Settings, week: str) -> Preview:
    """The week's email and podcast script; NotFoundError when there is no issue yet."""
    view = load_view(engine, settings, week)
    env = environment(settings.site.templates_dir)
    context = {**view.as_context(), "unsubscribe_url": LINK, "feedback_link": _feedback_link}
    text = env.get_template("newsletter.txt.j2").render(**context)
    html = finish(
        env.get_template("newsletter.html.j2").render(**context, web=False, archive_url="")
    )
    return Preview(html, text, script_for(view, settings).text)
