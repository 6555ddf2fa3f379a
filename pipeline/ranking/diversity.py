"""Diversity for the highlights: maximal marginal relevance (MMR).

The next highlight is the paper with the best `lam * relevance - (1 - lam) * similarity to
the highlights already chosen`, so five papers on the same idea do not fill the section."""

from __future__ import annotations

import numpy as np


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
