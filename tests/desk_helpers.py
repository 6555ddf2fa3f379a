"""What the desk's tests share: a week built by the real CLI against the local arXiv and
OpenAI-compatible servers (the `env` fixture), and its database opened."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from pipeline.config import load_settings
from pipeline.store.db import open_database
from tests.helpers import invoke

WEEK = "2026-W25"


@contextmanager
def built_week(week: str = WEEK, *extra: str) -> Iterator[Engine]:
    """`newsletter run --week WEEK` (with `extra` flags), then the database it wrote."""
    invoke(*extra, "run", "--week", week)
    engine = open_database(load_settings().database_url)  # the test's own database
    try:
        yield engine
    finally:
        engine.dispose()


def issue_files(week: str = WEEK) -> dict[str, bytes]:
    """The issue's rendered files by name."""
    directory = Path("out") / "issues" / week
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }
