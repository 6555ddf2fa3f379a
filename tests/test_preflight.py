"""What `run`, `summarize` and `send` check before the long stages: a wrong key, an endpoint
that cannot be reached or an SMTP server that refuses the login stop the command with one
line before anything is fetched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult
from sqlmodel import select

from pipeline.devservers.arxiv_api import ArxivAPIServer
from pipeline.devservers.openai_api import OpenAIServer
from pipeline.store.db import open_database, session
from pipeline.store.models import Run
from tests.helpers import Recorder, cli_database_url, free_port, invoke, smtp_env, smtp_server

WEEK = "2026-W25"


@pytest.fixture
def keyed() -> Iterator[OpenAIServer]:
    with OpenAIServer(api_key="the-right-key") as server:
        yield server


@pytest.fixture
def keyed_env(
    arxiv_server: ArxivAPIServer, keyed: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> ArxivAPIServer:
    for key, value in {
        "NEWSLETTER_ARXIV_URL": arxiv_server.url,
        "NEWSLETTER_ARXIV_DELAY_SECONDS": "0",
        "NEWSLETTER_LLM_BASE_URL": keyed.base_url,
        "NEWSLETTER_EMBEDDING_BASE_URL": keyed.base_url,
        "OPENAI_API_KEY": "a-wrong-key",
        "NEWSLETTER_PODCAST_NARRATION": "off",
    }.items():
        monkeypatch.setenv(key, value)
    return arxiv_server


def _no_runs() -> bool:
    engine = open_database(cli_database_url())
    try:
        with session(engine) as s:
            return not s.exec(select(Run)).all()
    finally:
        engine.dispose()


def test_a_wrong_key_stops_run_before_anything_is_fetched(
    keyed_env: ArxivAPIServer, keyed: OpenAIServer
) -> None:
    out = invoke("run", "--week", WEEK, code=1)
    assert out.count("\n") == 1 and "refused the API key (HTTP 401)" in out
    assert "set OPENAI_API_KEY" in out and "a-wrong-key" not in out
    assert keyed_env.requests == [] and _no_runs()
    assert [r.path for r in keyed.requests] == ["/v1/models"]


def test_the_right_key_passes_the_check(
    keyed_env: ArxivAPIServer, keyed: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "the-right-key")
    invoke("--set", "rank_llm_top_k=0", "run", "--week", WEEK)
    assert keyed.requests[0].path == "/v1/models" and keyed.chat_calls > 0


def test_summarize_checks_the_endpoint_too(
    keyed_env: ArxivAPIServer, keyed: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "the-right-key")
    invoke("--set", "rank_llm_top_k=0", "fetch", "--week", WEEK)
    invoke("--set", "rank_llm_top_k=0", "rank", "--week", WEEK)
    monkeypatch.setenv("OPENAI_API_KEY", "a-wrong-key")
    keyed.reset()
    out = invoke("summarize", "--week", WEEK, code=1)
    assert "refused the API key" in out and keyed.chat_calls == 0


def test_an_endpoint_nobody_listens_on_is_one_line(
    keyed_env: ArxivAPIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_LLM_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    out = invoke("run", "--week", WEEK, code=1)
    assert out.count("\n") == 1 and "cannot reach the LLM endpoint" in out
    assert keyed_env.requests == []


def test_an_endpoint_without_a_model_list_is_asked_for_one_token(
    keyed_env: ArxivAPIServer, keyed: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.config import load_settings
    from pipeline.devservers.openai_api import Fault
    from pipeline.wiring import check_llm

    monkeypatch.setenv("OPENAI_API_KEY", "the-right-key")
    keyed.inject(Fault.status(404, message="Unknown request URL: GET /v1/models"))
    check_llm(load_settings())
    assert [r.path for r in keyed.requests] == ["/v1/models", "/v1/chat/completions"]
    assert keyed.requests[1].body["max_tokens"] == 1


def _refuse_all(server: object, session: object, envelope: object, *args: object) -> AuthResult:
    return AuthResult(success=False, handled=False)


def test_run_send_checks_the_smtp_login_first(
    keyed_env: ArxivAPIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "the-right-key")
    with smtp_server(Recorder(), authenticator=_refuse_all, auth_require_tls=False) as controller:
        smtp = smtp_env(
            controller.port, NEWSLETTER_SMTP_USER="editor", NEWSLETTER_SMTP_PASSWORD="wrong"
        )
        for key, value in smtp.items():
            monkeypatch.setenv(key, value)
        out = invoke("run", "--week", WEEK, "--send", code=1)
    assert out.count("\n") == 1 and "refused the login of 'editor'" in out
    assert keyed_env.requests == [] and _no_runs()


def test_without_the_embedded_weights_the_issue_is_made_from_abstracts(
    arxiv_server: ArxivAPIServer,
    openai_server: OpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for key, value in {
        "NEWSLETTER_ARXIV_URL": arxiv_server.url,
        "NEWSLETTER_ARXIV_DELAY_SECONDS": "0",
        "NEWSLETTER_EMBEDDING_BASE_URL": openai_server.base_url,  # the LLM stays embedded
        "NEWSLETTER_LLM_LOCAL_MODEL_FILE": str(tmp_path / "absent.gguf"),
    }.items():
        monkeypatch.setenv(key, value)
    out = invoke("run", "--week", WEEK, code=3)
    assert "summaries: 0 new, 0 cached, 5 failed" in out
    assert f"warning: the embedded model's weights are not installed at {tmp_path}" in out
    assert "run `make setup`" in out and openai_server.chat_calls == 0
    issue = json.loads(Path("out/issues/2026-W25/issue.json").read_text())
    highlights = [it for it in issue["items"] if it["section"] == "highlight"]
    assert len(highlights) == 5 and all(it["summary"] is None for it in highlights)
    assert all(it["abstract"] for it in highlights)
