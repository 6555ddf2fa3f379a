"""An on-disk cache in front of any `Embedder`: one SQLite file per model, keyed by sha1(text).

    cache = CachedEmbedder(LocalMiniLM(), Path("db/cache/embeddings"))
    vectors = cache.embed(titles)   # only texts never seen before reach the model

The file is `<dir>/<model name>.sqlite` (table `vec`: key TEXT PRIMARY KEY, dim, vector
BLOB of float32).  The model is not touched (not even loaded) when every text is cached,
which is what makes a repeated weekly `rank-csv` fast.  Several processes may share the file:
writes are short transactions and a duplicate key is ignored.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pipeline.llm.base import Embedder

_CHUNK = 900  # below SQLite's default limit of host parameters per statement


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

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One short transaction: committed on success, rolled back on error, always closed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=60)
        try:
            with con:
                con.execute(
                    "CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY,"
                    " dim INTEGER NOT NULL, vector BLOB NOT NULL)"
                )
                yield con
        finally:
            con.close()

    def _load(self, con: sqlite3.Connection, keys: list[str]) -> None:
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = con.execute(f"SELECT key, dim, vector FROM vec WHERE key IN ({marks})", chunk)
            for key, dim, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape[0] == dim:
                    self._memo[key] = vector

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        keys = [text_key(t) for t in texts]
        wanted = sorted({k for k in keys if k not in self._memo})
        if wanted:
            with self._connect() as con:
                self._load(con, wanted)
        todo: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self._memo and key not in todo:
                todo[key] = text
        self.misses += len(todo)
        self.hits += len(set(keys)) - len(todo)
        if todo:
            vectors = np.asarray(self.inner.embed(list(todo.values())), dtype=np.float32)
            rows = []
            for key, vector in zip(todo, vectors, strict=True):
                self._memo[key] = vector
                rows.append((key, int(vector.shape[0]), vector.tobytes()))
            with self._connect() as con:
                con.executemany("INSERT OR IGNORE INTO vec VALUES (?, ?, ?)", rows)
        if not keys:
            return np.zeros((0, self.inner.dimensions), dtype=np.float32)
        return np.stack([self._memo[k] for k in keys]).astype(np.float32, copy=False)
