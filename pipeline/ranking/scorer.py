"""The learned interest ranker: pure, I/O-free, on plain data.

    scorer = InterestScorer(embedder, Profile(description="state space models; ..."))
    scorer.train(history)                  # LabelledItem: picks (1) and shown-not-picked (0)
    for s in scorer.score(candidates):     # Item: id, title, abstract?, date?, authors?
        print(s.id, s.score, s.explanation)

Combination.  Each signal (see `signals.py`) is standardised over the candidates (per-batch
z-score; small batches use the spread seen on the held-out history instead) and the
z-scores are averaged: the learned model and the neighbours share weight 1 - π, the profile
(description phrases, seed papers) gets π = n0 / (n0 + positives), so the profile alone ranks
at cold start and fades as picks accumulate; a followed author adds `author_bonus`.

Calibration.  The latest ~15% of the history (whole weeks/days, by `at`) is held out, the
signals are fitted on the rest, and a one-feature logistic model (Platt scaling) maps the
combined score of the held-out papers to the chance they were picked; then everything is
refitted on the whole history.  Without labels: a fixed mapping assuming `base_rate`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.llm.base import Embedder
from pipeline.ranking.data import Item, LabelledItem, Profile, RankerConfig, Scored
from pipeline.ranking.features import FloatArray, Matrix, TextViews
from pipeline.ranking.signals import (
    AuthorSignal,
    LinearSignal,
    NeighbourSignal,
    ProfileSignal,
    SignalScores,
    Vectors,
)

MIN_BATCH = 30  # below this many candidates, standardise with the held-out spread
MIN_HOLDOUT_POSITIVES = 3


@dataclass(frozen=True)
class TrainInfo:
    items: int
    positives: int
    profile_weight: float
    calibrated: bool
    slope: float
    intercept: float


@dataclass(frozen=True)
class _Data:
    history: list[LabelledItem]
    labels: np.ndarray
    weights: FloatArray
    vectors: Vectors
    views: TextViews
    text: Matrix


@dataclass
class _Learned:
    linear: LinearSignal | None
    neighbours: NeighbourSignal | None
    positives: int


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


class InterestScorer:
    def __init__(
        self,
        embedder: Embedder,
        profile: Profile | None = None,
        config: RankerConfig | None = None,
    ) -> None:
        self.embedder = embedder
        self.profile = profile or Profile()
        self.config = config or RankerConfig()
        self._learned = _Learned(None, None, 0)
        self._profile_signal: ProfileSignal | None = None
        self._authors = AuthorSignal(self.profile.followed_authors)
        self._spread: dict[str, tuple[float, float]] = {}
        self.info = TrainInfo(0, 0, 1.0, False, 1.0, _logit(self.config.base_rate))

    def _embed(self, texts: list[str]) -> Vectors:
        return np.asarray(self.embedder.embed(texts), dtype=np.float32)

    # ------------------------------------------------------------------------- training
    def train(self, history: Sequence[LabelledItem]) -> InterestScorer:
        history = list(history)
        self._learned, self._spread = _Learned(None, None, 0), {}
        p = self.profile
        self._profile_signal = ProfileSignal.build(p.description, p.seed_papers, self._embed)
        vectors = self._embed([h.text for h in history])
        if self._profile_signal is not None:
            self._profile_signal.fit(vectors)
        labels = np.asarray([1 if h.label else 0 for h in history], dtype=np.int_)
        weights = np.asarray([max(h.weight, 0.0) for h in history], dtype=np.float64)
        weights *= _recency(history, self.config.half_life_weeks)
        slope, intercept, calibrated = 1.0, _logit(self.config.base_rate), False
        if len(history):
            intercept = _logit(float(np.average(labels, weights=weights + 1e-12)))
        # Vocabulary and idf come from the whole history: unsupervised, so the held-out rows
        # may share them without leaking a label; counting the n-grams once halves the time.
        views = TextViews(char=self.config.char_ngrams)
        text = views.fit_transform(history)
        data = _Data(history, labels, weights, vectors, views, text)
        split = _holdout(history, labels, self.config.calibration_share)
        if split is not None:
            fit_idx, hold_idx = split
            self._learned = self._fit(data, fit_idx)
            held = [history[i] for i in hold_idx]
            combined, parts = self._combine(held, vectors[hold_idx], standardise_by_batch=True)
            self._spread = {s.name: _mean_std(s.values) for s, _ in parts}
            platt = _platt(combined, labels[hold_idx])
            if platt is not None:
                (slope, intercept), calibrated = platt, True
        self._learned = self._fit(data, np.arange(len(history)))
        self.info = TrainInfo(
            len(history),
            int(labels.sum()),
            self._profile_weight(),
            calibrated,
            slope,
            intercept,
        )
        return self

    def _fit(self, d: _Data, idx: np.ndarray) -> _Learned:
        items = [d.history[i] for i in idx]
        y, w, v = d.labels[idx], d.weights[idx], d.vectors[idx]
        n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
        linear = None
        if n_pos and n_neg:
            linear = LinearSignal(d.views, self.config).fit(d.text[idx], items, y, w, v)
        neighbours = NeighbourSignal(self.config).fit(items, y, v) if n_pos else None
        return _Learned(linear, neighbours, n_pos)

    def _profile_weight(self) -> float:
        if self._profile_signal is None:
            return 0.0
        if self._learned.neighbours is None:
            return 1.0
        n0 = self.config.prior_strength
        return n0 / (n0 + self._learned.positives)

    # ------------------------------------------------------------------------- scoring
    def _combine(
        self, items: Sequence[Item], vectors: Vectors, *, standardise_by_batch: bool
    ) -> tuple[FloatArray, list[tuple[SignalScores, FloatArray]]]:
        """Combined score and each signal's weighted contribution, per item."""
        prior = self._profile_weight()
        learned = [s for s in (self._learned.linear, self._learned.neighbours) if s is not None]
        weighted: list[tuple[SignalScores, float]] = [
            (s.score(items, vectors), (1 - prior) / len(learned)) for s in learned
        ]
        if self._profile_signal is not None:
            weighted.append((self._profile_signal.score(items, vectors), prior))
        parts: list[tuple[SignalScores, FloatArray]] = []
        total = np.zeros(len(items))
        for sig, weight in weighted:
            by_batch = standardise_by_batch or len(items) >= MIN_BATCH
            z = _standardise(sig.values, None if by_batch else self._spread.get(sig.name))
            parts.append((sig, weight * z))
            total += weight * z
        if self._authors.followed:
            sig = self._authors.score(items, vectors)
            parts.append((sig, self.config.author_bonus * sig.values))
            total += self.config.author_bonus * sig.values
        return total, parts

    def score(self, candidates: Sequence[Item]) -> list[Scored]:
        """One `Scored` per candidate, in input order; score = calibrated probability."""
        candidates = list(candidates)
        if not candidates:
            return []
        vectors = self._embed([c.text for c in candidates])
        combined, parts = self._combine(candidates, vectors, standardise_by_batch=False)
        probs = 1.0 / (1.0 + np.exp(-(self.info.slope * combined + self.info.intercept)))
        topics = [""] * len(candidates)
        if self._profile_signal is not None:
            topics = self._profile_signal.topic(vectors)
        return [
            Scored(c.id, float(probs[i]), _explain(parts, i), topics[i])
            for i, c in enumerate(candidates)
        ]


def _explain(parts: list[tuple[SignalScores, FloatArray]], row: int) -> str:
    """The strongest one or two reasons: signals with the largest positive contribution."""
    if not parts:
        return "no interests or feedback yet: newest first"
    ranked = sorted(parts, key=lambda p: -float(p[1][row]))
    reasons = [sig.explain(row) for sig, c in ranked[:2] if c[row] > 0]
    return "; ".join(reasons or [ranked[0][0].explain(row)])


def _recency(history: Sequence[LabelledItem], half_life_weeks: float) -> FloatArray:
    """0.5 ** (weeks before the latest label / half life); 1 for undated rows or when off."""
    if half_life_weeks <= 0:
        return np.ones(len(history))
    days = [h.at or h.date for h in history]
    dated = [d for d in days if d is not None]
    if not dated:
        return np.ones(len(history))
    latest = max(dated)
    ages = np.asarray([(latest - d).days / 7 if d is not None else 0.0 for d in days])
    return np.asarray(0.5 ** (ages / half_life_weeks), dtype=np.float64)


def _mean_std(values: FloatArray) -> tuple[float, float]:
    return float(values.mean()), float(values.std())


def _standardise(values: FloatArray, spread: tuple[float, float] | None) -> FloatArray:
    if spread is None:
        if len(values) < 2:
            return np.zeros(len(values))
        spread = _mean_std(values)
    mean, std = spread
    return (values - mean) / (std if std > 1e-12 else 1.0)


def _holdout(
    history: list[LabelledItem], labels: np.ndarray, share: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Indices (fit, held out): the latest whole days of labels, about `share` of the rows
    with at least a few picks, leaving at least as many picks to fit on; None if too few."""
    n = len(history)
    times = [h.at or h.date for h in history]
    if all(t is not None for t in times):
        order = sorted(range(n), key=lambda i: (times[i], i))
    else:
        order = list(range(n))
    groups: list[list[int]] = []
    for i in order:
        if groups and times[i] is not None and times[groups[-1][0]] == times[i]:
            groups[-1].append(i)
        else:
            groups.append([i])
    held: list[int] = []
    while groups and (len(held) < share * n or labels[held].sum() < MIN_HOLDOUT_POSITIVES):
        held.extend(groups.pop())
    fit = [i for g in groups for i in g]
    if labels[held].sum() < MIN_HOLDOUT_POSITIVES or labels[fit].sum() < MIN_HOLDOUT_POSITIVES:
        return None
    if labels[held].sum() == len(held) or labels[fit].sum() == len(fit):
        return None
    return np.asarray(sorted(fit)), np.asarray(sorted(held))


def _platt(scores: FloatArray, labels: np.ndarray) -> tuple[float, float] | None:
    """Slope and intercept of P(pick | score); None when the score does not separate."""
    from sklearn.linear_model import LogisticRegression  # only with history (slow import)

    model = LogisticRegression(C=100.0).fit(scores.reshape(-1, 1), labels)
    slope, intercept = float(model.coef_[0, 0]), float(model.intercept_[0])
    return (slope, intercept) if slope > 0 else None
