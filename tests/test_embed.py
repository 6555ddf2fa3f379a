"""The Embedder seam: an OpenAI-compatible endpoint (the local dev server, through the real
`openai` client on loopback) and the local all-MiniLM-L6-v2 model, for real."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest
from numpy.typing import NDArray

from pipeline.config import load_settings
from pipeline.devservers.openai_api import Fault, OpenAIServer, embedding_vector
from pipeline.errors import ConfigError, LLMConfigError, LLMError
from pipeline.llm.base import Embedder
from pipeline.llm.embed_local import Backend, LocalMiniLM, weights_dir
from pipeline.llm.embed_openai import OpenAIEmbedder
from pipeline.wiring import embedder
from tests.helpers import free_port

MODEL = "text-embedding-3-small"
DIMS = 16


def expected(texts: list[str], dims: int = DIMS) -> NDArray[np.float32]:
    rows = np.asarray([embedding_vector(t, dims) for t in texts], dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def embedding_requests(srv: OpenAIServer) -> list[list[str]]:
    return [r.body["input"] for r in srv.requests if r.path == "/v1/embeddings"]


@pytest.fixture
def srv() -> Iterator[OpenAIServer]:
    with OpenAIServer(embedding_dimensions=DIMS) as server:
        yield server


@pytest.fixture
def client(srv: OpenAIServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0) as c:
        yield c


# -- OpenAI-compatible endpoint ------------------------------------------------------------


def test_vectors_are_the_servers_normalised_in_order(
    srv: OpenAIServer, client: openai.OpenAI
) -> None:
    emb: Embedder = OpenAIEmbedder(client, MODEL)
    texts = ["attention is all you need", "a survey of diffusion models", "ünïcode ✓"]

    vectors = emb.embed(texts)

    assert vectors.dtype == np.float32 and vectors.shape == (3, DIMS)
    np.testing.assert_allclose(vectors, expected(texts), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert emb.name == MODEL and emb.dimensions == DIMS
    assert srv.requests[-1].body["model"] == MODEL


def test_batches_split_requests_and_keep_order(srv: OpenAIServer, client: openai.OpenAI) -> None:
    texts = [f"paper {i}" for i in range(7)]

    vectors = OpenAIEmbedder(client, MODEL, batch_size=3).embed(texts)

    assert embedding_requests(srv) == [texts[0:3], texts[3:6], texts[6:7]]
    np.testing.assert_allclose(vectors, expected(texts), atol=1e-6)


def test_empty_input_makes_no_call(srv: OpenAIServer, client: openai.OpenAI) -> None:
    emb = OpenAIEmbedder(client, MODEL)
    assert emb.embed([]).shape == (0, 0)  # dimensions unknown before the first answer
    emb.embed(["one"])
    empty = emb.embed([])
    assert empty.shape == (0, DIMS) and empty.dtype == np.float32
    assert len(embedding_requests(srv)) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_is_a_config_error(
    srv: OpenAIServer, client: openai.OpenAI, status: int
) -> None:
    srv.inject(Fault.status(status))
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY"):
        OpenAIEmbedder(client, MODEL).embed(["x"])


def test_unknown_model_names_the_setting(client: openai.OpenAI) -> None:
    with OpenAIServer(models=["gpt-4o-mini"]) as only_chat:
        c = client.with_options(base_url=only_chat.base_url)
        with pytest.raises(LLMConfigError, match="NEWSLETTER_EMBEDDING_MODEL"):
            OpenAIEmbedder(c, MODEL).embed(["x"])


def test_server_error_is_an_llm_error(srv: OpenAIServer, client: openai.OpenAI) -> None:
    srv.inject(Fault.status(500))
    with pytest.raises(LLMError, match="HTTP 500") as info:
        OpenAIEmbedder(client, MODEL).embed(["x"])
    assert not isinstance(info.value, LLMConfigError)


def test_the_client_retries_a_transient_error(srv: OpenAIServer, client: openai.OpenAI) -> None:
    srv.inject(Fault.status(503, retry_after=0))
    vectors = OpenAIEmbedder(client.with_options(max_retries=1), MODEL).embed(["x"])
    np.testing.assert_allclose(vectors, expected(["x"]), atol=1e-6)
    assert len(embedding_requests(srv)) == 2


def test_dropped_connection_and_bad_json_are_llm_errors(
    srv: OpenAIServer, client: openai.OpenAI
) -> None:
    emb = OpenAIEmbedder(client, MODEL)
    for fault in (Fault.cut_stream(), Fault.invalid_json()):
        srv.inject(fault)
        with pytest.raises(LLMError) as info:
            emb.embed(["x"])
        assert not isinstance(info.value, LLMConfigError)


def test_unreachable_endpoint_is_a_config_error() -> None:
    port = free_port()  # a port nobody listens on
    with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="t", max_retries=0) as c:
        with pytest.raises(LLMConfigError, match="NEWSLETTER_EMBEDDING_BASE_URL"):
            OpenAIEmbedder(c, MODEL).embed(["x"])


# -- settings and factory ------------------------------------------------------------------


def test_factory_picks_the_endpoint_when_configured(
    srv: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_EMBEDDING_BASE_URL", srv.base_url)
    monkeypatch.setenv("NEWSLETTER_EMBEDDING_MODEL", MODEL)
    emb = embedder(load_settings())
    assert isinstance(emb, OpenAIEmbedder) and emb.name == MODEL
    try:
        np.testing.assert_allclose(emb.embed(["hello"]), expected(["hello"]), atol=1e-6)
    finally:
        emb.close()


def test_factory_defaults_to_local_minilm_without_loading_it() -> None:
    emb = embedder(load_settings())
    assert isinstance(emb, LocalMiniLM)
    assert (emb.name, emb.dimensions) == ("all-MiniLM-L6-v2-128tok", 384)
    assert emb._model is None  # loaded on first use only


def test_embedding_settings_from_toml_and_validated(tmp_path: Path) -> None:
    cfg = tmp_path / "n.toml"
    cfg.write_text('[embedding]\nbase_url = "http://127.0.0.1:1/v1/"\nmodel = "nomic"\n')
    s = load_settings(cfg)
    assert (s.embedding.base_url, s.embedding.model) == ("http://127.0.0.1:1/v1", "nomic")
    with pytest.raises(ConfigError, match="embedding_base_url"):
        load_settings(overrides={"embedding_base_url": "localhost:11434"})


# -- local MiniLM: errors that need no model -----------------------------------------------


def test_missing_weights_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LLMConfigError, match="make setup"):
        weights_dir()


def test_missing_sentence_transformers_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(LLMConfigError, match="make setup"):
        LocalMiniLM(backend="torch").embed(["x"])


def test_missing_onnxruntime_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(LLMConfigError, match="make setup"):
        LocalMiniLM(backend="onnx").embed(["x"])


def test_another_cut_is_another_model_name() -> None:
    assert LocalMiniLM().name == "all-MiniLM-L6-v2-128tok"
    assert LocalMiniLM(max_tokens=256).name == "all-MiniLM-L6-v2"
    assert LocalMiniLM(max_tokens=64).name == "all-MiniLM-L6-v2-64tok"
    with pytest.raises(ValueError, match="max_tokens"):
        LocalMiniLM(max_tokens=512)


def test_empty_input_does_not_load_the_model() -> None:
    emb = LocalMiniLM()
    out = emb.embed([])
    assert out.shape == (0, 384) and out.dtype == np.float32 and emb._model is None


# -- local MiniLM, for real ----------------------------------------------------------------


def _no_network(*args: object, **kwargs: object) -> None:
    raise OSError("network access attempted while loading the local embedding model")


@pytest.fixture(scope="module")
def minilm() -> Iterator[LocalMiniLM]:
    """Loaded once per module, with every outgoing connection and name lookup failing."""
    model = LocalMiniLM()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HF_HUB_OFFLINE", raising=False)
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "getaddrinfo", _no_network)
        model.embed(["warm up"])
        assert os.environ.get("HF_HUB_OFFLINE") == "1"
    yield model
    model.close()


@pytest.mark.local_model
def test_minilm_vectors_are_unit_float32_rows(minilm: LocalMiniLM) -> None:
    texts = [
        "A new method for training large language models.",
        "Graph neural networks for molecules.",
        "We study the convergence of stochastic gradient descent.",
    ]
    vectors = minilm.embed(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Each row is the text's own vector, whatever else is in the batch.
    np.testing.assert_allclose(minilm.embed(texts[1:2])[0], vectors[1], atol=1e-5)


@pytest.mark.local_model
def test_minilm_puts_paraphrases_closer_than_unrelated_text(minilm: LocalMiniLM) -> None:
    a, b, c = minilm.embed(
        [
            "Large language models can be fine-tuned to follow instructions.",
            "Instruction tuning teaches big LLMs to obey user requests.",
            "The recipe needs two cups of flour and a pinch of salt.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.2


@pytest.mark.local_model
def test_minilm_is_safe_to_share_between_threads(minilm: LocalMiniLM) -> None:
    texts = [f"paper {i} about reinforcement learning from human feedback" for i in range(4)]
    sequential = minilm.embed(texts)
    results: dict[int, NDArray[np.float32]] = {}

    def work(i: int) -> None:
        results[i] = minilm.embed(texts[i : i + 1])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(len(texts)):
        np.testing.assert_allclose(results[i][0], sequential[i], atol=1e-5)


@pytest.mark.local_model
def test_an_explicit_hf_hub_offline_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    model = LocalMiniLM()
    try:
        assert model.embed(["x"]).shape == (1, 384)
    finally:
        model.close()
    assert os.environ["HF_HUB_OFFLINE"] == "0"


# -- ONNX Runtime (the default) against sentence-transformers on torch -----------------------

TEXTS = [
    "Large language models: reasoning",
    "Attention Is All You Need. The dominant sequence transduction models are based on complex "
    "recurrent or convolutional neural networks that include an encoder and a decoder. We "
    "propose a new simple network architecture, the Transformer, based solely on attention.",
    "Graph neural networks for molecules.",
    "Überraschend: $O(n \\log n)$ <b>bounds</b> & more",
]


@pytest.mark.local_model
def test_onnx_vectors_match_the_torch_model(tmp_path: Path) -> None:
    onnx = LocalMiniLM(backend="onnx", cache_dir=tmp_path)
    reference = LocalMiniLM(backend="torch")
    try:
        a, b = onnx.embed(TEXTS), reference.embed(TEXTS)
        assert (onnx.backend, reference.backend) == ("onnx", "torch")
    finally:
        onnx.close()
        reference.close()
    assert a.shape == b.shape == (len(TEXTS), 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() >= 0.99


@pytest.mark.local_model
def test_auto_falls_back_to_torch_without_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    model = LocalMiniLM()
    try:
        assert model.embed(TEXTS[:1]).shape == (1, 384) and model.backend == "torch"
    finally:
        model.close()


@pytest.mark.local_model
@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_texts_are_cut_at_max_tokens(backend: Backend, tmp_path: Path) -> None:
    head = " ".join(["transformers"] * 20)
    texts = [f"{head} about graphs", f"{head} about proteins and their folding"]
    short = LocalMiniLM(backend=backend, max_tokens=16, cache_dir=tmp_path)
    full = LocalMiniLM(backend=backend, cache_dir=tmp_path)
    try:
        cut, whole = short.embed(texts), full.embed(texts)
    finally:
        short.close()
        full.close()
    np.testing.assert_allclose(cut[0], cut[1], atol=1e-5)  # the tails are cut off
    assert float(whole[0] @ whole[1]) < 0.999
