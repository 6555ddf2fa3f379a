"""What the ranker learns from the desk: every title shown is "seen", a pick "downloaded",
a keep "kept" -- the labels of an imported reading log (`newsletter feedback import`), stored
as feedback with the source "desk" and the time, so the ranker learns from the desk exactly
as from an imported log. And the cold-start round: when there is little feedback, a short
list of diverse, uncertain papers to rate first."""

from __future__ import annotations

from collections import defaultdict
from statistics import median
from typing import Literal

from sqlalchemy import Engine

from pipeline.errors import NotFoundError, UserInputError
from pipeline.store import editor
from pipeline.store.feedback import add_feedback, count_feedback, remove_feedback

Label = Literal["seen", "downloaded", "kept"]
LABELS: tuple[Label, ...] = ("seen", "downloaded", "kept")
SOURCE = "desk"
COLD_START_BELOW = 10  # fewer positive signals than this: offer the cold-start round


def record(engine: Engine, week: str, paper_id: str, label: str, *, source: str = SOURCE) -> None:
    """Store one screening label of one of the week's candidates (again: its time moves)."""
    if label not in LABELS:
        raise UserInputError(f"unknown label {label!r}: use one of {', '.join(LABELS)}")
    if not editor.is_candidate(engine, week, paper_id):
        raise NotFoundError(f"{paper_id} is not among the candidates of {week}")
    if add_feedback(engine, paper_id, label, source=source) is None:
        raise NotFoundError(f"no paper {paper_id} in the database")


def undo(engine: Engine, week: str, paper_id: str) -> int:
    """Forget what the desk recorded about the paper (it is unscreened again); returns how
    many labels were removed."""
    if not editor.is_candidate(engine, week, paper_id):
        raise NotFoundError(f"{paper_id} is not among the candidates of {week}")
    return remove_feedback(engine, paper_id, SOURCE)


def needs_cold_start(engine: Engine) -> bool:
    """Too little feedback for the ranker to have learned much yet."""
    return count_feedback(engine, positive=True) < COLD_START_BELOW


def cold_start_round(engine: Engine, week: str, n: int = 20) -> list[str]:
    """Up to `n` unscreened candidates worth rating first: the ones the ranker is least sure
    about (scores nearest the week's median), taken in turn from every primary category
    (largest first) so that the round covers the week's range."""
    screened = editor.week_signals(engine, week, SOURCE)
    pool = [c for c in editor.listed(engine, week) if c.paper_id not in screened]
    if not pool or n <= 0:
        return []
    middle = median(c.score for c in pool)
    by_category: dict[str, list[str]] = defaultdict(list)
    for c in sorted(pool, key=lambda c: (abs(c.score - middle), c.rank)):
        by_category[c.primary_category].append(c.paper_id)
    queues = sorted(by_category.values(), key=lambda ids: -len(ids))
    picked: list[str] = []
    depth = 0
    while len(picked) < n and any(depth < len(q) for q in queues):
        for q in queues:
            if depth < len(q) and len(picked) < n:
                picked.append(q[depth])
        depth += 1
    return picked
