"""The issue as the editor left it: the ranker's proposal with the editor's pins first and
drops removed. A pure rule on plain values; the rank stage and every desk change apply it,
so no rerun of a stage undoes a pin or a drop."""

from __future__ import annotations

from collections.abc import Sequence, Set

from sqlalchemy import Engine

from pipeline.store.editor import candidates, issue_items, placements, replace_items
from pipeline.store.issues import ALSO, HIGHLIGHT, UPDATED, Placement
from pipeline.store.models import Candidate


def lay_out(
    ranked: Sequence[Candidate],
    pins: Sequence[str],
    dropped: Set[str],
    updated: Sequence[Placement] = (),
) -> list[Placement]:
    """Highlights: the pins in the editor's order, then the ranker's highlights (as many as
    it proposed, or all the pins if there are more), topped up from the best remaining
    candidates when drops leave a gap. Also: the best of the rest, as many as the ranker
    proposed. `updated` items (new versions of past highlights) stay unless dropped."""
    by_id = {c.paper_id: c for c in ranked}
    proposed = sorted((c for c in ranked if c.section == HIGHLIGHT), key=lambda c: c.position)
    n_highlights = max(len(proposed), len([p for p in pins if p in by_id]))
    n_also = sum(1 for c in ranked if c.section == ALSO)
    chosen: list[Candidate] = []
    seen: set[str] = set()

    def take(c: Candidate) -> None:
        if c.paper_id not in seen and c.paper_id not in dropped:
            chosen.append(c)
            seen.add(c.paper_id)

    for pid in pins:
        if pid in by_id:
            take(by_id[pid])
    for c in proposed:
        if len(chosen) >= n_highlights:
            break
        take(c)
    for c in ranked:
        if len(chosen) >= n_highlights:
            break
        take(c)
    highlights = chosen[:n_highlights]
    also: list[Candidate] = []
    for c in ranked:
        if len(also) >= n_also:
            break
        if c.paper_id not in seen and c.paper_id not in dropped:
            also.append(c)
            seen.add(c.paper_id)
    out = [
        Placement(c.paper_id, c.version, section, pos, c.score, c.explanation)
        for section, picked in ((HIGHLIGHT, highlights), (ALSO, also))
        for pos, c in enumerate(picked)
    ]
    kept_updates = [u for u in updated if u.paper_id not in dropped and u.section == UPDATED]
    out += [
        Placement(u.paper_id, u.version, UPDATED, pos, u.score, u.explanation)
        for pos, u in enumerate(kept_updates)
    ]
    return out


def desk_layout(
    engine: Engine, week: str, ranked: Sequence[Candidate], updated: Sequence[Placement]
) -> list[Placement]:
    """`lay_out` with the editor's stored pins and drops for the week."""
    decided = placements(engine, week)
    pins = [p.paper_id for p in decided if p.pinned]
    return lay_out(ranked, pins, {p.paper_id for p in decided if p.dropped}, updated)


def relayout(engine: Engine, week: str) -> list[Placement]:
    """Lay the built issue out again from its stored candidates after an editor's change
    (no ranking, no LLM); returns the new items."""
    updated = [
        Placement(i.paper_id, i.version, i.section, i.position, i.score, i.explanation)
        for i in issue_items(engine, week)
        if i.section == UPDATED
    ]
    items = desk_layout(engine, week, candidates(engine, week), updated)
    replace_items(engine, week, items)
    return items
