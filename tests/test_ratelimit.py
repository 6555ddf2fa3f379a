"""The sliding-window rate limit."""

from __future__ import annotations

from pipeline.web.ratelimit import RateLimit


def test_sliding_window_per_key() -> None:
    now = [0.0]
    limit = RateLimit(2, 60.0, clock=lambda: now[0])
    assert limit.retry_after("a") == 0 and limit.retry_after("a") == 0
    assert limit.retry_after("a") == 60.0  # third within the window: wait for the first
    assert limit.retry_after("b") == 0  # other keys are independent
    now[0] = 30.0
    assert limit.retry_after("a") == 30.0
    now[0] = 60.0
    assert limit.retry_after("a") == 0  # the first event left the window


def test_all_keys_must_have_room_and_a_refusal_counts_nothing() -> None:
    now = [0.0]
    limit = RateLimit(1, 10.0, clock=lambda: now[0])
    assert limit.retry_after("x") == 0
    assert limit.retry_after("x", "y") == 10.0
    assert limit.retry_after("y") == 0  # "y" was not counted by the refused call
