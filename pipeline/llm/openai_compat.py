"""Any OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM, LM Studio, llama.cpp server)."""

from __future__ import annotations

import json

import openai

from pipeline.errors import LLMConfigError, LLMError
from pipeline.llm.base import Completion, Message


class OpenAIChat:
    def __init__(self, client: openai.OpenAI, model: str) -> None:
        self.client = client
        self.name = model

    def close(self) -> None:
        self.client.close()

    def complete(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Completion:
        try:
            resp = self.client.chat.completions.create(
                model=self.name,
                messages=[{"role": m["role"], "content": m["content"]} for m in messages],  # type: ignore[misc]
                max_tokens=max_tokens,
                temperature=temperature,
            )
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise LLMConfigError(
                f"the LLM endpoint {self.client.base_url} refused the API key "
                f"(HTTP {exc.status_code}); set OPENAI_API_KEY"
            ) from None
        except openai.NotFoundError:
            raise LLMConfigError(
                f"the LLM endpoint {self.client.base_url} does not know model {self.name!r}; "
                "set NEWSLETTER_LLM_MODEL"
            ) from None
        except openai.APITimeoutError:
            raise LLMError(f"the LLM call timed out ({self.client.timeout} s)") from None
        except openai.APIConnectionError as exc:
            # The client has already retried: the endpoint is down, so stop the stage.
            raise LLMConfigError(
                f"cannot reach the LLM endpoint {self.client.base_url} ({exc}); is the server "
                "running? Check NEWSLETTER_LLM_BASE_URL"
            ) from None
        except openai.APIStatusError as exc:
            raise LLMError(f"LLM call failed with HTTP {exc.status_code}: {exc.message}") from None
        except json.JSONDecodeError:
            raise LLMError("the LLM endpoint answered with invalid JSON") from None
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
