"""Paper embeddings are cached in the database and recomputed only when the text changes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import Engine

from pipeline.store.embeddings import embed_cached


class Counting:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += list(texts)
        return np.array([[len(t), 1.0, float(i)] for i, t in enumerate(texts)], dtype=np.float32)


def test_embeddings_are_cached_by_text(engine: Engine) -> None:
    embed = Counting()
    items = [("2606.00001", "alpha"), ("2606.00002", "beta gamma")]
    first = embed_cached(engine, "m", items, embed)
    assert first.shape == (2, 3) and embed.seen == ["alpha", "beta gamma"]
    again = embed_cached(engine, "m", list(reversed(items)), embed)
    assert embed.seen == ["alpha", "beta gamma"]  # no new call
    assert np.array_equal(again, first[::-1])
    changed = embed_cached(engine, "m", [("2606.00001", "alpha v2"), items[1]], embed)
    assert embed.seen[-1] == "alpha v2" and changed[0][0] == len("alpha v2")
    embed_cached(engine, "other-model", items[:1], embed)
    assert embed.seen[-1] == "alpha"
    assert embed_cached(engine, "m", [], embed).shape == (0, 0)
