"""An on-disk cache in front of any `Embedder`: one SQLite file per model, keyed by sha1(text).

    cache = CachedEmbedder(LocalMiniLM(), Path("db/cache/embeddings"))
    vectors = cache.embed(titles)   # only texts never seen before reach the model

The file is `<dir>/<model name>.sqlite`, read and written by `pipeline.store.embed_cache`.
The model is not touched (not even loaded) when every text is cached,
which is what makes a repeated weekly `rank-csv` fast.  Several processes may share the file:
writes are short transactions and a duplicate key is ignored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pipeline.llm.base import Embedder
from pipeline.store.embed_cache import load_vectors, save_vectors


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def cache_file(directory: Path, model: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model) or "model"
    return directory / f"{safe}.sqlite"


class CachedEmbedder:
    """Wraps an `Embedder`; is one itself.  `hits`/`misses` count texts (for the benchmark)."""

    def __init__(self, inner: Embedder, directory: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = cache_file(directory, inner.name)
        self.hits = 0
        self.misses = 0
        self._memo: dict[str, NDArray[np.float32]] = {}

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        keys = [text_key(t) for t in texts]
        wanted = sorted({k for k in keys if k not in self._memo})
        if wanted:
            self._memo.update(load_vectors(self.path, wanted))
        todo: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self._memo and key not in todo:
                todo[key] = text
        self.misses += len(todo)
        self.hits += len(set(keys)) - len(todo)
        if todo:
            vectors = np.asarray(self.inner.embed(list(todo.values())), dtype=np.float32)
            new = dict(zip(todo, vectors, strict=True))
            self._memo.update(new)
            save_vectors(self.path, new)
        if not keys:
            return np.zeros((0, self.inner.dimensions), dtype=np.float32)
        return np.stack([self._memo[k] for k in keys]).astype(np.float32, copy=False)
