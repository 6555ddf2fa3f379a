"""Bounded retries for model calls: exponential backoff with jitter, Retry-After honoured."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pipeline.errors import LLMTransient

T = TypeVar("T")
MAX_RETRY_AFTER = 300.0


@dataclass
class RetryPolicy:
    retries: int = 4
    base_seconds: float = 1.0
    max_seconds: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER) + self.rng.uniform(0, self.base_seconds)
        backoff = min(self.base_seconds * 2.0 ** (attempt - 1), self.max_seconds)
        return backoff * self.rng.uniform(0.5, 1.5)

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
