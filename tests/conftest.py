"""Shared fixtures: every test runs in its own temp dir with a clean NEWSLETTER_* environment,
and talks to real local servers (arXiv-compatible, OpenAI-compatible, SMTP) on 127.0.0.1.
Plain helpers (a free port, the CLI in-process, the SMTP recorder) are in tests/helpers.py."""

from __future__ import annotations

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
from tests.helpers import Recorder, smtp_env, smtp_server


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
def smtp() -> Iterator[tuple[Controller, Recorder]]:
    """A recording SMTP server on 127.0.0.1."""
    recorder = Recorder()
    with smtp_server(recorder) as controller:
        yield controller, recorder


@pytest.fixture
def mailbox(smtp: tuple[Controller, Recorder], monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """The CLI's `send` settings (secret key, SMTP, From) pointed at the recording server."""
    for key, value in smtp_env(smtp[0].port).items():
        monkeypatch.setenv(key, value)
    return smtp[1]
