"""The LLM seam: a chat model is one small class with one method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypedDict


class Message(TypedDict):
    role: str
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str = "stop"


class ChatModel(Protocol):
    """Anything that turns chat messages into a completion."""

    name: str
    """The model name recorded with every summary and call (part of the cache key)."""

    def complete(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Completion: ...

    def close(self) -> None:
        """Release connections or memory; the model is not used afterwards."""
