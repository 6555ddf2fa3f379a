"""Render an issue from stored data to `out/issues/<week>/` with Jinja templates.

One Environment factory: a user template directory first, the built-in
`templates/` last.  HTML templates autoescape; Markdown output escapes paper
text with the `md` filter so titles and abstracts never become markup.
Rendering is deterministic: nothing depends on the clock.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from pipeline.records import Script
from pipeline.render.email_html import finish
from pipeline.render.issue import IssueView, RenderedItem
from pipeline.render.latex import readable
from pipeline.resources import resource_dir
from pipeline.store.issues import ALSO, HIGHLIGHT, UPDATED

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~#])")


def clock(seconds: float) -> str:
    """12:05, or 1:02:05 past an hour."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def md_escape(value: object) -> str:
    """Paper text made inert in Markdown: every character that could start markup is escaped."""
    text = re.sub(r"\s+", " ", str(value)).strip()
    return _MD_SPECIAL.sub(r"\\\1", text)


def environment(user_templates: Path | None = None) -> Environment:
    loaders = []
    if user_templates is not None:
        loaders.append(FileSystemLoader(user_templates))
    loaders.append(FileSystemLoader(resource_dir("templates")))
    env = Environment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=("html", "xml", "html.j2", "xml.j2"), default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["tex"] = readable
    env.filters["clock"] = clock
    return env


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` (UTF-8, "\\n" line ends) or bytes to ``path`` through a temp file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        if isinstance(text, bytes):
            with os.fdopen(fd, "wb") as out:
                out.write(text)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; published files are readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def issue_json(view: IssueView, script: Script) -> str:
    """The machine-readable issue: every item with its links, section, score and texts."""

    def item(it: RenderedItem, section: str, position: int) -> dict[str, Any]:
        return {
            "id": it.id,
            "version": it.version,
            "section": section,
            "position": position,
            "title": it.title,
            "authors": it.authors,
            "categories": it.categories,
            "primary_category": it.primary_category,
            "links": {"abstract": it.abs_url, "pdf": it.pdf_url},
            "score": it.score,
            "explanation": it.explanation,
            "summary": it.summary,
            "summary_source": it.source if it.summary else None,
            "unverified_numbers": it.unverified,
            "flags": {
                "numbers": list(it.flags.numbers),
                "names": list(it.flags.names),
                "overclaims": list(it.flags.overclaims),
                "loops": len(it.flags.loops),
            },
            "oneliner": it.oneliner,
            "abstract": it.abstract,
        }

    doc = {
        "format": 1,
        "week": view.week,
        "title": view.title,
        "week_label": view.week_label,
        "published": view.published.isoformat(),
        "url": view.issue_url or None,
        "categories": view.categories,
        "model": view.model,
        "candidates": view.candidates,
        "items": [item(it, HIGHLIGHT, i) for i, it in enumerate(view.highlights)]
        + [item(it, ALSO, i) for i, it in enumerate(view.also)]
        + [item(it, UPDATED, i) for i, it in enumerate(view.updated)],
        "podcast": {
            "words": script.words,
            "duration_seconds": script.duration_seconds,
            "chapters": [
                {"title": s.title, "start_seconds": s.start_seconds} for s in script.segments
            ],
        },
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_issue(
    view: IssueView, script: Script, out_dir: Path, *, user_templates: Path | None = None
) -> list[Path]:
    """Write every rendering of the issue to `out_dir/issues/<week>/`; returns the paths."""
    env = environment(user_templates)
    context = {**view.as_context(), "script": script}
    target = out_dir / "issues" / view.week
    texts = {
        "newsletter.md": env.get_template("newsletter.md.j2").render(**context),
        "newsletter.html": finish(
            env.get_template("newsletter.html.j2").render(**context, web=False, archive_url="")
        ),
        "newsletter.txt": env.get_template("newsletter.txt.j2").render(**context),
        "podcast.md": env.get_template("podcast.md.j2").render(**context),
        "issue.json": issue_json(view, script),
    }
    written = []
    for name, text in texts.items():
        path = target / name
        write_atomic(path, text)
        written.append(path)
    return written
