"""Sentence embeddings from any OpenAI-compatible `/v1/embeddings` endpoint.

OpenAI, Ollama, vLLM, LM Studio, a llama.cpp server... Texts go in batches of
`batch_size` per request; rows come back L2-normalised float32.  Transient
failures are retried by the `openai` client itself (its `max_retries`); what
still fails is mapped onto our exceptions, like `openai_compat` does for chat.

`dimensions` is learned from the first answer: before any text has been
embedded it is 0, so `embed([])` on a fresh embedder gives shape (0, 0).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import openai
from numpy.typing import NDArray

from pipeline.errors import LLMConfigError, LLMError


class OpenAIEmbedder:
    def __init__(self, client: openai.OpenAI, model: str, *, batch_size: int = 256) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.client = client
        self.name = model
        self.dimensions = 0  # learned from the first answer
        self.batch_size = batch_size

    def close(self) -> None:
        self.client.close()

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One row per text, in order: float32, shape (len(texts), dimensions), unit length."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        parts = [
            self._embed_batch(texts[start : start + self.batch_size])
            for start in range(0, len(texts), self.batch_size)
        ]
        return _normalise(np.concatenate(parts))

    def _embed_batch(self, batch: Sequence[str]) -> NDArray[np.float32]:
        try:
            resp = self.client.embeddings.create(model=self.name, input=list(batch))
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise LLMConfigError(
                f"the embedding endpoint {self.client.base_url} refused the API key "
                f"(HTTP {exc.status_code}); set OPENAI_API_KEY"
            ) from None
        except openai.NotFoundError:
            raise LLMConfigError(
                f"the embedding endpoint {self.client.base_url} does not know model "
                f"{self.name!r}; set NEWSLETTER_EMBEDDING_MODEL"
            ) from None
        except openai.APITimeoutError:
            raise LLMError(f"the embedding call timed out ({self.client.timeout} s)") from None
        except openai.APIConnectionError as exc:
            if _could_not_connect(exc):
                # The client has already retried: the endpoint is down, so stop the stage.
                raise LLMConfigError(
                    f"cannot reach the embedding endpoint {self.client.base_url}; is the server "
                    "running? Check NEWSLETTER_EMBEDDING_BASE_URL"
                ) from None
            raise LLMError(f"the connection to {self.client.base_url} dropped ({exc})") from None
        except openai.APIStatusError as exc:
            raise LLMError(
                f"embedding call failed with HTTP {exc.status_code}: {exc.message}"
            ) from None
        except json.JSONDecodeError:
            raise LLMError("the embedding endpoint answered with invalid JSON") from None
        rows = sorted(resp.data, key=lambda item: item.index)
        if len(rows) != len(batch):
            raise LLMError(
                f"the embedding endpoint returned {len(rows)} vectors for {len(batch)} texts"
            )
        if len({len(row.embedding) for row in rows}) != 1 or not rows[0].embedding:
            raise LLMError("the embedding endpoint returned vectors of unequal or zero length")
        vectors = np.asarray([row.embedding for row in rows], dtype=np.float32)
        if self.dimensions and vectors.shape[1] != self.dimensions:
            raise LLMError(
                f"the embedding endpoint returned {vectors.shape[1]} dimensions, "
                f"earlier {self.dimensions}"
            )
        self.dimensions = int(vectors.shape[1])
        return vectors


def _normalise(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows scaled to unit length; an all-zero row stays zero."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)


def _could_not_connect(exc: BaseException) -> bool:
    """True when the connection was never made (refused, no route, unknown host)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or type(seen).__name__ == "ConnectError":
            return True
        seen = seen.__cause__ or seen.__context__
    return False
