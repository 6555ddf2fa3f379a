"""Every client built from settings, in one place, and checked before the long stages.

`pipeline_for(settings)` gives the stages their shared clients (the database, the arXiv
source, the full-text fetcher, the chat model, the embedder, the speech engine, progress
bars), built once and closed at the end: the CLI and the scheduled job both use it.
`chat_model`, `embedder` and `speech_for` take an endpoint when one is configured, else
the embedded default (for speech, `podcast_tts` may also name the engine: `speech_engine`).

Checks before the long stages (`check_llm`, `check_smtp`): a wrong API key or an endpoint
that cannot be reached stops the command with one line (exit 1) before anything is fetched;
with `--send`, so does an SMTP server that refuses the login. The embedded model's weights
are only looked at here (size, not hash): without them the run still makes the issue, with
abstracts, and says so.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import openai
from rich.console import Console

from pipeline import runner
from pipeline.config import Settings
from pipeline.env import openai_api_key
from pipeline.errors import ConfigError, LLMConfigError, LLMError
from pipeline.fetch.arxiv import ArxivSource
from pipeline.fetch.fulltext import FullTextFetcher
from pipeline.llm import weights
from pipeline.llm.base import ChatModel, Embedder
from pipeline.llm.embed_local import LocalMiniLM
from pipeline.llm.embed_openai import OpenAIEmbedder
from pipeline.llm.local import SETUP_HINT, embedded_chat
from pipeline.llm.openai_compat import OpenAIChat, translate
from pipeline.ops.progress import Bars, Reporter
from pipeline.podcast import voices
from pipeline.podcast.speech import EspeakSpeech, OpenAISpeech, Speech
from pipeline.store.db import open_database

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 15.0


def chat_model(settings: Settings) -> ChatModel:
    """An OpenAI-compatible endpoint when configured, else the embedded local model."""
    if settings.uses_local_model:
        return embedded_chat(
            settings.llm.local_model_file, settings.llm.threads, settings.llm.timeout_seconds
        )
    client = openai.AsyncOpenAI(
        base_url=settings.llm.base_url,
        # Local servers (Ollama, vLLM, llama.cpp) accept any key; OpenAI needs a real one.
        api_key=openai_api_key(),
        timeout=settings.llm.timeout_seconds,
        max_retries=0,  # our RetryPolicy retries, so every attempt is logged
    )
    return OpenAIChat(client, settings.llm.model)


def embedder(settings: Settings) -> Embedder:
    """An OpenAI-compatible embeddings endpoint when configured, else local MiniLM (lazy)."""
    if not settings.embedding.base_url:
        return LocalMiniLM(cache_dir=settings.cache_dir)
    client = openai.OpenAI(
        base_url=settings.embedding.base_url,
        api_key=openai_api_key(),
        timeout=settings.llm.timeout_seconds,
        max_retries=3,  # the client retries 408/409/429/5xx and dropped connections
    )
    return OpenAIEmbedder(client, settings.embedding.model)


def speech_engine(settings: Settings) -> str:
    """The engine `speech_for` builds: the setting, or for "auto" the endpoint when one is
    configured, else the Piper voice when it is installed, else espeak-ng."""
    choice = settings.podcast.tts
    if choice != "auto":
        return choice
    if settings.podcast.tts_base_url:
        return "openai"
    return "piper" if voices.is_installed(voices.known(settings.podcast.piper_voice)) else "espeak"


def speech_for(settings: Settings, api_key: str) -> Speech:
    engine = speech_engine(settings)
    if engine == "piper":
        from pipeline.podcast.piper import PiperSpeech  # ONNX Runtime: only when speaking

        return PiperSpeech(voices.known(settings.podcast.piper_voice))
    if engine == "openai":
        if not settings.podcast.tts_base_url:
            raise ConfigError(
                'podcast_tts = "openai" needs podcast_tts_base_url, an OpenAI-compatible '
                "speech endpoint (e.g. https://api.openai.com/v1)"
            )
        return OpenAISpeech(
            settings.podcast.tts_base_url,
            api_key,
            model=settings.podcast.tts_model,
            voice=settings.podcast.tts_voice,
            timeout=settings.llm.timeout_seconds,
            retries=settings.llm.retries,
        )
    return EspeakSpeech(voice=settings.podcast.espeak_voice)


@contextmanager
def pipeline_for(settings: Settings, progress: Reporter | None = None) -> Iterator[runner.Pipeline]:
    """The stages' shared clients, built once from settings and closed at the end; progress
    bars go to stderr (when it is a terminal) unless `progress` says otherwise."""
    bars = Bars(Console(stderr=True, highlight=False)) if progress is None else progress
    with ExitStack() as stack:
        engine = open_database(settings.database_url)
        stack.callback(engine.dispose)
        http = stack.enter_context(
            httpx.Client(timeout=settings.arxiv.timeout_seconds, follow_redirects=True)
        )

        def source() -> ArxivSource:
            return ArxivSource(
                settings.arxiv.url,
                http=http,
                page_size=settings.arxiv.page_size,
                delay_seconds=settings.arxiv.delay_seconds,
                retries=settings.arxiv.retries,
            )

        def fulltext() -> FullTextFetcher:
            return FullTextFetcher(
                http,
                html_base=settings.fulltext.html_url,
                pdf_base=settings.fulltext.pdf_url,
                cache_dir=settings.cache_dir / "fulltext",
            )

        yield runner.Pipeline(
            settings=settings,
            engine=engine,
            source=source,
            chat=lambda: chat_model(settings),  # each stage closes the model it used
            fulltext=fulltext,
            embedder=functools.cache(lambda: embedder(settings)),
            speech=lambda: speech_for(settings, openai_api_key()),
            progress=bars,
        )


# -- checks before the long stages ----------------------------------------------------------


def check_llm(settings: Settings) -> None:
    """The endpoint answers and takes the key (its model list, or a one-token call where
    an endpoint lists no models); for the embedded model, the weights are in place."""
    if settings.uses_local_model:
        _check_embedded(settings)
        return
    client = openai.OpenAI(
        base_url=settings.llm.base_url,
        api_key=openai_api_key(),
        timeout=min(CHECK_TIMEOUT_SECONDS, settings.llm.timeout_seconds),
        max_retries=0,
    )
    try:
        try:
            client.models.list()
        except openai.APIStatusError as exc:
            if exc.status_code not in (404, 405, 501):  # lists no models: ask for one token
                raise
            client.chat.completions.create(
                model=settings.llm.model,
                messages=[{"role": "user", "content": "Say OK."}],
                max_tokens=1,
            )
    except openai.OpenAIError as exc:
        raise _fatal(translate(exc, client, settings.llm.model)) from None
    finally:
        client.close()


def check_smtp(settings: Settings) -> None:
    """The From address, the signing key and the SMTP login, before anything is built."""
    from pipeline.mail import smtp
    from pipeline.mail.tokens import secret_from_env

    smtp.sender_address(settings)
    secret_from_env()
    smtp.close(smtp.connect(settings))


def _fatal(error: LLMError) -> LLMConfigError:
    """Any failure of the check stops the command: nothing long has started yet."""
    if isinstance(error, LLMConfigError):
        return error
    return LLMConfigError(f"{error} (checked before starting; nothing was fetched)")


def _check_embedded(settings: Settings) -> None:
    path = settings.llm.local_model_file or weights.default_path()
    problem = ""
    if not path.is_file() or path.stat().st_size != weights.DEFAULT.size:
        problem = f"the embedded model's weights are not installed at {path}"
    elif importlib.util.find_spec("llama_cpp") is None:
        problem = "llama-cpp-python is not installed"
    if problem:
        log.warning("%s: summaries will be the abstracts; %s", problem, SETUP_HINT)
