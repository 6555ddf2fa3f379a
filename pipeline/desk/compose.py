"""Composing an issue: pin, order, drop and restore its papers; revise its texts.

Each change is stored with its author and time (`store.editor`), clears the issue's
approval, and lays the issue out again at once (no ranking, no LLM call). Texts are
revisions: the newest one per target is what the issue shows, whatever the LLM writes later.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine

from pipeline.clock import utcnow
from pipeline.desk.layout import relayout
from pipeline.errors import NotFoundError, UserInputError
from pipeline.records import is_arxiv_id
from pipeline.render.issue import issue_view
from pipeline.store import editor
from pipeline.store.issues import ALSO, HIGHLIGHT, load_issue

INTRO, OUTRO = "intro", "outro"
_TARGET = re.compile(r"(summary|narration|oneliner):(.+)")
MAX_TEXT = 20_000  # characters of one revision


def parse_target(target: str) -> tuple[str, str | None]:
    """("intro", None), ("summary", "2501.00001"), ...; a UserInputError for anything else."""
    if target in (INTRO, OUTRO):
        return target, None
    m = _TARGET.fullmatch(target)
    if m is None or not is_arxiv_id(m.group(2)):
        raise UserInputError(
            f"unknown text {target!r}: use intro, outro, summary:ID, narration:ID or oneliner:ID"
        )
    return m.group(1), m.group(2)


def _require_candidate(engine: Engine, week: str, paper_id: str) -> None:
    if editor.get_issue(engine, week) is None:
        raise NotFoundError(f"no issue {week} yet: run `newsletter run --week {week}` first")
    if editor.is_candidate(engine, week, paper_id):
        return
    if not editor.count_candidates(engine, week):
        raise NotFoundError(
            f"issue {week} has no stored candidate list: run `newsletter rank --week {week}`"
        )
    raise NotFoundError(f"{paper_id} is not among the candidates of {week}")


def _pins(engine: Engine, week: str, section: str) -> list[str]:
    return [
        p.paper_id for p in editor.placements(engine, week) if p.pinned and p.section == section
    ]


def pin(
    engine: Engine,
    week: str,
    paper_id: str,
    position: int | None = None,
    *,
    author: str,
    section: str = HIGHLIGHT,
) -> None:
    """Pin the paper in `section` ("highlight", the default, or "also") at `position` among
    that section's pins (0 = first; None = after the pins there are). A dropped paper is
    restored; a paper pinned in the other section moves."""
    if section not in (HIGHLIGHT, ALSO):
        raise UserInputError(f"section {section!r}: pin to {HIGHLIGHT!r} or {ALSO!r}")
    if position is not None and position < 0:
        raise UserInputError(f"position {position}: positions count from 0 (the first)")
    _require_candidate(engine, week, paper_id)
    order = [p for p in _pins(engine, week, section) if p != paper_id]
    at = len(order) if position is None else min(position, len(order))
    order.insert(at, paper_id)
    editor.set_pins(engine, week, order, author=author, now=utcnow(), section=section)
    relayout(engine, week)


def move(
    engine: Engine,
    week: str,
    paper_id: str,
    position: int,
    *,
    author: str,
    section: str = HIGHLIGHT,
) -> None:
    """Move a paper to `position` among the pins of `section` (pinning it if it was not)."""
    pin(engine, week, paper_id, position, author=author, section=section)


def unpin(engine: Engine, week: str, paper_id: str, *, author: str) -> None:
    """The ranker decides again where the paper goes."""
    _require_candidate(engine, week, paper_id)
    now = utcnow()
    for section in (HIGHLIGHT, ALSO):
        order = _pins(engine, week, section)
        if paper_id in order:
            order.remove(paper_id)
            editor.set_pins(engine, week, order, author=author, now=now, section=section)
    relayout(engine, week)


def drop(engine: Engine, week: str, paper_id: str, *, author: str) -> None:
    """Take the paper out of the issue (highlights and also-this-week alike)."""
    _require_candidate(engine, week, paper_id)
    editor.set_dropped(engine, week, paper_id, True, author=author, now=utcnow())
    relayout(engine, week)


def restore(engine: Engine, week: str, paper_id: str, *, author: str) -> None:
    """Undo a drop: the ranker decides again where the paper goes."""
    _require_candidate(engine, week, paper_id)
    editor.set_dropped(engine, week, paper_id, False, author=author, now=utcnow())
    relayout(engine, week)


def edit(engine: Engine, week: str, target: str, text: str, *, author: str) -> bool:
    """Store the editor's text for `target` ("intro", "outro", "summary:<id>",
    "narration:<id>", "oneliner:<id>"); it wins over any LLM text, now and after reruns.
    Surrounding whitespace is dropped; an empty text is refused; the text the issue shows
    already changes nothing (False: no revision stored, the approval stands)."""
    kind, paper_id = parse_target(target)
    if editor.get_issue(engine, week) is None:
        raise NotFoundError(f"no issue {week} yet: run `newsletter run --week {week}` first")
    if paper_id is not None:
        _require_candidate(engine, week, paper_id)
    clean = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not clean:
        raise UserInputError(f"the new text of {target} is empty: nothing changed")
    if len(clean) > MAX_TEXT:
        raise UserInputError(f"the new text of {target} is longer than {MAX_TEXT} characters")
    if clean == (current_text(engine, week, target) or "").strip():
        return False
    editor.add_revision(engine, week, target, clean, author=author, now=utcnow())
    return True


def current_text(engine: Engine, week: str, target: str) -> str | None:
    """What the issue shows for `target` now: the editor's newest revision, else the LLM's
    text, else (intro, outro) the newsletter's built-in words; None when the paper has no
    such text (e.g. a one-liner of a highlight) or there is no such issue."""
    kind, paper_id = parse_target(target)
    revised = editor.latest_revisions(engine, week).get(target)
    if revised is not None:
        return revised
    issue, items = load_issue(engine, week)
    if paper_id is None:
        if issue is None:
            return None
        view = issue_view(
            week,
            items,
            categories=list(issue.categories),
            model=issue.model or "",
            candidates=issue.candidates,
        )
        return view.default_intro if kind == INTRO else view.default_outro
    for loaded in items:
        if loaded.paper.id == paper_id:
            text = {
                "summary": loaded.summary,
                "narration": loaded.narration,
                "oneliner": loaded.oneliner,
            }[kind]
            return text.text if text is not None else None
    return None
