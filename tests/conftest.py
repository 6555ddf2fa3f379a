"""Shared fixtures: every test runs in its own temp dir with a clean NEWSLETTER_* environment,
and talks to real local servers (arXiv-compatible, OpenAI-compatible, SMTP) on 127.0.0.1.
Plain helpers (a free port, the CLI in-process, the SMTP recorder) are in tests/helpers.py.

The database backend: SQLite files by default; with NEWSLETTER_TEST_DATABASE set to a
PostgreSQL server (`postgresql://postgres@127.0.0.1:5432/`), every test gets a fresh empty
database there (`db_url`, `new_db_url`), also as NEWSLETTER_DATABASE_URL, so the CLI run
in-process or in a child uses it; tests about SQLite itself are marked `sqlite_only`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from pipeline.demo import sample_path
from pipeline.devservers.arxiv_api import ArxivAPIServer, ListingRecord, load_listing
from pipeline.devservers.openai_api import OpenAIServer
from pipeline.store.db import open_database
from tests.helpers import (
    TEST_DATABASE,
    NewDatabase,
    PostgresDatabases,
    Recorder,
    smtp_env,
    smtp_server,
)

BACKEND_URL = os.environ.get(TEST_DATABASE, "") or "sqlite"  # read before `isolated` clears it
ON_POSTGRES = BACKEND_URL != "sqlite"


def pytest_report_header() -> str:
    return f"database backend: {'PostgreSQL' if ON_POSTGRES else 'SQLite'} ({TEST_DATABASE})"


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("sqlite_only")
    if ON_POSTGRES and marker is not None:
        pytest.skip(f"SQLite only: {marker.kwargs.get('reason') or marker.args[0]}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases | None]:
    """The PostgreSQL test databases (None on SQLite): a migrated template made once."""
    if not ON_POSTGRES:
        yield None
        return
    databases = PostgresDatabases(BACKEND_URL)
    yield databases
    databases.close()


@pytest.fixture
def new_db_url(tmp_path: Path, postgres: PostgresDatabases | None) -> Iterator[NewDatabase]:
    """Makes the URL of another fresh database with no rows, dropped at the end of the test:
    on SQLite a file `name`.sqlite3 in db/ of the temp dir (its folder made; the file is made
    and migrated when the database is opened), on PostgreSQL a new database, already
    migrated unless `empty` (then without tables, migrated when opened)."""
    made: list[str] = []

    def make(name: str, *, empty: bool = False) -> str:
        if postgres is None:
            (tmp_path / "db").mkdir(exist_ok=True)
            return f"sqlite:///{tmp_path / 'db' / f'{name}.sqlite3'}"
        made.append(postgres.create(empty=empty))
        return made[-1]

    yield make
    for url in made:
        assert postgres is not None
        postgres.drop(url)


@pytest.fixture
def db_url(new_db_url: NewDatabase) -> str:
    """The test's database: db/newsletter.sqlite3 in the temp dir (the default setting's
    file, since tests run there), or a fresh PostgreSQL database."""
    return new_db_url("newsletter")


@pytest.fixture(autouse=True)
def isolated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Path:
    """Run in a temp dir; no NEWSLETTER_* / OPENAI_* variable leaks in from the machine. On
    PostgreSQL, NEWSLETTER_DATABASE_URL is the test's `db_url` (unless it is marked
    `no_database_env`: a test of the setting itself)."""
    for name in list(os.environ):
        if name.startswith(("NEWSLETTER_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    if ON_POSTGRES and request.node.get_closest_marker("no_database_env") is None:
        monkeypatch.setenv("NEWSLETTER_DATABASE_URL", request.getfixturevalue("db_url"))
    return tmp_path


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
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
def openai_options() -> dict[str, Any]:
    """What `openai_server` is started with: a test module overrides this to change it."""
    return {}


@pytest.fixture
def openai_server(openai_options: dict[str, Any]) -> Iterator[OpenAIServer]:
    with OpenAIServer(**openai_options) as server:
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


@pytest.fixture
def smtp(request: pytest.FixtureRequest) -> Iterator[tuple[Controller, Recorder]]:
    """A recording SMTP server on 127.0.0.1 (offering PIPELINING when the test's indirect
    parameter is true)."""
    recorder = Recorder(pipelining=getattr(request, "param", False))
    with smtp_server(recorder) as controller:
        yield controller, recorder


@pytest.fixture
def mailbox(smtp: tuple[Controller, Recorder], monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """The CLI's `send` settings (secret key, SMTP, From) pointed at the recording server."""
    for key, value in smtp_env(smtp[0].port).items():
        monkeypatch.setenv(key, value)
    return smtp[1]
