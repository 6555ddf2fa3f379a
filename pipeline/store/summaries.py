"""Cached LLM texts, stored failures to write one, and the log of every model call."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from pipeline.store.db import session
from pipeline.store.models import LLMCall, Summary, SummaryFailure

Row = TypeVar("Row", Summary, SummaryFailure)


def _key(table: type[Summary] | type[SummaryFailure], row: Summary | SummaryFailure) -> Any:
    """The WHERE clause matching `row`'s cache key in `table`."""
    return (
        (col(table.paper_id) == row.paper_id)
        & (col(table.version) == row.version)
        & (col(table.kind) == row.kind)
        & (col(table.prompt_hash) == row.prompt_hash)
        & (col(table.model) == row.model)
        & (col(table.params_hash) == row.params_hash)
    )


def _find_by_key(
    engine: Engine, table: type[Row], key: tuple[str, int, str, str, str, str]
) -> Row | None:
    paper_id, version, kind, prompt_hash, model, params_hash = key
    with session(engine) as s:
        return s.exec(
            select(table).where(
                col(table.paper_id) == paper_id,
                col(table.version) == version,
                col(table.kind) == kind,
                col(table.prompt_hash) == prompt_hash,
                col(table.model) == model,
                col(table.params_hash) == params_hash,
            )
        ).first()


def find_summary(
    engine: Engine,
    paper_id: str,
    version: int,
    kind: str,
    prompt_hash: str,
    model: str,
    params_hash: str,
) -> Summary | None:
    key = (paper_id, version, kind, prompt_hash, model, params_hash)
    return _find_by_key(engine, Summary, key)


def find_failure(
    engine: Engine,
    paper_id: str,
    version: int,
    kind: str,
    prompt_hash: str,
    model: str,
    params_hash: str,
) -> SummaryFailure | None:
    """The stored failure for this cache key: the model answered, unusably (see models)."""
    key = (paper_id, version, kind, prompt_hash, model, params_hash)
    return _find_by_key(engine, SummaryFailure, key)


def save_summary(engine: Engine, summary: Summary, call: LLMCall, *, replace: bool = False) -> None:
    """Store a summary with its call; a concurrent duplicate keeps the first one.
    `replace`: a text with the same cache key is replaced (in the same transaction).
    A stored failure for the key (a forced retry that now succeeded) is removed."""
    try:
        with session(engine) as s:
            if replace:
                s.exec(delete(Summary).where(_key(Summary, summary)))
            s.exec(delete(SummaryFailure).where(_key(SummaryFailure, summary)))
            s.add(summary)
            s.add(call)
    except IntegrityError:
        log_call(engine, call)


def save_failure(engine: Engine, failure: SummaryFailure) -> None:
    """Store that this key's text could not be written, replacing an older failure; not
    where a text exists (a forced retry that failed keeps the text it had)."""
    try:
        with session(engine) as s:
            if s.exec(select(Summary.id).where(_key(Summary, failure))).first() is not None:
                return
            s.exec(delete(SummaryFailure).where(_key(SummaryFailure, failure)))
            s.add(failure)
    except IntegrityError:  # a concurrent run stored the same failure first
        pass


def log_call(engine: Engine, call: LLMCall) -> None:
    with session(engine) as s:
        s.add(call)


def summaries_of_kind(engine: Engine, kind: str) -> list[Summary]:
    with session(engine) as s:
        return list(s.exec(select(Summary).where(Summary.kind == kind)).all())


def papers_with_error(engine: Engine, fragment: str) -> set[str]:
    """The papers with a logged call whose error contains `fragment`."""
    with session(engine) as s:
        rows = s.exec(select(LLMCall.paper_id).where(col(LLMCall.error).contains(fragment)))
        return {pid for pid in rows.all() if pid is not None}
