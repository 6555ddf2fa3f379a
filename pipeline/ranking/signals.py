"""The ranker's signals.  Each is fitted on plain data and scores a list of items, higher =
more interesting, and can say in a few words why a given item scored.

- `LinearSignal`: logistic regression over [word + char TF-IDF | embedding | title style],
  picks vs papers shown and not picked (the learned model; lexical and semantic in one).
- `NeighbourSignal`: mean cosine similarity to the closest picks minus to the closest skips.
- `ProfileSignal`: similarity to the interest description's phrases and to seed papers.
- `AuthorSignal`: 1 when a followed author wrote the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]

from pipeline.ranking.data import Item, RankerConfig
from pipeline.ranking.features import (
    FloatArray,
    Matrix,
    Phrase,
    TextViews,
    author_key,
    interest_phrases,
    style,
)

Vectors = NDArray[np.float32]
_CHUNK = 1024  # candidates per similarity block: bounds memory to ~1024 x history floats
MIN_REFERENCE = 30  # papers needed to standardise a phrase's similarity over them


@dataclass(frozen=True)
class SignalScores:
    name: str
    values: FloatArray
    explain: Callable[[int], str]


def _short(title: str, limit: int = 80) -> str:
    title = " ".join(title.split())
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


class LinearSignal:
    name = "learned"

    def __init__(self, views: TextViews, config: RankerConfig) -> None:
        self.views = views
        self.config = config
        from sklearn.linear_model import LogisticRegression  # only with history (slow import)

        self.model = LogisticRegression(C=config.c, class_weight="balanced", solver="liblinear")
        self.style_mean = np.zeros(0)
        self.style_std = np.ones(0)

    def _style(self, items: Sequence[Item]) -> FloatArray:
        return style(items) if self.config.title_style else np.zeros((len(items), 0))

    def _design(self, text: Matrix, items: Sequence[Item], vectors: Vectors) -> Matrix:
        st = (self._style(items) - self.style_mean) / self.style_std
        emb = sparse.csr_matrix(self.config.embedding_scale * vectors.astype(np.float64))
        return sparse.csr_matrix(sparse.hstack([text, emb, st]))

    def fit(
        self,
        text: Matrix,
        items: Sequence[Item],
        labels: NDArray[np.int_],
        weights: FloatArray,
        vectors: Vectors,
    ) -> LinearSignal:
        """`text`: `views.transform(items)`, computed once by the caller."""
        st = self._style(items)
        self.style_mean, self.style_std = st.mean(axis=0), st.std(axis=0) + 1e-9
        self.model.fit(self._design(text, items, vectors), labels, sample_weight=weights)
        return self

    def score(self, items: Sequence[Item], vectors: Vectors) -> SignalScores:
        x = self._design(self.views.transform(items), items, vectors)
        values = np.asarray(self.model.decision_function(x), dtype=np.float64)
        coef = self.model.coef_[0]
        n_word, terms = self.views.n_word, self.views.terms

        def explain(row: int) -> str:
            words = x[row, :n_word]
            contrib = words.data * coef[words.indices]
            order = np.argsort(-contrib)
            picked: list[str] = []
            for j in order:
                if contrib[j] <= 0 or len(picked) == 2:
                    break
                term = str(terms[words.indices[j]])
                if not any(term in p or p in term for p in picked):
                    picked.append(term)
            if not picked:
                return "worded like the titles you pick"
            return "matches " + ", ".join(f"'{t}'" for t in picked) + " from your picks"

        return SignalScores(self.name, values, explain)


class NeighbourSignal:
    name = "neighbours"

    def __init__(self, config: RankerConfig) -> None:
        self.config = config
        self.pos = np.zeros((0, 0), dtype=np.float32)
        self.neg = np.zeros((0, 0), dtype=np.float32)
        self.pos_titles: list[str] = []

    def fit(
        self, items: Sequence[Item], labels: NDArray[np.int_], vectors: Vectors
    ) -> NeighbourSignal:
        self.pos, self.neg = vectors[labels == 1], vectors[labels == 0]
        self.pos_titles = [i.title for i, y in zip(items, labels, strict=True) if y == 1]
        return self

    def score(self, items: Sequence[Item], vectors: Vectors) -> SignalScores:
        n = len(items)
        values = np.zeros(n)
        nearest = np.zeros(n, dtype=np.int64)
        for start in range(0, n, _CHUNK):
            block = vectors[start : start + _CHUNK]
            sim_pos = block @ self.pos.T
            values[start : start + len(block)] = _top_mean(sim_pos, self.config.k_pos)
            nearest[start : start + len(block)] = sim_pos.argmax(axis=1)
            if len(self.neg):
                values[start : start + len(block)] -= _top_mean(
                    block @ self.neg.T, self.config.k_neg
                )

        def explain(row: int) -> str:
            return f"close to a paper you picked: {_short(self.pos_titles[nearest[row]])}"

        return SignalScores(self.name, values, explain)


def _top_mean(sim: NDArray[np.float32], k: int) -> FloatArray:
    k = min(k, sim.shape[1])
    if k == 0:
        return np.zeros(sim.shape[0])
    top = np.partition(sim, sim.shape[1] - k, axis=1)[:, -k:]
    return np.asarray(top.mean(axis=1), dtype=np.float64)


REST_WEIGHT = 0.1  # the other phrases' mean standing, next to the best phrase's
SEED_SHARE = 0.5  # the seed papers' share of the profile when there is a description too


class ProfileSignal:
    """How well a paper matches the reader's own words: each phrase of the description and
    each seed paper is embedded, and a paper's similarity to each is standardised per phrase
    (against the reference papers given to `fit`, else the scored batch itself when it has
    at least `MIN_REFERENCE` papers), so a broad phrase that every paper resembles ('Large
    language models') does not outvote the specific ones.

    Two parts, each standardised the same way: the description (the best phrase's standing
    plus `REST_WEIGHT` times the mean over all phrases) and the seed papers taken together
    (the mean standing over all seeds: one interest drawn from all of them, so a single close
    seed does not outrank a paper that fits them broadly). The value blends
    them, the seeds with `SEED_SHARE`; the explanation quotes the part that lifts the paper
    more: the best phrase, or the closest seed paper."""

    name = "profile"

    def __init__(self, phrases: Sequence[Phrase], seeds: Sequence[Item], vectors: Vectors) -> None:
        self.n_phrases = len(phrases)
        self.labels = [f"matches '{p.label}'" for p in phrases] + [
            f"close to your seed paper: {_short(s.title)}" for s in seeds
        ]
        self.topics = [p.label for p in phrases] + [_short(s.title) for s in seeds]
        self.vectors = vectors
        self.spread: tuple[FloatArray, FloatArray] | None = None
        self.part_spread: tuple[FloatArray, FloatArray] | None = None

    @classmethod
    def build(
        cls, description: str, seeds: Sequence[Item], embed: Callable[[list[str]], Vectors]
    ) -> ProfileSignal | None:
        phrases = interest_phrases(description)
        texts = [p.text for p in phrases] + [s.text for s in seeds]
        if not texts:
            return None
        return cls(phrases, seeds, embed(texts))

    def fit(self, reference: Vectors) -> ProfileSignal:
        """Standardise each phrase's similarity by its mean and spread over `reference`
        (typically the papers of the reading history); too few rows: by the scored batch."""
        self.spread = self.part_spread = None
        if len(reference) >= MIN_REFERENCE:
            sim = reference @ self.vectors.T
            self.spread = (sim.mean(axis=0), sim.std(axis=0) + 1e-6)
            parts = self._parts(self.standing(reference))
            self.part_spread = (parts.mean(axis=0), parts.std(axis=0) + 1e-6)
        return self

    def standing(self, vectors: Vectors) -> FloatArray:
        """Rows: papers; columns: phrases then seeds; standardised similarities."""
        sim = np.asarray(vectors @ self.vectors.T, dtype=np.float64)
        spread = self.spread
        if spread is None and len(vectors) >= MIN_REFERENCE:
            spread = (sim.mean(axis=0), sim.std(axis=0) + 1e-6)
        if spread is None:
            return sim
        return (sim - spread[0]) / spread[1]

    def _parts(self, z: FloatArray) -> FloatArray:
        """Columns: the description's part, then the seeds' (each only when it exists)."""
        cols = []
        phrases, seeds = z[:, : self.n_phrases], z[:, self.n_phrases :]
        if phrases.shape[1]:
            cols.append(phrases.max(axis=1) + REST_WEIGHT * phrases.mean(axis=1))
        if seeds.shape[1]:
            cols.append(seeds.mean(axis=1))
        return np.stack(cols, axis=1)

    def _blend(self, vectors: Vectors) -> tuple[FloatArray, NDArray[np.int_]]:
        """The profile value of each paper and the column (phrase or seed) explaining it."""
        z = self.standing(vectors)
        parts = self._parts(z)
        spread = self.part_spread
        if spread is None and len(vectors) >= MIN_REFERENCE:
            spread = (parts.mean(axis=0), parts.std(axis=0) + 1e-6)
        if spread is not None and parts.shape[1] > 1:
            parts = (parts - spread[0]) / spread[1]
        share = np.asarray([1 - SEED_SHARE, SEED_SHARE]) if parts.shape[1] > 1 else np.ones(1)
        values = parts @ share
        best_phrase = z[:, : self.n_phrases].argmax(axis=1) if self.n_phrases else None
        best_seed = None
        if z.shape[1] > self.n_phrases:
            best_seed = self.n_phrases + z[:, self.n_phrases :].argmax(axis=1)
        if best_phrase is None:
            assert best_seed is not None
            return values, best_seed
        if best_seed is None:
            return values, best_phrase
        return values, np.where(parts[:, 1] > parts[:, 0], best_seed, best_phrase)

    def score(self, items: Sequence[Item], vectors: Vectors) -> SignalScores:
        if not len(items):
            return SignalScores(self.name, np.zeros(0), lambda row: "")
        values, best = self._blend(vectors)
        return SignalScores(self.name, values, lambda row: self.labels[best[row]])

    def topic(self, vectors: Vectors) -> list[str]:
        """The phrase (or seed paper) that explains each paper's standing."""
        if not len(vectors):
            return []
        return [self.topics[j] for j in self._blend(vectors)[1]]


class AuthorSignal:
    name = "authors"

    def __init__(self, followed: Sequence[str]) -> None:
        self.followed = {author_key(a): a for a in followed if author_key(a)}

    def score(self, items: Sequence[Item], vectors: Vectors) -> SignalScores:
        hits: list[str | None] = []
        for item in items:
            names = [a for a in item.authors if author_key(a) in self.followed]
            hits.append(names[0] if names else None)
        values = np.asarray([1.0 if h else 0.0 for h in hits])

        def explain(row: int) -> str:
            return f"by {hits[row]}, whom you follow" if hits[row] else "no author you follow"

        return SignalScores(self.name, values, explain)
