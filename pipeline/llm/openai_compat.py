"""Any OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM, LM Studio, llama.cpp server).

One attempt per `complete` (the client's own retries are off): the caller's RetryPolicy
decides, so every attempt is logged and Retry-After is honoured.
"""

from __future__ import annotations

import json

import openai

from pipeline.backoff import retry_after_seconds
from pipeline.errors import LLMConfigError, LLMError, LLMTransient, LLMUnreachable
from pipeline.llm.base import Completion, Message

_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIChat:
    def __init__(self, client: openai.AsyncOpenAI, model: str) -> None:
        self.client = client
        self.name = model

    async def aclose(self) -> None:
        await self.client.close()

    async def complete(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Completion:
        try:
            resp = await self.client.chat.completions.create(
                model=self.name,
                messages=[{"role": m["role"], "content": m["content"]} for m in messages],  # type: ignore[misc]
                max_tokens=max_tokens,
                temperature=temperature,
            )
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            raise translate(exc, self.client, self.name) from None
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
        if exc.status_code in _TRANSIENT_STATUS:
            return LLMTransient(f"HTTP {exc.status_code}", _retry_after(exc.response))
        return LLMError(f"LLM call failed with HTTP {exc.status_code}: {exc.message}")
    if isinstance(exc, json.JSONDecodeError):
        return LLMTransient("the LLM endpoint answered with invalid JSON")
    return LLMError(f"LLM call failed: {exc}")


def _retry_after(response: object) -> float | None:
    headers = getattr(response, "headers", None)
    return retry_after_seconds(headers.get("retry-after") if headers is not None else None)
