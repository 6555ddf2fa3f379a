"""What calls cost, and a budget that stops new calls before it is exceeded."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.llm.base import Message

log = logging.getLogger(__name__)
_warned: set[str] = set()


def estimate_tokens(text: str) -> int:
    """A model-independent estimate: about 4 characters per token for English."""
    return math.ceil(len(text) / 4)


def prompt_tokens(messages: Sequence[Message]) -> int:
    return sum(estimate_tokens(m["content"]) + 4 for m in messages)


@dataclass(frozen=True)
class PriceTable:
    """USD per million tokens, [input, output], by model."""

    prices: Mapping[str, tuple[float, float]]

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        price = self.prices.get(model)
        if price is None:
            if model not in _warned:
                _warned.add(model)
                log.warning(
                    "no price for model %r: its cost counts as 0 (add it to [llm.prices])", model
                )
            return 0.0
        return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000

    def known(self, model: str) -> bool:
        return model in self.prices


class Budget:
    """Reserve a call's worst-case cost before it starts; settle with the real cost after.

    With no limit every reservation succeeds. With a limit, a call starts only if what is
    spent plus what is reserved for calls in flight plus its own worst case fits."""

    def __init__(self, limit_usd: float | None) -> None:
        self.limit = limit_usd
        self.spent = 0.0
        self.reserved = 0.0

    def reserve(self, worst_case: float) -> bool:
        if self.limit is not None and self.spent + self.reserved + worst_case > self.limit:
            return False
        self.reserved += worst_case
        return True

    def settle(self, reserved: float, actual: float) -> None:
        self.reserved -= reserved
        self.spent += actual
