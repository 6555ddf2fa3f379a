"""One retry-delay rule for every remote call (arXiv, full texts, LLM endpoints):
exponential backoff with jitter, or the server's Retry-After when it sends one."""

from __future__ import annotations

import random
from datetime import UTC
from email.utils import parsedate_to_datetime

from pipeline.clock import utcnow

MAX_RETRY_AFTER = 600.0  # a longer Retry-After is capped: the run would look hung
MAX_BACKOFF = 120.0


def backoff_delay(
    attempt: int, retry_after: float | None, *, base: float, rng: random.Random
) -> float:
    """Seconds to wait before retry number `attempt` (1-based)."""
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER) + rng.uniform(0, base)
    return min(base * 2.0 ** (attempt - 1), MAX_BACKOFF) * rng.uniform(0.5, 1.5)


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (delta-seconds or an HTTP date) in seconds, or None."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, float((when - utcnow()).total_seconds()))
