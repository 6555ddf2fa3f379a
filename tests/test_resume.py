"""Kill -9 in the middle of the summarize stage, run it again: nothing finished is repeated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlmodel import Session, col, func, select
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.devservers.arxiv_api import ArxivAPIServer
from pipeline.devservers.openai_api import OpenAIServer
from pipeline.store.db import open_database
from pipeline.store.models import Summary
from tests.helpers import cli_database_url

WEEK = "2026-W25"
TOTAL = 35  # 5 highlight summaries + 30 one-liners


def count(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return int(s.exec(select(func.count(col(Summary.id)))).one())


def test_killed_summarize_resumes_without_repeating(arxiv_server: ArxivAPIServer) -> None:
    with OpenAIServer(latency_seconds=0.25) as llm:
        env = {
            **os.environ,
            "NEWSLETTER_ARXIV_URL": arxiv_server.url,
            "NEWSLETTER_ARXIV_DELAY_SECONDS": "0",
            "NEWSLETTER_LLM_BASE_URL": llm.base_url,
            "NEWSLETTER_LLM_MODEL": "test-model",
            "NEWSLETTER_LLM_CONCURRENCY": "2",
            "NEWSLETTER_EMBEDDING_BASE_URL": llm.base_url,
            "NEWSLETTER_RANK_LLM_TOP_K": "0",
            "NEWSLETTER_PODCAST_NARRATION": "off",
        }
        runner = CliRunner()
        for stage in ("fetch", "rank"):
            result = runner.invoke(app, [stage, "--week", WEEK], env=env, catch_exceptions=False)
            assert result.exit_code == 0, result.output
        engine = open_database(cli_database_url())

        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "summarize", "--week", WEEK],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while count(engine) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done_before = count(engine)
        assert 6 <= done_before < TOTAL
        calls_before = llm.chat_calls

        result = runner.invoke(app, ["summarize", "--week", WEEK], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert f"{TOTAL - done_before} new, {done_before} cached, 0 failed" in result.output
        assert llm.chat_calls - calls_before == TOTAL - done_before
        # at most the calls in flight at the kill (concurrency 2) were paid for twice
        assert llm.chat_calls <= TOTAL + 2
    with Session(engine) as s:
        keys = [(x.paper_id, x.kind) for x in s.exec(select(Summary)).all()]
    assert len(keys) == len(set(keys)) == TOTAL
    engine.dispose()
