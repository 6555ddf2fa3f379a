"""The week as the desk shows it: every ranked candidate with what the editor and the
screening have said about it, the screening progress, and the approval state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine

from pipeline.config import Settings
from pipeline.errors import NotApproved, NotFoundError
from pipeline.store import editor

SOURCE = "desk"  # the feedback source of everything screened at the desk
ApprovalState = Literal["not required", "awaiting approval", "approved"]
_STRENGTH = ("kept", "downloaded", "seen")  # the label shown: the strongest one


@dataclass(frozen=True)
class CandidateView:
    """One candidate, plain values (paper text raw: whoever shows it escapes it)."""

    id: str
    rank: int  # 0 = the ranker's best
    title: str
    authors: list[str]
    categories: list[str]
    primary_category: str
    score: float
    why: str
    abstract: str
    abs_url: str
    pdf_url: str
    section: str | None  # "highlight" | "also" | "updated" when in the issue, else None
    position: int | None  # within the section
    pinned: bool
    dropped: bool
    label: str | None  # the strongest screening label: "kept" | "downloaded" | "seen"


def strongest(signals: set[str]) -> str | None:
    return next((s for s in _STRENGTH if s in signals), None)


def _require_issue(engine: Engine, week: str) -> None:
    if editor.get_issue(engine, week) is None:
        raise NotFoundError(f"no issue {week} yet: run `newsletter run --week {week}` first")


def candidates(engine: Engine, week: str) -> list[CandidateView]:
    """The week's candidates in ranked order (NotFoundError when there is no such issue;
    empty for an issue ranked before the desk existed: rank it again)."""
    _require_issue(engine, week)
    placed = {i.paper_id: i for i in editor.issue_items(engine, week)}
    decided = {p.paper_id: p for p in editor.placements(engine, week)}
    labels = editor.week_signals(engine, week, SOURCE)
    out = []
    for c in editor.listed(engine, week):
        item = placed.get(c.paper_id)
        d = decided.get(c.paper_id)
        out.append(
            CandidateView(
                id=c.paper_id,
                rank=c.rank,
                title=" ".join(c.title.split()),
                authors=list(c.authors),
                categories=list(c.categories),
                primary_category=c.primary_category,
                score=c.score,
                why=c.explanation,
                abstract=" ".join(c.abstract.split()),
                abs_url=f"https://arxiv.org/abs/{c.paper_id}v{c.version}",
                pdf_url=f"https://arxiv.org/pdf/{c.paper_id}v{c.version}",
                section=item.section if item else None,
                position=item.position if item else None,
                pinned=bool(d and d.pinned),
                dropped=bool(d and d.dropped),
                label=strongest(labels.get(c.paper_id, set())),
            )
        )
    return out


def progress(engine: Engine, week: str) -> tuple[int, int]:
    """(screened, total): candidates with any screening label, and all candidates."""
    _require_issue(engine, week)
    total = editor.count_candidates(engine, week)
    return len(editor.week_signals(engine, week, SOURCE)), total


def approval_state(engine: Engine, settings: Settings, week: str) -> ApprovalState:
    if settings.desk.approval != "required":
        return "not required"
    issue = editor.get_issue(engine, week)
    return "approved" if issue is not None and issue.approved_at else "awaiting approval"


def check_approved(engine: Engine, settings: Settings, week: str) -> None:
    """Raise NotApproved when approval is required and the issue is not approved."""
    if editor.get_issue(engine, week) is None:
        return  # the caller says there is no such issue
    if approval_state(engine, settings, week) == "awaiting approval":
        raise NotApproved(week)
