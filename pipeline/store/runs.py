"""The run log: one `Run` row per stage execution; the fetch watermark."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from pipeline.clock import utcnow
from pipeline.store.db import locked_transaction, session
from pipeline.store.models import FetchState, Run


def start_run(engine: Engine, stage: str, week: str | None = None) -> int:
    with session(engine) as s:
        run = Run(stage=stage, week=week, started=utcnow())
        s.add(run)
        s.flush()
        assert run.id is not None
        return run.id


def finish_run(
    engine: Engine,
    run_id: int,
    *,
    status: str,
    counts: dict[str, Any] | None = None,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cost_usd: float = 0.0,
    error: str | None = None,
) -> None:
    with session(engine) as s:
        run = s.get(Run, run_id)
        if run is None:
            raise LookupError(f"no run {run_id}")
        run.finished = utcnow()
        run.status = status
        run.counts = dict(counts or {})
        run.input_tokens = input_tokens
        run.output_tokens = output_tokens
        run.cost_usd = cost_usd
        run.error = error
        s.add(run)


def recent_runs(engine: Engine, limit: int = 20) -> list[Run]:
    with session(engine) as s:
        return list(s.exec(select(Run).order_by(Run.id.desc()).limit(limit)))  # type: ignore[union-attr]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def get_watermark(engine: Engine, query: str) -> datetime | None:
    with session(engine) as s:
        state = s.get(FetchState, query)
        return _aware(state.until) if state else None


def advance_watermark(engine: Engine, query: str, since: datetime, until: datetime) -> None:
    """Move the watermark to `until` if [since, until) joins on to what is already covered."""

    def work(s: Session) -> None:
        state = s.get(FetchState, query, with_for_update=True)
        if state is None:
            s.add(FetchState(query=query, until=until, updated_at=utcnow()))
        elif since <= _aware(state.until) < until:
            state.until = until
            state.updated_at = utcnow()
            s.add(state)

    locked_transaction(engine, work)
