"""Shared fixtures: every test runs in its own temp dir with a clean NEWSLETTER_* environment,
and talks to real local servers (arXiv-compatible, OpenAI-compatible) on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.db import open_database
from pipeline.demo import sample_path
from pipeline.devservers.arxiv_api import ArxivAPIServer, ListingRecord, load_listing
from pipeline.devservers.openai_api import OpenAIServer

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a temp dir; no NEWSLETTER_* / OPENAI_* variable leaks in from the machine."""
    import os

    for name in list(os.environ):
        if name.startswith(("NEWSLETTER_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db' / 'test.sqlite3'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    (Path(db_url.removeprefix("sqlite:///")).parent).mkdir(parents=True, exist_ok=True)
    eng = open_database(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def sample_records() -> list[ListingRecord]:
    return load_listing(sample_path())


@pytest.fixture
def arxiv_server(sample_records: list[ListingRecord]) -> Iterator[ArxivAPIServer]:
    with ArxivAPIServer(sample_records) as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def env(  # the CLI pointed at the local servers
    arxiv_server: ArxivAPIServer, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    values = {
        "NEWSLETTER_ARXIV_URL": arxiv_server.url,
        "NEWSLETTER_ARXIV_DELAY_SECONDS": "0",
        "NEWSLETTER_LLM_BASE_URL": openai_server.base_url,
        "NEWSLETTER_LLM_MODEL": "test-model",
        "NEWSLETTER_EMBEDDING_BASE_URL": openai_server.base_url,
        "NEWSLETTER_RANK_LLM_TOP_K": "0",  # the LLM rating pass has its own test
        "NEWSLETTER_PODCAST_NARRATION": "off",  # so has the podcast narration (test_publish)
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def invoke(*args: str, code: int = 0) -> str:
    """Run the CLI in-process; check its exit code; return what it printed."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


# One paper with everything a parser or renderer can get wrong, written for the tests.
TRICKY = ListingRecord(
    id="hep-th/9901001",
    version=3,
    title='Bounds on $\\alpha<1$ & "Σ-models"\n  for Schrödinger <operators>',
    summary="We show $a<b$ &amp; c>d.\n  Second paragraph — ü, 東京.",
    authors=("Zoë Ångström", "J. O'Brien & Co"),
    categories=("hep-th", "math-ph", "math.MP"),
    primary_category="math-ph",
    comment="12 pages, <b>not bold</b> & 3 figures",
    journal_ref="Phys. Rev. D 59 (1999) 1&2",
    doi="10.1103/PhysRevD.59.123",
    published=datetime(1999, 1, 1, 12, 34, 56, tzinfo=UTC),
    updated=datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC),
    abs="https://arxiv.org/abs/hep-th/9901001",
    pdf="https://arxiv.org/pdf/hep-th/9901001v1",
)


def make_record(
    n: int,
    *,
    day: datetime = datetime(2026, 6, 16, 9, 0, tzinfo=UTC),
    version: int = 1,
    title: str | None = None,
    summary: str | None = None,
    categories: tuple[str, ...] = ("cs.LG",),
    **extra: object,
) -> ListingRecord:
    """A small fixture paper written for the tests."""
    return ListingRecord(
        id=f"2606.{n:05d}",
        version=version,
        title=title or f"Test paper number {n} on gradient methods",
        summary=summary or f"We study problem {n}. We propose a method and report 1.{n} points.",
        authors=(f"Author {n}", "Zoë Müller"),
        categories=categories,
        published=day + timedelta(minutes=n),
        **extra,  # type: ignore[arg-type]
    )


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
