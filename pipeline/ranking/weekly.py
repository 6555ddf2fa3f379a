"""One week's ranking: train the interest scorer on the reader's history, score the week's
candidates, optionally let an LLM rate the best of them, pick diverse highlights (MMR),
then the rest in score order."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.llm.base import Embedder
from pipeline.ranking.data import Item, LabelledItem, Profile, Scored
from pipeline.ranking.diversity import mmr, round_robin
from pipeline.ranking.scorer import InterestScorer
from pipeline.store.feedback import Labelled
from pipeline.store.models import Paper

POOL = 4  # highlights are picked by MMR among the top POOL x highlights
SPREAD_FROM = 0.5  # profile weight from which highlights take the phrases in turn


@dataclass(frozen=True)
class Ranked:
    highlights: list[Scored]
    also: list[Scored]
    order: list[Scored] = field(default_factory=list)  # every candidate, best first


def paper_item(paper: Paper) -> Item:
    return Item(
        id=paper.id,
        title=paper.title,
        abstract=paper.abstract,
        date=paper.published.date(),
        authors=tuple(paper.authors),
    )


def history_item(h: Labelled) -> LabelledItem:
    when = h.date.date() if h.date else None
    return LabelledItem(
        id=h.paper_id,
        title=h.title,
        abstract=h.abstract,
        date=when,
        authors=h.authors,
        label=h.label,
        weight=h.weight,
        at=when,
    )


def rated(s: Scored, rating: int) -> Scored:
    """A 0-10 LLM rating shifts the calibrated score on the log-odds scale (5 leaves it)."""
    p = min(max(s.score, 1e-6), 1 - 1e-6)
    logit = math.log(p / (1 - p)) + (rating - 5) / 2.5
    return Scored(
        s.id,
        1 / (1 + math.exp(-logit)),
        f"{s.explanation}; the LLM rates it {rating}/10 for your interests",
        s.topic,
    )


def rank_week(
    papers: Sequence[Paper],
    history: Sequence[Labelled],
    profile: Profile,
    embedder: Embedder,
    *,
    highlights: int,
    also: int,
    diversity: float,
    rate: Callable[[list[Paper]], dict[str, int]] | None = None,
    rate_top: int = 0,
) -> Ranked:
    """`rate` (optional): 0-10 ratings of the `rate_top` best papers by an LLM against the
    reader's interests; each moves its paper's score before the final order."""
    if not papers:
        return Ranked([], [])
    items = [paper_item(p) for p in papers]
    scorer = InterestScorer(embedder, profile).train([history_item(h) for h in history])
    scored = scorer.score(items)
    by_topic = scorer.info.profile_weight >= SPREAD_FROM
    published = {p.id: p.published.timestamp() for p in papers}

    def ordered() -> list[int]:
        return sorted(
            range(len(items)),
            key=lambda i: (-scored[i].score, -published[items[i].id], items[i].id),
        )

    order = ordered()
    if rate is not None and rate_top > 0:
        top = order[:rate_top]
        ratings = rate([papers[i] for i in top])
        for i in top:
            if items[i].id in ratings:
                scored[i] = rated(scored[i], ratings[items[i].id])
        order = ordered()
    pool = order[: max(highlights * POOL, highlights)]
    vectors = np.asarray(embedder.embed([items[i].text for i in pool]), dtype=np.float32)
    scores = np.asarray([scored[i].score for i in pool])
    if by_topic:
        # Early days: the reader's own phrases lead, so each gets its turn (in MMR order).
        by_mmr = [pool[j] for j in mmr(scores, vectors, len(pool), diversity)]
        picked = round_robin(by_mmr, [scored[i].topic for i in by_mmr], highlights)
    else:
        picked = [pool[j] for j in mmr(scores, vectors, highlights, diversity)]
    chosen = set(picked)
    rest = [i for i in order if i not in chosen][:also]
    return Ranked(
        [scored[i] for i in picked], [scored[i] for i in rest], [scored[i] for i in order]
    )
