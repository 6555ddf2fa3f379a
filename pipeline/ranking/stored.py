"""An Embedder whose vectors for known papers are cached in the database (`embedding`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy import Engine

from pipeline.llm.base import Embedder
from pipeline.store.embeddings import embed_cached


class StoredEmbedder:
    """Texts of papers in `paper_of_text` are looked up / stored per paper; any other text
    (an imported title with no paper row, a phrase of the interest description) goes to
    `other`, by default `inner` itself (give a `CachedEmbedder` around it so that nothing
    is embedded twice)."""

    def __init__(
        self,
        engine: Engine,
        inner: Embedder,
        paper_of_text: Mapping[str, str],
        other: Embedder | None = None,
    ) -> None:
        self.engine = engine
        self.inner = inner
        self.other = other or inner
        self.paper_of_text = paper_of_text
        self.name = inner.name

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        known = [i for i, t in enumerate(texts) if t in self.paper_of_text]
        other = [i for i, t in enumerate(texts) if t not in self.paper_of_text]
        parts: dict[int, np.ndarray] = {}
        if known:
            pairs = [(self.paper_of_text[texts[i]], texts[i]) for i in known]
            # one paper can appear twice (history and candidates): embed each pair once
            unique = list(dict.fromkeys(pairs))
            vectors = embed_cached(self.engine, self.name, unique, self.inner.embed)
            by_pair = dict(zip(unique, vectors, strict=True))
            for i, pair in zip(known, pairs, strict=True):
                parts[i] = by_pair[pair]
        if other:
            vectors = np.asarray(self.other.embed([texts[i] for i in other]), dtype=np.float32)
            for i, vec in zip(other, vectors, strict=True):
                parts[i] = vec
        if not parts:
            return np.zeros((0, max(self.inner.dimensions, 0)), dtype=np.float32)
        return np.vstack([parts[i] for i in range(len(texts))]).astype(np.float32)
