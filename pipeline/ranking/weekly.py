"""One week's ranking: train the interest scorer on the reader's history, score the week's
candidates, pick diverse highlights (MMR), then the rest in score order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.llm.base import Embedder
from pipeline.models import Paper
from pipeline.ranking.data import Item, LabelledItem, Profile, Scored
from pipeline.ranking.diversity import mmr
from pipeline.ranking.scorer import InterestScorer
from pipeline.store.feedback import Labelled

POOL = 4  # highlights are picked by MMR among the top POOL x highlights


@dataclass(frozen=True)
class Ranked:
    highlights: list[Scored]
    also: list[Scored]


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


def rank_week(
    papers: Sequence[Paper],
    history: Sequence[Labelled],
    profile: Profile,
    embedder: Embedder,
    *,
    highlights: int,
    also: int,
    diversity: float,
) -> Ranked:
    if not papers:
        return Ranked([], [])
    items = [paper_item(p) for p in papers]
    scorer = InterestScorer(embedder, profile).train([history_item(h) for h in history])
    scored = scorer.score(items)
    published = {p.id: p.published.timestamp() for p in papers}
    order = sorted(
        range(len(items)), key=lambda i: (-scored[i].score, -published[items[i].id], items[i].id)
    )
    pool = order[: max(highlights * POOL, highlights)]
    vectors = np.asarray(embedder.embed([items[i].text for i in pool]), dtype=np.float32)
    scores = np.asarray([scored[i].score for i in pool])
    picked = [pool[j] for j in mmr(scores, vectors, highlights, diversity)]
    chosen = set(picked)
    rest = [i for i in order if i not in chosen][:also]
    return Ranked([scored[i] for i in picked], [scored[i] for i in rest])
