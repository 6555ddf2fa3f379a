"""MMR keeps near-identical papers from filling the highlights."""

from __future__ import annotations

import numpy as np

from pipeline.ranking.diversity import mmr, round_robin


def unit(*rows: list[float]) -> np.ndarray:
    m = np.array(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_mmr_skips_a_near_duplicate() -> None:
    scores = np.array([0.9, 0.89, 0.7, 0.1])
    vectors = unit([1, 0, 0], [0.99, 0.05, 0], [0, 1, 0], [0, 0, 1])
    assert mmr(scores, vectors, 2, lam=1.0) == [0, 1]  # plain ranking
    assert mmr(scores, vectors, 2, lam=0.7) == [0, 2]  # the twin of #0 waits
    assert mmr(scores, vectors, 4, lam=0.7)[:2] == [0, 2]
    assert sorted(mmr(scores, vectors, 4, lam=0.7)) == [0, 1, 2, 3]


def test_mmr_edges() -> None:
    assert mmr(np.array([]), np.zeros((0, 3)), 3) == []
    assert mmr(np.array([1.0, 1.0]), unit([1, 0], [0, 1]), 5) == [0, 1]


def test_round_robin_gives_each_topic_a_turn_in_order() -> None:
    order = ["a", "b", "c", "d", "e", "f"]
    topics = ["x", "x", "y", "x", "z", "y"]
    assert round_robin(order, topics, 4) == ["a", "c", "e", "b"]
    assert round_robin(order, topics, 10) == ["a", "c", "e", "b", "f", "d"]
    assert round_robin(order, ["t"] * 6, 3) == ["a", "b", "c"]  # one topic: plain order
    assert round_robin([], [], 3) == []
