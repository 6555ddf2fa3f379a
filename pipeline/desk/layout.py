"""The issue as the editor left it: the ranker's proposal with the editor's pins first and
drops removed. A pure rule on plain values; the rank stage and every desk change apply it,
so no rerun of a stage undoes a pin or a drop.

The ranker's proposal is the week's `Candidate` rows: every new paper in score order, with
the section it proposed ("highlight", "also" or none), and the new versions of earlier
highlights (section "updated", after the new papers)."""

from __future__ import annotations

from collections.abc import Sequence, Set

from sqlalchemy import Engine

from pipeline.errors import NotFoundError
from pipeline.store.editor import candidates, placements, replace_items
from pipeline.store.issues import ALSO, HIGHLIGHT, UPDATED, Placement
from pipeline.store.models import Candidate


def lay_out(
    ranked: Sequence[Candidate],
    pins: Sequence[str],
    dropped: Set[str],
    also_pins: Sequence[str] = (),
) -> list[Placement]:
    """Highlights: the pins in the editor's order, then the ranker's highlights (as many as
    it proposed, or all the pins if there are more), topped up from the best remaining
    candidates when drops leave a gap. Also: the papers pinned there in the editor's order,
    then the best of the rest, as many as the ranker proposed (or all those pins). Updated
    papers stay unless dropped."""
    new = [c for c in ranked if c.section != UPDATED]
    by_id = {c.paper_id: c for c in ranked}  # an updated paper may be pinned too
    proposed = sorted((c for c in new if c.section == HIGHLIGHT), key=lambda c: c.position)
    valid_pins = [p for p in pins if p in by_id and p not in dropped]
    valid_also_pins = [p for p in also_pins if p in by_id and p not in dropped]
    n_highlights = max(len(proposed), len(valid_pins))
    n_also = max(sum(1 for c in new if c.section == ALSO), len(valid_also_pins))
    highlights: list[Candidate] = []
    seen = set(dropped) | set(also_pins)

    def take(into: list[Candidate], c: Candidate, limit: int) -> None:
        if len(into) < limit and c.paper_id not in seen:
            into.append(c)
            seen.add(c.paper_id)

    for pid in pins:
        if pid in by_id:
            take(highlights, by_id[pid], n_highlights)
    for c in [*proposed, *new]:
        take(highlights, c, n_highlights)
    also: list[Candidate] = []
    seen -= set(also_pins) - set(dropped)
    for c in [*(by_id[p] for p in also_pins if p in by_id), *new]:
        take(also, c, n_also)
    updated = sorted((c for c in ranked if c.section == UPDATED), key=lambda c: c.position)
    kept_updates = [c for c in updated if c.paper_id not in seen]
    return [
        Placement(c.paper_id, c.version, section, pos, c.score, c.explanation)
        for section, picked in ((HIGHLIGHT, highlights), (ALSO, also), (UPDATED, kept_updates))
        for pos, c in enumerate(picked)
    ]


def desk_layout(engine: Engine, week: str, ranked: Sequence[Candidate]) -> list[Placement]:
    """`lay_out` with the editor's stored pins and drops for the week."""
    decided = placements(engine, week)  # pins in their order
    pins = [p.paper_id for p in decided if p.pinned and p.section == HIGHLIGHT]
    also_pins = [p.paper_id for p in decided if p.pinned and p.section == ALSO]
    return lay_out(ranked, pins, {p.paper_id for p in decided if p.dropped}, also_pins)


def relayout(engine: Engine, week: str) -> list[Placement]:
    """Lay the built issue out again from its stored candidates after an editor's change
    (no ranking, no LLM); returns the new items."""
    ranked = candidates(engine, week)
    if not ranked:
        raise NotFoundError(
            f"issue {week} has no stored candidate list: run `newsletter rank --week {week}`"
        )
    items = desk_layout(engine, week, ranked)
    replace_items(engine, week, items)
    return items
