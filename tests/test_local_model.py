"""The embedded local model (SmolLM2-135M-Instruct GGUF via llama-cpp-python), for real."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.config import LOCAL_MODEL_NAME
from pipeline.llm.base import Completion
from pipeline.llm.local import LocalLlama, gguf_path

pytestmark = pytest.mark.local_model


def test_weights_ship_with_the_package() -> None:
    path = gguf_path()
    assert path.name.endswith(".gguf") and path.stat().st_size > 50_000_000


def test_local_model_completes_a_small_prompt() -> None:
    model = LocalLlama(threads=2, n_ctx=512)

    async def ask() -> Completion:
        try:
            return await model.complete(
                [{"role": "user", "content": "Name one planet of the solar system."}],
                max_tokens=12,
                temperature=0.0,
            )
        finally:
            await model.aclose()

    out = asyncio.run(ask())
    assert model.name == LOCAL_MODEL_NAME
    assert out.text.strip()
    assert out.input_tokens > 5 and 0 < out.output_tokens <= 12
