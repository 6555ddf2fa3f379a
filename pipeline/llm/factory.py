"""Choose the chat model from settings: an endpoint when configured, else the local model."""

from __future__ import annotations

import os

import openai

from pipeline.config import Settings
from pipeline.llm.base import ChatModel, Embedder
from pipeline.llm.embed_local import LocalMiniLM
from pipeline.llm.embed_openai import OpenAIEmbedder
from pipeline.llm.local import embedded_chat
from pipeline.llm.openai_compat import OpenAIChat


def chat_model(settings: Settings) -> ChatModel:
    if settings.uses_local_model:
        return embedded_chat(
            settings.llm_local_model_file, settings.llm_threads, settings.llm_timeout_seconds
        )
    client = openai.AsyncOpenAI(
        base_url=settings.llm_base_url,
        # Local servers (Ollama, vLLM, llama.cpp) accept any key; OpenAI needs a real one.
        api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
        timeout=settings.llm_timeout_seconds,
        max_retries=0,  # our RetryPolicy retries, so every attempt is logged
    )
    return OpenAIChat(client, settings.llm_model)


def embedder(settings: Settings) -> Embedder:
    """An OpenAI-compatible embeddings endpoint when configured, else local MiniLM (lazy)."""
    if not settings.embedding_base_url:
        return LocalMiniLM()
    client = openai.OpenAI(
        base_url=settings.embedding_base_url,
        api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
        timeout=settings.llm_timeout_seconds,
        max_retries=3,  # the client retries 408/409/429/5xx and dropped connections
    )
    return OpenAIEmbedder(client, settings.embedding_model)
