"""Cached LLM texts and the log of every model call."""

from __future__ import annotations

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from pipeline.db import session
from pipeline.models import LLMCall, Summary


def find_summary(
    engine: Engine,
    paper_id: str,
    version: int,
    kind: str,
    prompt_hash: str,
    model: str,
    params_hash: str,
) -> Summary | None:
    with session(engine) as s:
        return s.exec(
            select(Summary).where(
                Summary.paper_id == paper_id,
                Summary.version == version,
                Summary.kind == kind,
                Summary.prompt_hash == prompt_hash,
                Summary.model == model,
                Summary.params_hash == params_hash,
            )
        ).first()


def save_summary(engine: Engine, summary: Summary, call: LLMCall, *, replace: bool = False) -> None:
    """Store a summary with its call; a concurrent duplicate keeps the first one.
    `replace`: a text with the same cache key is replaced (in the same transaction)."""
    try:
        with session(engine) as s:
            if replace:
                s.exec(
                    delete(Summary).where(
                        col(Summary.paper_id) == summary.paper_id,
                        col(Summary.version) == summary.version,
                        col(Summary.kind) == summary.kind,
                        col(Summary.prompt_hash) == summary.prompt_hash,
                        col(Summary.model) == summary.model,
                        col(Summary.params_hash) == summary.params_hash,
                    )
                )
            s.add(summary)
            s.add(call)
    except IntegrityError:
        log_call(engine, call)


def log_call(engine: Engine, call: LLMCall) -> None:
    with session(engine) as s:
        s.add(call)
