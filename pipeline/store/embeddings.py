"""Paper embeddings cached in the database, keyed by paper, model and a hash of the text."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np
from sqlalchemy import Engine
from sqlmodel import col, select

from pipeline.store.db import locked_session, session
from pipeline.store.models import Embedding


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


def embed_cached(
    engine: Engine,
    model: str,
    items: Sequence[tuple[str, str]],
    embed: Callable[[Sequence[str]], np.ndarray],
) -> np.ndarray:
    """Vectors for (paper_id, text) pairs, in order: cached rows are reused, the rest are
    embedded in one call and stored. A changed text (new version) is embedded again."""
    hashes = [text_hash(text) for _, text in items]
    ids = [pid for pid, _ in items]
    with session(engine) as s:
        rows = {
            row.paper_id: row
            for row in s.exec(
                select(Embedding).where(col(Embedding.paper_id).in_(ids), Embedding.model == model)
            )
        }
    vectors: list[np.ndarray | None] = []
    missing: list[int] = []
    for i, (pid, h) in enumerate(zip(ids, hashes, strict=True)):
        row = rows.get(pid)
        if row is not None and row.text_hash == h:
            vectors.append(np.frombuffer(row.vector, dtype=np.float32))
        else:
            vectors.append(None)
            missing.append(i)
    if missing:
        fresh = np.asarray(embed([items[i][1] for i in missing]), dtype=np.float32)
        with locked_session(engine) as s:
            for j, i in enumerate(missing):
                vectors[i] = fresh[j]
                pid = ids[i]
                row = s.get(Embedding, (pid, model), with_for_update=True) or Embedding(
                    paper_id=pid, model=model, text_hash="", dim=0, vector=b""
                )
                row.text_hash, row.dim, row.vector = (
                    hashes[i],
                    int(fresh.shape[1]),
                    fresh[j].tobytes(),
                )
                s.add(row)
    if not vectors:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack([v for v in vectors if v is not None])
