"""A small in-memory sliding-window rate limit (per process), e.g. for sign-up emails:
at most `limit` events per key in any `window` seconds."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimit:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> float:
        """0 and the event is counted for every key when all keys are under the limit;
        else the seconds until the busiest key has room again (nothing is counted)."""
        now = self.clock()
        with self._lock:
            wait = 0.0
            for key in keys:
                events = self._events.setdefault(key, deque())
                while events and events[0] <= now - self.window:
                    events.popleft()
                if len(events) >= self.limit:
                    wait = max(wait, events[0] + self.window - now)
            if wait:
                return wait
            for key in keys:
                self._events[key].append(now)
            if len(self._events) > 10_000:  # forget keys with no recent events
                for key in [k for k, ev in self._events.items() if not ev]:
                    del self._events[key]
            return 0.0
