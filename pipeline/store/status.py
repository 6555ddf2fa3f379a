"""The reads behind `newsletter status` (`pipeline.ops.status` words them): the newest runs
and issue, the locks, and how far an issue has come."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, func
from sqlmodel import col, select

from pipeline.store.db import session
from pipeline.store.models import Delivery, Issue, IssueItem, Run, RunLock, Subscriber, Summary


@dataclass(frozen=True)
class Overview:
    last_runs: dict[str, Run]  # the newest run of each stage asked for
    locks: list[RunLock]
    newest: Issue | None  # the issue of the latest week


@dataclass(frozen=True)
class IssueCounts:
    items: list[IssueItem]
    summarized: int  # papers among `summarized_of` with a summary
    deliveries: dict[str, int]  # by delivery status
    active_subscribers: int


def overview(engine: Engine, stages: Sequence[str]) -> Overview:
    """One transaction."""
    with session(engine) as s:
        last = {}
        for stage in stages:
            run = s.exec(
                select(Run).where(Run.stage == stage).order_by(col(Run.id).desc()).limit(1)
            ).first()
            if run is not None:
                last[stage] = run
        locks = list(s.exec(select(RunLock)))
        newest = s.exec(select(Issue).order_by(col(Issue.week).desc()).limit(1)).first()
    return Overview(last, locks, newest)


def issue_counts(engine: Engine, week: str, highlight: str) -> IssueCounts:
    """One transaction: the issue's items, how many of its `highlight` items have a summary,
    its deliveries by status, and the active subscribers."""
    with session(engine) as s:
        items = list(s.exec(select(IssueItem).where(IssueItem.issue_week == week)).all())
        ids = [i.paper_id for i in items if i.section == highlight]
        summarized = s.exec(
            select(func.count(func.distinct(Summary.paper_id))).where(
                col(Summary.paper_id).in_(ids), Summary.kind == "summary"
            )
        ).one()
        deliveries = Counter(
            s.exec(select(Delivery.status).where(Delivery.issue_week == week)).all()
        )
        active = s.exec(
            select(func.count()).select_from(Subscriber).where(Subscriber.status == "active")
        ).one()
    return IssueCounts(items, int(summarized), dict(deliveries), int(active))
