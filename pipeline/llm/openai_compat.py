"""Any OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM, LM Studio, llama.cpp server).

One attempt per `complete` (the client's own retries are off): the caller's RetryPolicy
decides, so every attempt is logged and Retry-After is honoured.

Structured output: a `response_format` is sent as given. An endpoint that refuses it (see
`refuses_response_format`) is asked again at once without it, within the same attempt, and
this model object asks in free text from then on: the refusal is not the job's failure.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, Unpack

import openai

from pipeline.backoff import retry_after_seconds
from pipeline.errors import (
    LLMConfigError,
    LLMContentFiltered,
    LLMError,
    LLMTransient,
    LLMUnreachable,
)
from pipeline.llm.base import Ask, Completion, Message

log = logging.getLogger(__name__)

_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_NAMES_RESPONSE_FORMAT = re.compile(r"response_format|json_schema", re.IGNORECASE)
_CONTENT_FILTER_CODES = {"content_filter", "content_policy_violation", "invalid_prompt"}


class OpenAIChat:
    def __init__(self, client: openai.AsyncOpenAI, model: str) -> None:
        self.client = client
        self.name = model
        self.structured = True  # False once the endpoint refused a response_format

    async def aclose(self) -> None:
        await self.client.close()

    async def complete(self, messages: list[Message], **ask: Unpack[Ask]) -> Completion:
        max_tokens, temperature = ask["max_tokens"], ask["temperature"]
        response_format = ask.get("response_format")
        try:
            if response_format is not None and self.structured:
                try:
                    return await self._create(messages, max_tokens, temperature, response_format)
                except openai.APIStatusError as exc:
                    if not refuses_response_format(exc):
                        raise
                    self._refused(exc)
            return await self._create(messages, max_tokens, temperature, None)
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            raise translate(exc, self.client, self.name) from None

    def _refused(self, exc: openai.APIStatusError) -> None:
        if self.structured:  # concurrent calls may all be refused: say it once
            self.structured = False
            log.info(
                "the LLM endpoint %s does not take response_format for %s (HTTP %s): asking "
                "in free text instead",
                self.client.base_url,
                self.name,
                exc.status_code,
            )

    async def _create(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        response_format: Mapping[str, Any] | None,
    ) -> Completion:
        extra: dict[str, Any] = {}
        if response_format is not None:
            extra["response_format"] = dict(response_format)
        resp = await self.client.chat.completions.create(
            model=self.name,
            messages=[{"role": m["role"], "content": m["content"]} for m in messages],  # type: ignore[misc]
            max_tokens=max_tokens,
            temperature=temperature,
            **extra,
        )
        if not resp.choices:
            raise LLMError("the LLM endpoint returned no choices")
        choice = resp.choices[0]
        usage = resp.usage
        return Completion(
            text=choice.message.content or "",
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            finish_reason=choice.finish_reason or "stop",
        )


def refuses_response_format(exc: openai.APIStatusError) -> bool:
    """Whether an error answers "I do not take this response_format".

    That is an HTTP 400 or 422 (a request the server will not accept) or a 5xx (older
    llama.cpp and llama-cpp-python servers answer 500 'response_format type must be one of
    "text" or "json_object"') whose error names `response_format` or `json_schema`: in its
    message, its body, or its `param`, as OpenAI's "Invalid parameter: 'response_format' of
    type 'json_schema' is not supported with this model" does. Auth, unknown-model and rate
    errors never are. A server that ignores the field (old Ollama) answers 200 in free text;
    the caller's checks handle that reply."""
    status = exc.status_code
    if status not in (400, 422) and status < 500:
        return False
    said = f"{exc.message} {exc.param or ''} {json.dumps(exc.body, default=str)}"
    return bool(_NAMES_RESPONSE_FORMAT.search(said))


def translate(exc: Exception, client: openai.AsyncOpenAI | openai.OpenAI, model: str) -> LLMError:
    """An `openai` exception as one of ours; anything unexpected is returned unchanged."""
    where = str(client.base_url)
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return LLMConfigError(
            f"the LLM endpoint {where} refused the API key (HTTP {exc.status_code}); "
            "set OPENAI_API_KEY"
        )
    if isinstance(exc, openai.NotFoundError):
        return LLMConfigError(
            f"the LLM endpoint {where} does not know model {model!r}; set NEWSLETTER_LLM_MODEL"
        )
    if isinstance(exc, openai.APITimeoutError):
        return LLMTransient(f"the LLM call timed out after {client.timeout} s")
    if isinstance(exc, openai.APIConnectionError):
        # openai 3 sends through `httpx2`, older releases through `httpx`: match by name.
        if type(exc.__cause__).__name__ == "ConnectError":
            return LLMUnreachable(
                f"cannot reach the LLM endpoint {where} ({exc.__cause__}); is the server "
                "running? Check NEWSLETTER_LLM_BASE_URL"
            )
        return LLMTransient(f"connection to the LLM endpoint dropped ({exc})")
    if isinstance(exc, openai.APIStatusError):
        if _content_filtered(exc):
            return LLMContentFiltered(
                f"the LLM endpoint's content filter refused this text (HTTP {exc.status_code}): "
                f"{exc.message}"
            )
        if exc.status_code in _TRANSIENT_STATUS:
            return LLMTransient(f"HTTP {exc.status_code}", _retry_after(exc.response))
        return LLMError(f"LLM call failed with HTTP {exc.status_code}: {exc.message}")
    if isinstance(exc, json.JSONDecodeError):
        return LLMTransient("the LLM endpoint answered with invalid JSON")
    return LLMError(f"LLM call failed: {exc}")


def _retry_after(response: object) -> float | None:
    headers = getattr(response, "headers", None)
    return retry_after_seconds(headers.get("retry-after") if headers is not None else None)


def _content_filtered(exc: openai.APIStatusError) -> bool:
    """Azure's 400 `content_filter`, OpenAI's 400 `invalid_prompt` (flagged by its usage
    policy) and the like: a verdict on this text, which the same request gets again."""
    if exc.status_code != 400:
        return False
    return exc.code in _CONTENT_FILTER_CODES or "content_filter" in (exc.message or "")
