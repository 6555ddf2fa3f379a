"""Diversity for the highlights: maximal marginal relevance (MMR).

The next highlight is the paper with the best `lam * relevance - (1 - lam) * similarity to
the highlights already chosen`, so five papers on the same idea do not fill the section.
`round_robin` spreads them over topics (the phrases of the reader's description)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def mmr(scores: np.ndarray, vectors: np.ndarray, k: int, lam: float = 0.7) -> list[int]:
    """Indices of `k` items picked by MMR. `scores` are relevances (any scale: they are
    min-max normalised), `vectors` L2-normalised rows; lam=1 is plain ranking."""
    n = len(scores)
    if n == 0 or k <= 0:
        return []
    span = float(scores.max() - scores.min())
    rel = (scores - scores.min()) / span if span > 0 else np.zeros(n)
    sims = vectors @ vectors.T
    chosen: list[int] = [int(np.argmax(rel))]
    max_sim = sims[chosen[0]].copy()
    available = np.ones(n, dtype=bool)
    available[chosen[0]] = False
    while len(chosen) < min(k, n):
        value = lam * rel - (1 - lam) * max_sim
        value[~available] = -np.inf
        best = int(np.argmax(value))
        chosen.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, sims[best])
    return chosen


def round_robin(order: Sequence[T], topics: Sequence[str], k: int) -> list[T]:
    """The first `k` of `order` taken topic by topic: the first item of each topic in turn
    (in `order`), then the second of each, and so on; order kept within each round."""
    rounds: dict[str, int] = {}
    ranked = []
    for pos, (item, topic) in enumerate(zip(order, topics, strict=True)):
        rounds[topic] = rounds.get(topic, -1) + 1
        ranked.append((rounds[topic], pos, item))
    return [item for _, _, item in sorted(ranked, key=lambda r: (r[0], r[1]))[:k]]
