"""The CLI end to end: real local arXiv and OpenAI-compatible servers, SQLite in a temp dir."""

from __future__ import annotations

import importlib
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, col, select
from typer.main import get_command
from typer.testing import CliRunner

from pipeline.cli import app, main
from pipeline.devservers.arxiv_api import ArxivAPIServer
from pipeline.devservers.openai_api import (
    ChatRequest,
    OpenAIServer,
    default_responder,
    requested_schema,
)
from pipeline.store.db import open_database
from pipeline.store.models import IssueItem, LLMCall, Paper, Run, SummaryFailure
from tests.helpers import cli_database_url, invoke

WEEK = "2026-W25"
NEWSLETTER = Path("out/issues/2026-W25/newsletter.md")


def test_the_console_script_resolves_and_every_command_is_registered() -> None:
    """`newsletter` is `pipeline.cli:main`, and the app has every command group, registered
    in the one list `pipeline.cli.GROUPS`, not by the side effect of an import."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    module, _, name = pyproject["project"]["scripts"]["newsletter"].partition(":")
    assert getattr(importlib.import_module(module), name) is main
    group = get_command(app)
    assert sorted(group.commands) == sorted(  # type: ignore[attr-defined]
        [
            "run",
            "demo",
            "fetch",
            "rank",
            "summarize",
            "render",
            "regenerate",
            "send",
            "subscribers",
            "feedback",
            "serve",
            "schedule",
            "status",
            "pin",
            "unpin",
            "drop",
            "restore",
            "edit",
            "approve",
            "export",
            "arxiv-server",
            "rank-csv",
        ]
    )


def test_run_week_end_to_end_then_rerun_adds_nothing(
    env: dict[str, str], openai_server: OpenAIServer
) -> None:
    output = invoke("run", "--week", WEEK)
    # The sample: 45 papers in W25, 4 of them outside the four default categories.
    assert "41 new, 0 updated, 0 unchanged, 0 excluded (1 near-duplicates linked)" in output
    assert "40 candidates, 5 highlights, 30 also this week" in output
    # 5 highlight summaries + 30 one-liners (an endpoint is configured)
    assert "summaries: 35 new, 0 cached, 0 failed (35 calls" in output
    assert openai_server.chat_calls == 35
    first = NEWSLETTER.read_bytes()
    text = first.decode()
    assert text.startswith("# AI paper summaries — week of June 15–21, 2026")
    assert text.count("\n### ") >= 5 and "## Also this week" in text

    again = invoke("run", "--week", WEEK)
    assert "0 new, 0 updated, 41 unchanged, 0 excluded" in again
    assert "summaries: 0 new, 35 cached, 0 failed (0 calls" in again
    assert openai_server.chat_calls == 35  # no new LLM call
    assert NEWSLETTER.read_bytes() == first

    engine = open_database(cli_database_url())
    with Session(engine) as s:
        assert len(s.exec(select(Paper)).all()) == 41
        stages = [r.stage for r in s.exec(select(Run).order_by(col(Run.id))).all()]
        assert len(s.exec(select(LLMCall)).all()) == 35
    assert stages == ["fetch", "rank", "summarize", "render"] * 2


def test_excluded_terms_never_reach_the_newsletter(env: dict[str, str]) -> None:
    output = invoke(
        "--set", "exclude_terms=protein", "--set", "also_this_week=100", "run", "--week", WEEK
    )
    assert "41 new" in output and "excluded" in output
    engine = open_database(cli_database_url())
    with Session(engine) as s:
        excluded = s.exec(select(Paper).where(col(Paper.excluded_reason).is_not(None))).all()
        placed = set(s.exec(select(IssueItem.paper_id)).all())
    assert excluded and all(p.excluded_reason == "matches exclude term 'protein'" for p in excluded)
    text = NEWSLETTER.read_text().lower()
    assert "protein" not in text
    assert not placed & {p.id for p in excluded}


def test_steps_one_by_one(env: dict[str, str], openai_server: OpenAIServer) -> None:
    assert "41 new" in invoke("fetch", "--week", WEEK)
    assert "40 candidates" in invoke("rank", "--week", WEEK)
    assert "35 new, 0 cached" in invoke("summarize", "--week", WEEK)
    assert "newsletter.md" in invoke("render", "--week", WEEK)
    calls = openai_server.chat_calls
    invoke("render", "--week", WEEK)
    assert openai_server.chat_calls == calls
    assert "fetch" in invoke("status")


def test_fetch_since_until(env: dict[str, str]) -> None:
    out = invoke("fetch", "--since", "2026-06-15", "--until", "2026-06-17")
    assert "fetched 2026-06-15 00:00 .. 2026-06-17 00:00 UTC" in out
    assert "0 updated" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--week", "2026-25"], "bad week '2026-25'"),
        (["run", "--week", "2026-W54"], "has no ISO week 54"),
        (["fetch", "--since", "2026-06-15"], "--since and --until go together"),
        (["fetch", "--since", "yesterday", "--until", "2026-06-17"], "bad --since"),
        (["fetch", "--week", WEEK, "--since", "2026-06-15"], "either --week or --since"),
        (["--set", "highlights", "run"], "--set needs KEY=VALUE"),
        (["--set", "colour=blue", "run"], "unknown setting 'colour'"),
        (["render", "--week", "2026-W10"], "no issue 2026-W10 yet"),
    ],
)
def test_user_errors_are_one_line(env: dict[str, str], args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_unreachable_arxiv_says_so_and_points_to_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_ARXIV_URL", "http://127.0.0.1:9/api/query")
    monkeypatch.setenv("NEWSLETTER_ARXIV_DELAY_SECONDS", "0")
    monkeypatch.setenv("NEWSLETTER_ARXIV_RETRIES", "0")
    result = CliRunner().invoke(app, ["run"], catch_exceptions=False)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the arXiv API" in lines[0]
    assert "make demo" in lines[0]


def test_demo_runs_offline(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_LLM_BASE_URL", openai_server.base_url)
    out = invoke("demo")
    assert "serving 48 sample papers" in out
    for name in ("newsletter.md", "newsletter.html", "newsletter.txt", "podcast.md", "issue.json"):
        assert Path("out/demo/issues/2026-W25", name).is_file()
    assert Path("out/demo/site/index.html").is_file()


def test_every_command_has_help() -> None:
    group = get_command(app)
    assert hasattr(group, "commands")
    commands = group.commands
    assert {"run", "fetch", "rank", "summarize", "render", "demo", "status"} <= set(commands)
    for name, command in commands.items():
        assert command.help, f"{name} has no help text"
        assert "Usage" in invoke(name, "--help")


def test_dry_run_prints_the_estimate_and_sends_nothing(
    env: dict[str, str], openai_server: OpenAIServer
) -> None:
    out = invoke("--set", "llm_model=gpt-4o-mini", "run", "--week", WEEK, "--dry-run")
    assert "41 new" in out and "40 candidates" in out
    assert "dry run, 2026-W25: 35 LLM calls to gpt-4o-mini (0 cached)" in out
    assert "nothing was sent" in out and "cost at most $0.0" in out
    assert openai_server.chat_calls == 0
    assert not NEWSLETTER.exists()
    out = invoke("summarize", "--week", WEEK, "--dry-run")
    assert "35 LLM calls to test-model" in out and "unknown (no price" in out


def test_budget_stops_calls_and_papers_fall_back(
    env: dict[str, str], openai_server: OpenAIServer
) -> None:
    prices = '--set=llm_prices={"test-model": [1000, 1000]}'
    out = invoke(prices, "run", "--week", WEEK, "--budget", "0.5", code=3)  # partial
    assert "over budget" in out
    made = int(out.split("summaries: ")[1].split(" new")[0])
    assert 0 < made < 35 and openai_server.chat_calls == made
    engine = open_database(cli_database_url())
    with Session(engine) as s:
        run = s.exec(select(Run).where(Run.stage == "summarize")).one()
    assert run.status == "partial" and 0 < run.cost_usd <= 0.5
    assert run.counts["over_budget"] == 35 - made


def test_changed_exclude_terms_apply_at_rank_time(env: dict[str, str]) -> None:
    invoke("fetch", "--week", WEEK)
    invoke("--set", "exclude_terms=protein", "--set", "also_this_week=100", "rank", "--week", WEEK)
    engine = open_database(cli_database_url())
    with Session(engine) as s:
        excluded = {
            p.id for p in s.exec(select(Paper).where(col(Paper.excluded_reason).is_not(None)))
        }
        placed = set(s.exec(select(IssueItem.paper_id)).all())
    assert excluded and not placed & excluded
    invoke("--set", "also_this_week=100", "rank", "--week", WEEK)  # terms removed again
    with Session(engine) as s:
        still = s.exec(select(Paper).where(col(Paper.excluded_reason).is_not(None))).all()
        placed = set(s.exec(select(IssueItem.paper_id)).all())
    assert not still and excluded <= placed


@pytest.mark.local_model
def test_rank_csv_contract(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text(
        "id,title,date,added,week,downloaded,kept,manual,label\n"
        "2410.01230,Diffusion models for protein design,2024-10-01,2024-10-02,2024-09-30,1,1,0,1\n"
        "2410.01231,A survey of soil chemistry,2024-10-01,2024-10-02,2024-09-30,0,0,0,0\n"
        "2410.01232,Score-based diffusion for molecules,2024-10-01,2024-10-02,2024-09-30,1,0,0,1\n"
        "2410.01233,Tax law and accounting rules,2024-10-01,2024-10-02,2024-09-30,0,0,0,0\n"
    )
    cands = tmp_path / "cands.csv"
    cands.write_text(
        "id,title,date,added,week\n"
        "2410.02000,Diffusion models generate protein backbones,2024-10-08,2024-10-09,2024-10-07\n"
        "2410.02001,Accounting standards for small firms,2024-10-08,2024-10-09,2024-10-07\n"
    )
    out = tmp_path / "out.csv"
    invoke("rank-csv", str(train), str(cands), str(out), "--cache-dir", str(tmp_path / "c"))
    lines = out.read_text().splitlines()
    assert lines[0] == "id,score" and len(lines) == 3
    scores = {row.split(",")[0]: float(row.split(",")[1]) for row in lines[1:]}
    assert scores["2410.02000"] > scores["2410.02001"]


def test_llm_rating_pass_reorders_the_top(
    arxiv_server: ArxivAPIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    favourite = "Probabilistic Medium-Range Weather Forecasting"

    def rater(request: ChatRequest) -> str:
        prompt = request.last_user_message
        if "How relevant is this paper" not in prompt:
            return "Reply: a summary that is long enough to pass every check we make here."
        return "10" if favourite in prompt else "1"

    with OpenAIServer(responder=rater) as llm:
        for key, value in {
            "NEWSLETTER_ARXIV_URL": arxiv_server.url,
            "NEWSLETTER_ARXIV_DELAY_SECONDS": "0",
            "NEWSLETTER_LLM_BASE_URL": llm.base_url,
            "NEWSLETTER_EMBEDDING_BASE_URL": llm.base_url,
            "NEWSLETTER_HIGHLIGHTS": "1",
            "NEWSLETTER_DIVERSITY": "1",
            "NEWSLETTER_PODCAST_NARRATION": "off",
        }.items():
            monkeypatch.setenv(key, value)
        invoke("fetch", "--week", WEEK)
        invoke("--set", "rank_llm_top_k=0", "rank", "--week", WEEK)
        assert llm.chat_calls == 0
        engine = open_database(cli_database_url())

        def highlight() -> IssueItem:
            with Session(engine) as s:
                return s.exec(select(IssueItem).where(IssueItem.section == "highlight")).one()

        plain = highlight()
        invoke("--set", "rank_llm_top_k=40", "rank", "--week", WEEK)
        assert llm.chat_calls == 40
        top = highlight()
        with Session(engine) as s:
            assert favourite in s.exec(select(Paper).where(Paper.id == top.paper_id)).one().title
        assert top.paper_id != plain.paper_id
        assert "the LLM rates it 10/10 for your interests" in top.explanation
        with Session(engine) as s:  # the rating pass's tokens are on the rank stage's row
            ranked = s.exec(select(Run).where(Run.stage == "rank").order_by(col(Run.id))).all()
        assert ranked[-1].input_tokens > 0 and ranked[-1].counts["llm_calls"] == 40
        assert ranked[0].input_tokens == 0 and "llm_calls" not in ranked[0].counts
        invoke("--set", "rank_llm_top_k=40", "rank", "--week", WEEK)
        assert llm.chat_calls == 40  # ratings are cached
        dry = invoke("run", "--week", WEEK, "--dry-run")
        assert "dry run" in dry and llm.chat_calls == 40
    engine.dispose()


def test_rerunning_a_finished_week_makes_no_llm_call(
    arxiv_server: ArxivAPIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ratings and texts that came back unusable are stored as failed: a rerun of the week
    (fetch, rank with the rating pass, summarize, render) asks the model nothing."""

    def title(request: ChatRequest) -> str:
        return request.last_user_message.split("Title: ", 1)[1].split("\n", 1)[0]

    def unlucky(request: ChatRequest, every: int) -> bool:
        return sum(title(request).encode()) % every == 0

    def model(request: ChatRequest) -> str:
        if "How relevant is this paper" in request.last_user_message:
            if unlucky(request, 4):
                return "I cannot judge this paper."  # no rating: unusable, twice
            return '{"rating": 6}' if requested_schema(request) else "6"
        if unlucky(request, 5):
            return "Too short."
        return default_responder(request)

    with OpenAIServer(responder=model) as llm:
        for key, value in {
            "NEWSLETTER_ARXIV_URL": arxiv_server.url,
            "NEWSLETTER_ARXIV_DELAY_SECONDS": "0",
            "NEWSLETTER_LLM_BASE_URL": llm.base_url,
            "NEWSLETTER_LLM_MODEL": "test-model",
            "NEWSLETTER_EMBEDDING_BASE_URL": llm.base_url,
            "NEWSLETTER_RANK_LLM_TOP_K": "20",
            "NEWSLETTER_PODCAST_NARRATION": "off",
        }.items():
            monkeypatch.setenv(key, value)
        first = invoke("run", "--week", WEEK, code=3)  # some texts failed: a partial run
        calls = llm.chat_calls
        engine = open_database(cli_database_url())
        with Session(engine) as s:
            stored = s.exec(select(SummaryFailure)).all()
        # 20 ratings (3 unusable) and 35 texts (7 unusable), each unusable one asked twice
        # (which papers are unlucky depends on the ranking: these are its choices)
        assert Counter(f.kind for f in stored) == {"relevance": 3, "oneliner": 6, "summary": 1}
        assert calls == 20 + 3 + 35 + 7
        assert "summaries: 28 new, 0 cached, 7 failed (42 calls" in first
        newsletter = NEWSLETTER.read_bytes()

        again = invoke("run", "--week", WEEK)  # nothing new failed: not partial
        assert llm.chat_calls == calls  # 0 LLM calls
        assert "summaries: 0 new, 28 cached, 0 failed, 7 failed before (0 calls" in again
        assert "7 texts failed in an earlier run and were not asked again" in again
        assert NEWSLETTER.read_bytes() == newsletter
        with Session(engine) as s:
            ranked = s.exec(select(Run).where(Run.stage == "rank").order_by(col(Run.id))).all()
        assert ranked[-1].counts.get("llm_calls", 0) == 0
    engine.dispose()
