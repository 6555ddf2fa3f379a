"""Bounded retries for model calls: exponential backoff with jitter, Retry-After honoured."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pipeline.backoff import backoff_delay
from pipeline.errors import LLMTransient

T = TypeVar("T")


@dataclass
class RetryPolicy:
    retries: int = 4
    base_seconds: float = 1.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        return backoff_delay(attempt, retry_after, base=self.base_seconds, rng=self.rng)

    async def run(
        self,
        call: Callable[[], Awaitable[T]],
        on_failure: Callable[[LLMTransient], None] | None = None,
    ) -> T:
        """`call()` until it succeeds, retrying only LLMTransient, at most `retries` times."""
        attempt = 0
        while True:
            try:
                return await call()
            except LLMTransient as exc:
                if on_failure is not None:
                    on_failure(exc)
                attempt += 1
                if attempt > self.retries:
                    raise
                await self.sleep(self.delay(attempt, exc.retry_after))
