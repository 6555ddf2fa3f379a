"""Cached LLM texts, stored failures to write one, and the log of every model call."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from pipeline.store.db import session
from pipeline.store.models import LLMCall, Summary, SummaryFailure, TextKey

Row = TypeVar("Row", Summary, SummaryFailure)


def _key(table: type[Summary] | type[SummaryFailure], key: TextKey) -> Any:
    """The WHERE clause matching `key` (a `TextKey`, or a row, which is one) in `table`."""
    return (
        (col(table.paper_id) == key.paper_id)
        & (col(table.version) == key.version)
        & (col(table.kind) == key.kind)
        & (col(table.prompt_hash) == key.prompt_hash)
        & (col(table.model) == key.model)
        & (col(table.params_hash) == key.params_hash)
    )


def _find(engine: Engine, table: type[Row], key: TextKey) -> Row | None:
    with session(engine) as s:
        return s.exec(select(table).where(_key(table, key))).first()


def find_summary(engine: Engine, key: TextKey) -> Summary | None:
    """The stored text for this cache key."""
    return _find(engine, Summary, key)


def find_failure(engine: Engine, key: TextKey) -> SummaryFailure | None:
    """The stored failure for this cache key: the model answered, unusably (see models)."""
    return _find(engine, SummaryFailure, key)


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
