"""Render an issue from stored data to `out/issues/<week>/` with Jinja templates.

One Environment factory: a user template directory first, the built-in
`templates/` last.  HTML templates autoescape; Markdown output escapes paper
text with the `md` filter so titles and abstracts never become markup.
Rendering is deterministic: nothing depends on the clock.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from pipeline.records import is_arxiv_id, week_window
from pipeline.resources import resource_dir
from pipeline.store.issues import ALSO, HIGHLIGHT, LoadedItem

CATEGORY_NAMES = {
    "cs.AI": "Artificial Intelligence",
    "cs.CL": "Computation and Language",
    "cs.CV": "Computer Vision",
    "cs.LG": "Machine Learning",
    "cs.MA": "Multiagent Systems",
    "cs.NE": "Neural and Evolutionary Computing",
    "cs.RO": "Robotics",
    "cs.IR": "Information Retrieval",
    "stat.ML": "Machine Learning (Statistics)",
}

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~#])")


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
        autoescape=select_autoescape(enabled_extensions=("html", "xml"), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    return env


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9$])")
_ABBREVIATIONS = {
    "dr.",
    "mr.",
    "ms.",
    "prof.",
    "e.g.",
    "i.e.",
    "al.",
    "vs.",
    "fig.",
    "eq.",
    "cf.",
    "approx.",
    "sec.",
    "resp.",
    "no.",
    "st.",
}


def first_sentence(text: str, limit: int = 240) -> str:
    """The abstract's first sentence (abbreviations such as e.g., et al., Dr. do not end it)."""
    text = re.sub(r"\s+", " ", text).strip()
    sentence = text
    for m in _SENTENCE_END.finditer(text):
        last_word = text[: m.start()].rsplit(" ", 1)[-1].lower()
        if last_word not in _ABBREVIATIONS and not re.fullmatch(r"[a-z]\.", last_word):
            sentence = text[: m.start()]
            break
    if len(sentence) > limit:
        sentence = sentence[: limit - 1].rsplit(" ", 1)[0] + "…"
    return sentence


def week_label(week: str) -> str:
    window = week_window(week)
    start: date = window.since.date()
    end: date = (window.until - timedelta(days=1)).date()
    if start.month == end.month:
        return f"{start:%B} {start.day}–{end.day}, {end.year}"
    return f"{start:%B} {start.day} – {end:%B} {end.day}, {end.year}"


@dataclass(frozen=True)
class RenderedItem:
    id: str
    version: int
    title: str
    authors: list[str]
    categories: list[str]
    primary_category: str
    abs_url: str
    pdf_url: str
    score: float
    explanation: str
    summary: str | None
    abstract: str
    oneliner: str
    unverified: list[str]  # numbers in the summary that its source does not contain
    source: str  # what the summary was written from: abstract | html | pdf


def _item(loaded: LoadedItem) -> RenderedItem:
    p = loaded.paper
    if not is_arxiv_id(p.id):
        raise ValueError(f"refusing to build links for a malformed arXiv id {p.id!r}")
    return RenderedItem(
        id=p.id,
        version=loaded.item.version,
        title=p.title,
        authors=list(p.authors),
        categories=list(p.categories),
        primary_category=p.primary_category,
        abs_url=f"https://arxiv.org/abs/{p.id}v{loaded.item.version}",
        pdf_url=f"https://arxiv.org/pdf/{p.id}v{loaded.item.version}",
        score=loaded.item.score,
        explanation=loaded.item.explanation,
        summary=loaded.summary.text if loaded.summary else None,
        abstract=re.sub(r"\s+", " ", p.abstract).strip(),
        oneliner=loaded.oneliner.text if loaded.oneliner else first_sentence(p.abstract),
        unverified=list(loaded.summary.flags) if loaded.summary else [],
        source=loaded.summary.source if loaded.summary else "abstract",
    )


def issue_context(
    week: str, items: list[LoadedItem], *, categories: list[str], model: str, candidates: int
) -> dict[str, Any]:
    highlights = [_item(i) for i in items if i.item.section == HIGHLIGHT]
    also = [_item(i) for i in items if i.item.section == ALSO]
    groups: dict[str, list[RenderedItem]] = {}
    for it in also:
        groups.setdefault(it.primary_category, []).append(it)
    also_groups = [
        {"category": cat, "name": CATEGORY_NAMES.get(cat, cat), "items": groups[cat]}
        for cat in sorted(groups, key=lambda c: (-len(groups[c]), c))
    ]
    return {
        "week": week,
        "week_label": week_label(week),
        "categories": categories,
        "model": model,
        "candidates": candidates,
        "highlights": highlights,
        "also_groups": also_groups,
        "also_count": len(also),
    }


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_issue(
    context: dict[str, Any], out_dir: Path, *, user_templates: Path | None = None
) -> list[Path]:
    env = environment(user_templates)
    target = out_dir / "issues" / context["week"]
    written = []
    for template, name in (("newsletter.md.j2", "newsletter.md"),):
        path = target / name
        write_atomic(path, env.get_template(template).render(**context))
        written.append(path)
    return written
