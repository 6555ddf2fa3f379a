"""What `newsletter status` reports: the last run of each stage, the schedule, a run in
progress, and how far the newest issue has come (fetched, ranked, summarized, rendered,
sent n of m)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from pipeline.store.issues import ALSO, HIGHLIGHT
from pipeline.store.models import Issue, Run, RunLock
from pipeline.store.status import issue_counts, overview

STAGES = ("fetch", "rank", "summarize", "render", "send")


@dataclass(frozen=True)
class IssueState:
    week: str
    status: str  # ranked | summarized | rendered | sent
    candidates: int
    highlights: int
    also: int
    summarized: int  # highlights with a summary
    deliveries: dict[str, int] = field(default_factory=dict)  # by delivery status
    active_subscribers: int = 0
    # "awaiting approval" | "approved by NAME" | "" (approval = "auto" and none given)
    approval: str = ""


@dataclass(frozen=True)
class Report:
    last_runs: dict[str, Run]  # the newest run of each stage
    locks: list[RunLock]
    issue: IssueState | None


def _approval(issue: Issue, required: bool) -> str:
    if issue.approved_at is not None:
        return f"approved by {issue.approved_by or 'the editor'}"
    return "awaiting approval" if required else ""


def _issue_state(engine: Engine, issue: Issue, approval_required: bool) -> IssueState:
    counts = issue_counts(engine, issue.week, HIGHLIGHT)
    items = counts.items
    return IssueState(
        issue.week,
        issue.status,
        issue.candidates,
        sum(1 for i in items if i.section == HIGHLIGHT),
        sum(1 for i in items if i.section == ALSO),
        counts.summarized,
        counts.deliveries,
        counts.active_subscribers,
        _approval(issue, approval_required),
    )


def report(engine: Engine, *, approval: str = "auto") -> Report:
    """`approval`: the setting; with "required" an unapproved issue shows "awaiting approval"."""
    seen = overview(engine, STAGES)
    newest = seen.newest
    state = _issue_state(engine, newest, approval == "required") if newest else None
    return Report(seen.last_runs, seen.locks, state)


def describe_issue(state: IssueState) -> str:
    """2026-W25: ranked (40 candidates: 5 highlights, 30 more) · summarized 5/5 · sent 41 of 43"""
    steps = [
        f"ranked ({state.candidates} candidates: {state.highlights} highlights, {state.also} more)",
        f"summarized {state.summarized}/{state.highlights}",
    ]
    if state.status in ("rendered", "sent"):
        steps.append("rendered")
    if state.approval:
        steps.append(state.approval)
    sent = state.deliveries.get("sent", 0)
    failed = state.deliveries.get("failed", 0)
    if state.deliveries:
        total = sent + failed + state.deliveries.get("sending", 0)
        target = max(total, state.active_subscribers + failed)
        steps.append(f"sent {sent} of {target}" + (f" ({failed} failed)" if failed else ""))
    else:
        steps.append(f"not sent ({state.active_subscribers} active subscribers)")
    return f"{state.week}: " + " · ".join(steps)


def describe_run(run: Run) -> str:
    took = f"{(run.finished - run.started).total_seconds():.1f}s" if run.finished else "running"
    counts = ", ".join(f"{k} {v}" for k, v in run.counts.items())
    cost = f" ${run.cost_usd:.4f}" if run.cost_usd else ""
    error = f" error: {run.error}" if run.error else ""
    return (
        f"{run.started:%Y-%m-%d %H:%M} {run.stage:<9} {run.week or '-':<8} {run.status:<7} "
        f"{took:>8}  {counts}{cost}{error}"
    )
