"""The LLM seam: a chat model is one small class with one method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, Protocol, TypedDict, Unpack

import numpy as np
from numpy.typing import NDArray


class Message(TypedDict):
    role: str
    content: str


class Ask(TypedDict):
    """How to answer, besides the messages: `ChatModel.complete`'s keyword arguments."""

    max_tokens: int
    temperature: float
    response_format: NotRequired[Mapping[str, Any] | None]  # None (the default): free text


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str = "stop"


class ChatModel(Protocol):
    """Anything that turns chat messages into a completion.

    `complete` makes ONE attempt: it raises LLMTransient for what is worth retrying,
    LLMConfigError for what stops the stage, LLMError for a failed call; callers retry.

    `response_format` asks for a reply of a shape, in OpenAI's form
    `{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}, "strict": True}}`.
    It is a request, not a promise: a model that cannot honour it answers in free text, so
    the prompt must still say what to answer and the caller must still check the reply."""

    name: str
    """The model name recorded with every summary and call (part of the cache key)."""

    async def complete(self, messages: list[Message], **ask: Unpack[Ask]) -> Completion: ...

    async def aclose(self) -> None:
        """Release connections or memory; the model is not used afterwards."""


class Embedder(Protocol):
    """Anything that turns texts into sentence vectors (for ranking by similarity)."""

    name: str
    """The model name stored with every vector: vectors of different models never mix."""

    @property
    def dimensions(self) -> int:
        """Columns of `embed`'s result (an endpoint's may be 0 until its first answer)."""

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """float32, shape (len(texts), dimensions), rows L2-normalised, in input order."""
