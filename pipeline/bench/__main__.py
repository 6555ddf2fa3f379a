"""`python -m pipeline.bench` (`make bench`): every benchmark, one after another."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pipeline.bench import desk, ingest, llm, podcast, rank, rank_week, render, send

BENCHMARKS: list[Callable[[Sequence[str] | None], int]] = [
    ingest.main,
    llm.main,
    rank.main,
    rank_week.main,
    render.main,
    podcast.main,
    send.main,
    desk.main,
]


def main() -> int:
    status = 0
    for bench in BENCHMARKS:
        status = max(status, bench([]))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
