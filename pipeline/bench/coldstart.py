"""Cold start on the shared reader data: rankers for `evaluate.py --ranker`, one per start.

    evaluate.py --data dev.csv --ranker pipeline.bench.coldstart:first_week \\
        --opt cache_dir=DIR --out-dir OUT

Each is `rank(train, candidates) -> scores` (pandas in, floats out), the newsletter's ranker
given less than the whole history, to score every later week as the full replay does:

- `description`: the default `interest_description` alone, no feedback (a new reader);
- `seeds`: the description and 10 seed papers (the first 10 picks of the first week, as a
  reader naming papers they liked), no other feedback;
- `first_week`: the description and every label of the first week only.

Titles only, as in the full replay; embeddings go through the same on-disk cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline.config import Settings
from pipeline.ranking.data import Item, LabelledItem, Profile
from pipeline.ranking.embed_cache import CachedEmbedder
from pipeline.ranking.rank_csv import KEPT_WEIGHT
from pipeline.ranking.scorer import InterestScorer

SEEDS = 10
_options: dict[str, str] = {}
_embedders: dict[str, CachedEmbedder] = {}


def configure(**opts: str) -> None:
    """`--opt cache_dir=DIR`: where the embedding cache (and an exported ONNX model) live."""
    _options.update(opts)


def _embedder() -> CachedEmbedder:
    from pipeline.llm.embed_local import LocalMiniLM

    cache = Path(_options.get("cache_dir", "db/cache"))
    key = str(cache)
    if key not in _embedders:
        _embedders[key] = CachedEmbedder(LocalMiniLM(cache_dir=cache), cache / "embeddings")
    return _embedders[key]


def _description() -> str:
    return _options.get("description") or Settings().interest_description


def _items(frame: Any) -> list[Item]:
    return [Item(id=str(r.id), title=str(r.title)) for r in frame.itertuples()]


def _labelled(frame: Any) -> list[LabelledItem]:
    return [
        LabelledItem(
            id=str(r.id),
            title=str(r.title),
            label=int(r.label or r.downloaded or r.kept),
            weight=KEPT_WEIGHT if int(r.kept) else 1.0,
            at=None,
        )
        for r in frame.itertuples()
    ]


def _first_week(train: Any) -> Any:
    return train[train["week"] == train["week"].min()]


def _score(profile: Profile, history: list[LabelledItem], cand: Any) -> NDArray[np.float64]:
    scorer = InterestScorer(_embedder(), profile).train(history)
    return np.asarray([s.score for s in scorer.score(_items(cand))], dtype=np.float64)


def description(train: Any, cand: Any) -> NDArray[np.float64]:
    return _score(Profile(_description()), [], cand)


def seeds(train: Any, cand: Any) -> NDArray[np.float64]:
    first = _first_week(train)
    picks = first[first["label"] == 1].sort_values(["added", "id"]).head(SEEDS)
    return _score(Profile(_description(), seed_papers=tuple(_items(picks))), [], cand)


def first_week(train: Any, cand: Any) -> NDArray[np.float64]:
    return _score(Profile(_description()), _labelled(_first_week(train)), cand)
