"""The embedding cache's own SQLite file (not the newsletter database): vectors by key.

The file holds one table, `vec` (key TEXT PRIMARY KEY, dim, vector BLOB of float32), made on
first use. Several processes may share the file: every call is one short transaction and a
duplicate key is ignored. What the keys are, and when to ask the model, is decided by
`pipeline.ranking.embed_cache`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

_CHUNK = 900  # below SQLite's default limit of host parameters per statement


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    """One short transaction: committed on success, rolled back on error, always closed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=60)
    try:
        with con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY,"
                " dim INTEGER NOT NULL, vector BLOB NOT NULL)"
            )
            yield con
    finally:
        con.close()


def load_vectors(path: Path, keys: Sequence[str]) -> dict[str, NDArray[np.float32]]:
    """The stored vectors of those `keys` that are in the file whole (a truncated one is not)."""
    found: dict[str, NDArray[np.float32]] = {}
    with _connect(path) as con:
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = con.execute(f"SELECT key, dim, vector FROM vec WHERE key IN ({marks})", chunk)
            for key, dim, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape[0] == dim:
                    found[key] = vector
    return found


def save_vectors(path: Path, vectors: dict[str, NDArray[np.float32]]) -> None:
    """Store each key's vector, in one transaction; a key already stored is left as it is."""
    rows = [(key, int(v.shape[0]), v.tobytes()) for key, v in vectors.items()]
    with _connect(path) as con:
        con.executemany("INSERT OR IGNORE INTO vec VALUES (?, ?, ?)", rows)
