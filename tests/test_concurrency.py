"""Read-modify-writes raced by several connections at once keep their rules on both backends
(SQLite: the write lock taken as the transaction begins; PostgreSQL: the rows read are
locked), with the unique constraints behind them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import select

from pipeline.mail import subscribers as subs
from pipeline.store.db import add_all, session
from pipeline.store.feedback import add_feedback
from pipeline.store.models import Feedback, Subscriber
from tests.factories import paper

T = TypeVar("T")
RACERS = 6


def race(work: Callable[[int], T]) -> list[T]:
    """`work(i)` for each racer, each in its own thread, all let go at once."""
    start = threading.Barrier(RACERS)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return [results[i] for i in range(RACERS)]


def test_the_same_new_address_added_at_once_is_one_row(engine: Engine) -> None:
    outcomes = race(lambda i: subs.add(engine, "Ann@Example.org", f"Ann {i}")[1])
    assert sorted(outcomes) == [False] * (RACERS - 1) + [True]  # exactly one added it
    with session(engine) as s:
        rows = s.exec(select(Subscriber)).all()
    assert [r.email for r in rows] == ["ann@example.org"]


def test_likes_and_dislikes_at_once_leave_one_of_them(engine: Engine) -> None:
    """A like replaces a dislike from the same source and back: however they interleave,
    the paper ends with one of the two, never both."""
    add_all(engine, [paper("2606.00001")])
    race(lambda i: add_feedback(engine, "2606.00001", "like" if i % 2 else "dislike"))
    with session(engine) as s:
        signals = s.exec(select(Feedback.signal).where(Feedback.paper_id == "2606.00001")).all()
    assert len(signals) == 1 and signals[0] in ("like", "dislike")
