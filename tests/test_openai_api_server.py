"""The local OpenAI-compatible server, driven through the real openai client on loopback."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from pipeline.devservers.openai_api import (
    ChatRequest,
    Fault,
    OpenAIServer,
    default_responder,
    embedding_vector,
    schema_example,
)

MODEL = "gpt-4o-mini"


def ask(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


@pytest.fixture
def srv() -> Iterator[OpenAIServer]:
    with OpenAIServer(latency_seconds=0.0) as server:
        yield server


@pytest.fixture
def client(srv: OpenAIServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0) as c:
        yield c


def test_base_url_is_loopback(srv: OpenAIServer) -> None:
    assert srv.base_url == f"http://127.0.0.1:{srv.port}/v1"


def test_chat_completion_content_usage_and_recording(
    srv: OpenAIServer, client: openai.OpenAI
) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=ask("Summarize arXiv:2401.00001"))

    expected = default_responder(
        ChatRequest(MODEL, [{"role": "user", "content": "Summarize arXiv:2401.00001"}])
    )
    assert reply.object == "chat.completion"
    assert reply.model == MODEL
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == expected
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == 4  # "Be brief." + "Summarize arXiv:2401.00001"
    assert reply.usage.completion_tokens == len(expected.split())
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert srv.chat_calls == 1
    [(path, body, headers)] = srv.requests
    assert path == "/v1/chat/completions"
    assert body["model"] == MODEL
    assert headers["authorization"] == "Bearer test"


def test_default_replies_tell_prompts_apart(client: openai.OpenAI) -> None:
    def content(text: str) -> str | None:
        reply = client.chat.completions.create(model=MODEL, messages=ask(text))
        return reply.choices[0].message.content

    first, second, again = content("paper A"), content("paper B"), content("paper A")
    assert first != second
    assert first == again
    assert first is not None and "paper A" not in first
    assert first.count(". ") >= 2  # several sentences


def test_stream_assembles_the_same_text_and_reports_usage(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model=MODEL, messages=ask("stream me"))

    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=ask("stream me"),
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert len(chunks) > 5
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage == plain.usage


def test_stream_without_include_usage_has_no_usage(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model=MODEL, messages=ask("x"), stream=True))
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)


def test_enqueued_replies_come_first_in_order(srv: OpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue("first", "second words here")
    srv.enqueue("third")

    def content() -> str | None:
        return (
            client.chat.completions.create(model=MODEL, messages=ask("q"))
            .choices[0]
            .message.content
        )

    assert [content(), content()] == ["first", "second words here"]
    streamed = client.chat.completions.create(model=MODEL, messages=ask("q"), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == "third"
    assert content() == default_responder(ChatRequest(MODEL, [{"role": "user", "content": "q"}]))


def test_responder_sees_model_messages_and_params() -> None:
    seen: list[ChatRequest] = []

    def responder(request: ChatRequest) -> str:
        seen.append(request)
        return f"{request.model} {len(request.messages)} {request.params['temperature']}"

    with (
        OpenAIServer(responder=responder) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0) as client,
    ):
        reply = client.chat.completions.create(
            model="my-model",
            messages=[{"role": "user", "content": [{"type": "text", "text": "parts"}]}],
            temperature=0.25,
            max_tokens=50,
        )

    assert reply.choices[0].message.content == "my-model 1 0.25"
    [request] = seen
    assert request.messages == [{"role": "user", "content": "parts"}]
    assert request.last_user_message == "parts"
    assert request.params["max_tokens"] == 50


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rating": {"type": "integer", "enum": list(range(11))},
        "why": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "score": {"type": "number", "minimum": 1, "maximum": 3},
        "ok": {"type": "boolean"},
    },
    "required": ["rating", "why", "tags", "score", "ok"],
    "additionalProperties": False,
}
JSON_SCHEMA: Any = {  # a ResponseFormat TypedDict to the client
    "type": "json_schema",
    "json_schema": {"name": "r", "schema": SCHEMA, "strict": True},
}


def test_json_schema_response_format_is_honoured(srv: OpenAIServer, client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=ask("rate it"),
        response_format=JSON_SCHEMA,
    )
    value = json.loads(reply.choices[0].message.content or "")
    assert set(value) == set(SCHEMA["properties"])
    assert value["rating"] in range(11) and 1 <= value["score"] <= 3
    assert isinstance(value["why"], str) and isinstance(value["ok"], bool)
    assert isinstance(value["tags"], list) and all(isinstance(t, str) for t in value["tags"])
    body = srv.requests[-1].body
    assert body["response_format"] == JSON_SCHEMA
    prose = client.chat.completions.create(model=MODEL, messages=ask("rate it"))
    assert not (prose.choices[0].message.content or "").startswith("{")


def test_schema_examples_vary_with_the_seed_and_stay_valid() -> None:
    ratings = {schema_example(SCHEMA, seed)["rating"] for seed in range(0, 700, 7)}
    assert len(ratings) > 5 and ratings <= set(range(11))
    assert schema_example({"const": "x"}) == "x"
    assert schema_example({"type": ["null", "integer"], "minimum": 4, "maximum": 4}) == 4


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        (400, openai.BadRequestError, "'response_format' of type 'json_schema' is not supported"),
        (422, openai.UnprocessableEntityError, "'response_format' of type 'json_schema'"),
        (500, openai.InternalServerError, 'must be one of "text" or "json_object"'),
    ],
)
def test_refusing_response_format(
    status: int, error: type[openai.APIStatusError], says: str
) -> None:
    with (
        OpenAIServer(refuse_response_format=status) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0) as client,
    ):
        with pytest.raises(error, match=says) as raised:
            client.chat.completions.create(
                model=MODEL,
                messages=ask("rate it"),
                response_format=JSON_SCHEMA,
            )
        assert raised.value.status_code == status
        assert raised.value.param == (None if status == 500 else "response_format")
        text: Any = {"type": "text"}
        client.chat.completions.create(model=MODEL, messages=ask("x"), response_format=text)
        client.chat.completions.create(model=MODEL, messages=ask("x"))
        srv.refuse_response_format = None  # switched off at run time
        client.chat.completions.create(
            model=MODEL,
            messages=ask("rate it"),
            response_format=JSON_SCHEMA,
        )
        assert srv.chat_calls == 4


def test_embeddings_shape_and_determinism(client: openai.OpenAI) -> None:
    model = "text-embedding-3-small"
    many = client.embeddings.create(model=model, input=["alpha", "beta"])  # base64 on the wire
    floats = client.embeddings.create(model=model, input=["alpha", "beta"], encoding_format="float")
    single = client.embeddings.create(model=model, input="alpha")
    wide = client.embeddings.create(model=model, input="alpha", dimensions=16)

    assert many.object == "list" and many.model == model
    assert [d.index for d in many.data] == [0, 1]
    assert [d.embedding for d in many.data] == [d.embedding for d in floats.data]
    alpha, beta = (d.embedding for d in many.data)
    assert len(alpha) == 8
    assert alpha == single.data[0].embedding == embedding_vector("alpha")
    assert alpha != beta
    assert math.isclose(math.fsum(v * v for v in alpha), 1.0, rel_tol=1e-5)
    assert len(wide.data[0].embedding) == 16
    assert many.usage.prompt_tokens == many.usage.total_tokens == 2


def test_embedding_dimension_is_configurable() -> None:
    with (
        OpenAIServer(embedding_dimensions=3) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0) as client,
    ):
        result = client.embeddings.create(model="e", input="x", encoding_format="float")
    assert result.data[0].embedding == embedding_vector("x", 3)


def test_models_list_and_unknown_model() -> None:
    with (
        OpenAIServer(models=["small-model"]) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0) as client,
    ):
        assert [m.id for m in client.models.list()] == ["small-model"]
        client.chat.completions.create(model="small-model", messages=ask("ok"))
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model="other-model", messages=ask("no"))
    assert caught.value.code == "model_not_found"
    assert "other-model" in caught.value.message


def test_rate_limit_carries_retry_after(srv: OpenAIServer, client: openai.OpenAI) -> None:
    srv.inject(Fault.status(429, retry_after=2))

    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=MODEL, messages=ask("q"))

    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.type == "requests"
    client.chat.completions.create(model=MODEL, messages=ask("q"))  # the fault was used up
    assert srv.chat_calls == 2


@pytest.mark.parametrize(
    ("status_code", "error_class", "code"),
    [
        (401, openai.AuthenticationError, "invalid_api_key"),
        (404, openai.NotFoundError, "model_not_found"),
        (500, openai.InternalServerError, None),
        (503, openai.InternalServerError, None),
    ],
)
def test_status_faults_map_to_openai_errors(
    srv: OpenAIServer,
    client: openai.OpenAI,
    status_code: int,
    error_class: type[openai.APIStatusError],
    code: str | None,
) -> None:
    srv.inject(Fault.status(status_code))

    with pytest.raises(error_class) as caught:
        client.chat.completions.create(model=MODEL, messages=ask("q"))

    assert caught.value.status_code == status_code
    assert caught.value.code == code
    assert isinstance(caught.value.body, dict)
    assert set(caught.value.body) == {"message", "type", "param", "code"}


def test_faults_are_consumed_in_order_by_any_endpoint(
    srv: OpenAIServer, client: openai.OpenAI
) -> None:
    srv.inject(Fault.status(500), Fault.status(401, message="key revoked"))

    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="e", input="x")
    with pytest.raises(openai.AuthenticationError, match="key revoked"):
        client.chat.completions.create(model=MODEL, messages=ask("q"))
    client.chat.completions.create(model=MODEL, messages=ask("q"))

    assert srv.chat_calls == 2
    srv.reset()
    assert srv.chat_calls == 0 and srv.requests == []


def test_timeout_fault(srv: OpenAIServer, client: openai.OpenAI) -> None:
    srv.inject(Fault.timeout(5))
    started = time.monotonic()

    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).chat.completions.create(model=MODEL, messages=ask("q"))

    assert time.monotonic() - started < 2


def test_invalid_json_body(srv: OpenAIServer, client: openai.OpenAI) -> None:
    srv.inject(Fault.invalid_json())
    with pytest.raises(json.JSONDecodeError):  # the client does not wrap this one
        client.chat.completions.create(model=MODEL, messages=ask("q"))


def test_stream_cut_in_the_middle(srv: OpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue("one two three four five six")
    srv.inject(Fault.cut_stream(after_chunks=3))  # the role chunk, "one ", "two "
    received: list[str] = []

    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model=MODEL, messages=ask("q"), stream=True):
            received.append(chunk.choices[0].delta.content or "")

    assert "".join(received) == "one two "


def test_cut_json_body(srv: OpenAIServer, client: openai.OpenAI) -> None:
    srv.inject(Fault.cut_stream())
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model=MODEL, messages=ask("q"))


def test_concurrent_async_calls_are_not_serialized() -> None:
    async def run(base_url: str) -> tuple[float, set[str | None]]:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="test", max_retries=0) as client:
            started = time.monotonic()
            replies = await asyncio.gather(
                *(
                    client.chat.completions.create(model=MODEL, messages=ask(f"q{i}"))
                    for i in range(16)
                )
            )
            return time.monotonic() - started, {r.choices[0].message.content for r in replies}

    with OpenAIServer(latency_seconds=0.3) as srv:
        elapsed, contents = asyncio.run(run(srv.base_url))

    assert elapsed < 2.0  # serialized, it would take 16 x 0.3 s = 4.8 s
    assert len(contents) == 16
    assert srv.chat_calls == 16


def test_async_client_sees_faults() -> None:
    async def run(base_url: str) -> None:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="test", max_retries=0) as client:
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(model=MODEL, messages=ask("q"))

    with OpenAIServer() as srv:
        srv.inject(Fault.status(429, retry_after=1))
        asyncio.run(run(srv.base_url))


def test_module_serves_in_the_foreground_until_interrupted() -> None:
    command = [sys.executable, "-m", "pipeline.devservers.openai_api", "--port", "0"]
    root = Path(__file__).resolve().parents[1]
    with subprocess.Popen(command, cwd=root, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        base_url = next(word for word in line.split() if word.startswith("http://127.0.0.1:"))
        with openai.OpenAI(base_url=base_url, api_key="test", max_retries=0) as client:
            assert [m.id for m in client.models.list()]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
