"""Replies with a shape (the relevance rating) and stored failures, through the real `openai`
client against the local OpenAI-compatible server."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

import openai
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from pipeline.devservers.openai_api import ChatRequest, Fault, OpenAIServer, requested_schema
from pipeline.llm.cost import PriceTable
from pipeline.llm.openai_compat import OpenAIChat
from pipeline.llm.retry import RetryPolicy
from pipeline.store.models import LLMCall, Paper, Summary, SummaryFailure
from pipeline.summarize import texts as tx
from pipeline.summarize.validate import RATING_FORMAT
from tests import factories
from tests.helpers import openai_chat, stored_rows

PRICES = PriceTable({})
GOOD_SUMMARY = (
    "The paper claims that adaptive sampling matches fixed-budget self-consistency. It stops "
    "sampling once the vote margin is decisive. Accuracy is unchanged while samples drop. A "
    "critique is that the stopping rule assumes independent samples. It implies cheaper tests."
)
Chat = Callable[[], OpenAIChat]


def rater(request: ChatRequest) -> str:
    """A model that writes `{"rating": 7}` when a schema asks for it, else a sentence."""
    if requested_schema(request) is not None:
        return json.dumps({"rating": 7})
    return "I would rate this paper 8 out of 10 for these interests."


@pytest.fixture
def openai_options() -> dict[str, Any]:
    return {"responder": rater}


@pytest.fixture
def server(openai_server: OpenAIServer) -> OpenAIServer:
    return openai_server


@pytest.fixture
def stored(engine: Engine) -> list[Paper]:
    papers = [factories.paper(f"2606.0000{i}", abstract="We study agents.") for i in range(1, 4)]
    return stored_rows(engine, papers)


@pytest.fixture
def chat(server: OpenAIServer) -> Chat:
    """A fresh model per run (each run closes the model it used)."""
    return functools.partial(openai_chat, server.base_url, timeout=600.0)


def options(**kw: object) -> tx.Options:
    base: dict[str, object] = {
        "temperature": 0.0,
        "concurrency": 1,
        "prices": PRICES,
        "retry": RetryPolicy(retries=2, base_seconds=0.0),
    }
    base.update(kw)
    return tx.Options(**base)  # type: ignore[arg-type]


def ratings(papers: list[Paper]) -> list[tx.Job]:
    extra = {"interests": "LLM agents"}
    return [
        tx.make_job(p, tx.RELEVANCE, max_tokens=200, temperature=0.0, extra=extra) for p in papers
    ]


def rate(
    engine: Engine, model: OpenAIChat, papers: list[Paper], **kw: object
) -> tx.SummarizeResult:
    return tx.run_jobs(engine, model, ratings(papers), options(**kw))


def texts(engine: Engine) -> dict[str, str]:
    with Session(engine) as s:
        return {x.paper_id: x.text for x in s.exec(select(Summary)).all()}


def failures(engine: Engine) -> dict[str, str]:
    with Session(engine) as s:
        return {x.paper_id: x.error for x in s.exec(select(SummaryFailure)).all()}


def chat_bodies(server: OpenAIServer) -> list[dict[str, object]]:
    return [r.body for r in server.requests if r.path == "/v1/chat/completions"]


# ----------------------------------------------------------------------------- the schema
def test_ratings_ask_for_the_schema_and_read_the_json(
    engine: Engine, chat: Chat, server: OpenAIServer, stored: list[Paper]
) -> None:
    result = rate(engine, chat(), stored)
    assert (result.made, result.failed, server.chat_calls) == (3, 0, 3)
    assert all(b["response_format"] == RATING_FORMAT for b in chat_bodies(server))
    assert texts(engine) == {p.id: "7" for p in stored}  # from the JSON, not the prose's 8


def test_the_dev_servers_own_schema_answers_are_read(engine: Engine, stored: list[Paper]) -> None:
    with OpenAIServer() as srv:  # the default responder writes a value of the schema
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="t", max_retries=0)
        assert rate(engine, OpenAIChat(client, "m"), stored).made == 3
    assert all(0 <= int(t) <= 10 for t in texts(engine).values()) and len(texts(engine)) == 3


def test_prose_jobs_ask_for_no_shape(engine: Engine, stored: list[Paper]) -> None:
    with OpenAIServer() as srv:  # the default responder
        job = tx.make_job(stored[0], tx.SUMMARY, max_tokens=200, temperature=0.2)
        assert tx.run_jobs(engine, openai_chat(srv.base_url, "m"), [job], options()).made == 1
        assert "response_format" not in srv.requests[-1].body


@pytest.mark.parametrize("status", [400, 422, 500])
def test_an_endpoint_refusing_the_schema_is_asked_in_free_text(
    engine: Engine,
    chat: Chat,
    server: OpenAIServer,
    stored: list[Paper],
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.refuse_response_format = status
    model = chat()
    with caplog.at_level(logging.INFO, logger="pipeline.llm.openai_compat"):
        result = rate(engine, model, stored)
    assert (result.made, result.failed, result.calls) == (3, 0, 3)  # the refusal is no failure
    assert texts(engine) == {p.id: "8" for p in stored}  # read from the free-text answer
    # one refused request, then every call in free text: the model remembers
    assert server.chat_calls == 4 and not model.structured
    assert ["response_format" in b for b in chat_bodies(server)] == [True, False, False, False]
    said = [r.getMessage() for r in caplog.records if "response_format" in r.getMessage()]
    assert len(said) == 1 and f"HTTP {status}" in said[0]
    with Session(engine) as s:
        assert [c.status for c in s.exec(select(LLMCall)).all()] == ["ok"] * 3


def test_other_bad_requests_are_no_refusal_of_the_schema(
    engine: Engine, chat: Chat, server: OpenAIServer, stored: list[Paper]
) -> None:
    server.inject(Fault.status(400, message="This model's maximum context length is 8192."))
    model = chat()
    result = rate(engine, model, stored[:1])
    assert (result.made, result.failed, server.chat_calls) == (0, 1, 1)
    assert model.structured and "context length" in result.failures[0]
    assert failures(engine) == {}  # a request the endpoint would not take: asked again
    assert rate(engine, chat(), stored[:1]).made == 1


# ----------------------------------------------------------------------------- stored failures
def test_an_unusable_answer_is_stored_and_not_asked_again(
    engine: Engine, chat: Chat, server: OpenAIServer, stored: list[Paper]
) -> None:
    server.enqueue("I cannot rate that.", "Still not possible, sorry.")  # no rating, twice
    first = rate(engine, chat(), stored)
    assert (first.made, first.failed, server.chat_calls) == (2, 1, 4)
    assert list(failures(engine)) == [stored[0].id]
    assert "no 0-10 rating" in failures(engine)[stored[0].id]

    again = rate(engine, chat(), stored)
    assert (again.cached, again.known_failed, again.calls, again.failed) == (2, 1, 0, 0)
    assert server.chat_calls == 4  # nothing asked again
    est = tx.estimate(engine, "test-model", ratings(stored), PRICES)
    assert (est.calls, est.cached) == (0, 3)
    assert stored[0].id not in texts(engine)  # no rating: the ranker keeps its own score


def test_a_new_paper_version_is_asked_despite_an_old_failure(
    engine: Engine, chat: Chat, server: OpenAIServer, stored: list[Paper]
) -> None:
    server.enqueue("no", "no")
    rate(engine, chat(), stored[:1])
    bumped = stored[0].model_copy(update={"version": 2})
    assert rate(engine, chat(), [bumped]).made == 1
    assert server.chat_calls == 3


def test_a_content_filter_is_stored_after_one_call(
    engine: Engine, chat: Chat, server: OpenAIServer, stored: list[Paper]
) -> None:
    server.inject(
        Fault.status(
            400,
            code="content_filter",
            message="The response was filtered due to the prompt triggering Azure OpenAI's "
            "content management policy.",
        )
    )
    result = rate(engine, chat(), stored[:1])
    assert (result.failed, server.chat_calls) == (1, 1)
    assert "content filter" in failures(engine)[stored[0].id]
    assert rate(engine, chat(), stored[:1]).known_failed == 1 and server.chat_calls == 1


def test_transient_failures_are_asked_again_next_run(
    engine: Engine, chat: Chat, server: OpenAIServer, stored: list[Paper]
) -> None:
    server.inject(*[Fault.status(500)] * 3)  # 1 call + 2 retries, all 500
    first = rate(engine, chat(), stored[:1])
    assert (first.failed, server.chat_calls) == (1, 3) and failures(engine) == {}
    again = rate(engine, chat(), stored[:1])
    assert (again.made, again.known_failed, server.chat_calls) == (1, 0, 4)


def test_bad_output_then_a_transient_failure_is_not_stored(
    engine: Engine, stored: list[Paper]
) -> None:
    """What decides is the last attempt: an answer once bad, then a 5xx, may yet work."""
    answers = iter(["no rating here"])

    def flaky(request: ChatRequest) -> str:
        reply = next(answers, None)
        if reply is None:
            raise RuntimeError("overloaded")  # the dev server answers 500
        return reply

    with OpenAIServer(responder=flaky) as srv:
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="t", max_retries=0)
        result = rate(engine, OpenAIChat(client, "m"), stored[:1])
        assert (result.failed, srv.chat_calls) == (1, 1 + 3)
    assert failures(engine) == {}


def test_force_asks_again_and_a_success_clears_the_failure(
    engine: Engine, chat: Chat, server: OpenAIServer, stored: list[Paper]
) -> None:
    server.enqueue("nothing", "nothing")
    rate(engine, chat(), stored)
    assert list(failures(engine)) == [stored[0].id]
    forced = rate(engine, chat(), stored, force=True)
    assert (forced.made, forced.known_failed, server.chat_calls) == (3, 0, 4 + 3)
    assert failures(engine) == {} and texts(engine)[stored[0].id] == "7"
    # a forced retry that fails again keeps the text it had, and stores no failure
    server.enqueue("nothing", "nothing")
    again = rate(engine, chat(), stored[:1], force=True)
    assert again.failed == 1 and failures(engine) == {} and texts(engine)[stored[0].id] == "7"


def test_a_failure_stored_for_a_prose_text_is_kept_out_of_the_issue(
    engine: Engine, openai_server: OpenAIServer, stored: list[Paper]
) -> None:
    """Summaries fail the same way: the stored failure is not a text (the abstract shows)."""
    client = openai.AsyncOpenAI(base_url=openai_server.base_url, api_key="t", max_retries=0)
    job = tx.make_job(stored[0], tx.SUMMARY, max_tokens=200, temperature=0.2)
    openai_server.enqueue("Too short.", "Also short.")
    assert tx.run_jobs(engine, OpenAIChat(client, "m"), [job], options()).failed == 1
    assert texts(engine) == {} and list(failures(engine)) == [stored[0].id]
    openai_server.enqueue(GOOD_SUMMARY)
    client = openai.AsyncOpenAI(base_url=openai_server.base_url, api_key="t", max_retries=0)
    forced = tx.run_jobs(engine, OpenAIChat(client, "m"), [job], options(force=True))
    assert forced.made == 1 and failures(engine) == {}
    with Session(engine) as s:
        kinds = s.exec(select(Summary.kind).order_by(col(Summary.id))).all()
    assert kinds == ["summary"]
