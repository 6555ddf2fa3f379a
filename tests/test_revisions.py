"""New versions of papers highlighted in earlier issues are found for the week they appear."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from pipeline.records import week_window
from pipeline.store.db import session
from pipeline.store.issues import ALSO, HIGHLIGHT, Placement, revised_highlights, save_issue
from pipeline.store.models import Paper
from tests import factories

W24, W25 = week_window("2026-W24"), week_window("2026-W25")


def paper(pid: str, version: int, updated: datetime) -> Paper:
    return factories.paper(pid, version=version, when=W24.since, updated=updated)


def test_revised_highlights(engine: Engine) -> None:
    in_w24 = datetime(2026, 6, 10, tzinfo=UTC)
    in_w25 = datetime(2026, 6, 17, tzinfo=UTC)
    with session(engine) as s:
        s.add(paper("2606.00001", 2, in_w25))  # highlighted as v1, v2 this week: listed
        s.add(paper("2606.00002", 1, in_w24))  # highlighted, no new version
        s.add(paper("2606.00003", 2, in_w25))  # only an also-item before: not listed
        s.add(paper("2606.00004", 3, in_w24))  # new version, but the week before
    save_issue(
        engine,
        "2026-W24",
        [
            Placement("2606.00001", 1, HIGHLIGHT, 0, 0.9, "x"),
            Placement("2606.00002", 1, HIGHLIGHT, 1, 0.8, "x"),
            Placement("2606.00003", 1, ALSO, 0, 0.5, "x"),
            Placement("2606.00004", 2, HIGHLIGHT, 2, 0.7, "x"),
        ],
        created=W24.until,
        candidates=4,
    )
    found = revised_highlights(engine, W25.since, W25.until, "2026-W25")
    assert [(r.paper.id, r.featured_week, r.featured_version) for r in found] == [
        ("2606.00001", "2026-W24", 1)
    ]
    assert revised_highlights(engine, W24.since, W24.until, "2026-W24") == []
