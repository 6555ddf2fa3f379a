"""The real week of arXiv listings in ../shared (skipped when absent), end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.devservers.arxiv_api import ArxivAPIServer, load_listing
from pipeline.devservers.openai_api import OpenAIServer
from tests.helpers import SHARED

WEEK_DIR = SHARED / "data" / "arxiv-week"
pytestmark = pytest.mark.skipif(not WEEK_DIR.is_dir(), reason="../shared/data is absent")
CATEGORIES = {"cs.AI", "cs.LG", "cs.CL", "stat.ML"}


def expected_counts() -> tuple[int, int]:
    """Distinct papers and repeated rows among the listing rows in the default categories."""
    rows = [
        json.loads(line)
        for path in sorted(WEEK_DIR.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    matching = [r for r in rows if CATEGORIES & set(r["categories"])]
    distinct = len({r["id"] for r in matching})
    return distinct, len(matching) - distinct


def test_real_week_run_and_rerun(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    distinct, repeats = expected_counts()
    with ArxivAPIServer(load_listing(WEEK_DIR)) as server:
        monkeypatch.setenv("NEWSLETTER_ARXIV_URL", server.url)
        monkeypatch.setenv("NEWSLETTER_ARXIV_DELAY_SECONDS", "0")
        monkeypatch.setenv("NEWSLETTER_LLM_BASE_URL", openai_server.base_url)
        monkeypatch.setenv("NEWSLETTER_EMBEDDING_BASE_URL", openai_server.base_url)
        monkeypatch.setenv("NEWSLETTER_RANK_LLM_TOP_K", "0")
        monkeypatch.setenv("NEWSLETTER_PODCAST_NARRATION", "off")
        runner = CliRunner()
        first = runner.invoke(app, ["run", "--week", "2026-W25"], catch_exceptions=False)
        assert first.exit_code == 0, first.output
        assert f"{distinct} new, 0 updated, {repeats} unchanged, 0 excluded" in first.output
        assert "summaries: 35 new, 0 cached, 0 failed" in first.output
        newsletter = Path("out/issues/2026-W25/newsletter.md").read_bytes()

        again = runner.invoke(app, ["run", "--week", "2026-W25"], catch_exceptions=False)
        assert again.exit_code == 0, again.output
        assert f"0 new, 0 updated, {distinct + repeats} unchanged, 0 excluded" in again.output
        assert "summaries: 0 new, 35 cached, 0 failed" in again.output
    assert openai_server.chat_calls == 35
    assert Path("out/issues/2026-W25/newsletter.md").read_bytes() == newsletter
