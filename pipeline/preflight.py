"""Checks before the long stages: what `run`, `summarize` and `send` will need, in seconds.

A wrong API key or an endpoint that cannot be reached stops the command with one line
(exit 1) before anything is fetched; with `--send`, so does an SMTP server that refuses the
login. The embedded model's weights are only looked at here (size, not hash): without
them the run still makes the issue, with abstracts, and says so.
"""

from __future__ import annotations

import importlib.util
import logging
import os

import openai

from pipeline.config import Settings
from pipeline.errors import LLMConfigError, LLMError
from pipeline.llm import weights
from pipeline.llm.local import SETUP_HINT
from pipeline.llm.openai_compat import translate

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 15.0


def check_llm(settings: Settings) -> None:
    """The endpoint answers and takes the key (its model list, or a one-token call where
    an endpoint lists no models); for the embedded model, the weights are in place."""
    if settings.uses_local_model:
        _check_embedded(settings)
        return
    client = openai.OpenAI(
        base_url=settings.llm_base_url,
        api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
        timeout=min(CHECK_TIMEOUT_SECONDS, settings.llm_timeout_seconds),
        max_retries=0,
    )
    try:
        try:
            client.models.list()
        except openai.APIStatusError as exc:
            if exc.status_code not in (404, 405, 501):  # lists no models: ask for one token
                raise
            client.chat.completions.create(
                model=settings.llm_model,
                messages=[{"role": "user", "content": "Say OK."}],
                max_tokens=1,
            )
    except openai.OpenAIError as exc:
        raise _fatal(translate(exc, client, settings.llm_model)) from None
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
    path = settings.llm_local_model_file or weights.default_path()
    problem = ""
    if not path.is_file() or path.stat().st_size != weights.DEFAULT.size:
        problem = f"the embedded model's weights are not installed at {path}"
    elif importlib.util.find_spec("llama_cpp") is None:
        problem = "llama-cpp-python is not installed"
    if problem:
        log.warning("%s: summaries will be the abstracts; %s", problem, SETUP_HINT)
