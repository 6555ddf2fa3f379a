"""Text-to-speech engines: espeak-ng offline, or any OpenAI-compatible speech endpoint.

Each engine turns at most ``max_chars`` characters of text into one audio file (WAV) that
ffmpeg reads; `pipeline.podcast.audio` does the chunking and joining.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Protocol, Self

import openai

from pipeline.errors import (
    ConfigError,
    LLMConfigError,
    LLMError,
    LLMTransient,
    LLMUnreachable,
    SpeechError,
)

ESPEAK_MISSING = (
    "espeak-ng is not installed: `sudo apt-get install espeak-ng`, or set [podcast] tts_base_url "
    "to an OpenAI-compatible speech endpoint"
)
OPENAI_MAX_CHARS = 4096  # the API rejects longer input
_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class Speech(Protocol):
    """A TTS engine. ``name`` identifies engine, voice and settings (it keys the audio cache)."""

    name: str
    max_chars: int
    suffix: str

    def synthesize(self, text: str) -> bytes:
        """Audio for ``text`` (at most ``max_chars`` characters) in a container ffmpeg reads."""
        ...


class EspeakSpeech:
    """The espeak-ng binary, run once per chunk; the text goes in on stdin."""

    max_chars = 2000
    suffix = ".wav"

    def __init__(
        self, voice: str = "en-us", words_per_minute: int = 160, binary: str = "espeak-ng"
    ) -> None:
        found = shutil.which(binary)
        if found is None:
            raise ConfigError(ESPEAK_MISSING)
        self.binary = found
        self.voice = voice
        self.words_per_minute = words_per_minute
        self.name = f"espeak-ng:{voice}:{words_per_minute}wpm"

    def synthesize(self, text: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="espeak-") as tmp:
            out = Path(tmp) / "speech.wav"
            argv = [self.binary, "-v", self.voice, "-s", str(self.words_per_minute)]
            argv += ["-b", "1", "-w", str(out), "--stdin"]
            try:
                done = subprocess.run(
                    argv, input=text.encode("utf-8"), capture_output=True, check=False
                )
            except FileNotFoundError:
                raise ConfigError(ESPEAK_MISSING) from None
            stderr = done.stderr.decode("utf-8", "replace")
            if done.returncode != 0:
                raise SpeechError(f"espeak-ng failed (exit {done.returncode}): {_last(stderr)}")
            # espeak-ng exits 0 even when it cannot write the file: check for audio.
            data = out.read_bytes() if out.exists() else b""
        if not data:
            raise SpeechError(f"espeak-ng wrote no audio: {_last(stderr) or 'no error message'}")
        return data


class OpenAISpeech:
    """``/v1/audio/speech`` of OpenAI or a compatible server, through the `openai` client."""

    max_chars = OPENAI_MAX_CHARS
    suffix = ".wav"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str = "tts-1",
        voice: str = "alloy",
        timeout: float = 120,
        retries: int = 3,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.voice = voice
        self.name = f"openai:{model}:{voice}"
        self._api_key = api_key
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key, max_retries=retries, timeout=timeout
        )

    def synthesize(self, text: str) -> bytes:
        try:
            response = self._client.audio.speech.create(
                model=self.model, voice=self.voice, input=text, response_format="wav"
            )
            data = response.read()
        except openai.OpenAIError as exc:
            raise self._translate(exc) from None
        if not data or data.lstrip()[:1] in (b"{", b"<"):
            raise LLMError(f"the speech endpoint {self.base_url} returned no audio")
        return _fix_wav_header(data)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _translate(self, exc: Exception) -> LLMError:
        """An `openai` exception as one of ours, matched by class name; never shows the key."""
        names = {cls.__name__ for cls in type(exc).__mro__}
        where = self.base_url
        status = getattr(exc, "status_code", None)
        detail = self._scrub(_detail(exc))
        if names & {"AuthenticationError", "PermissionDeniedError"}:
            return LLMConfigError(
                f"the speech endpoint {where} refused the API key (HTTP {status}); "
                "check the TTS API key"
            )
        if "NotFoundError" in names:
            return LLMConfigError(
                f"the speech endpoint {where} does not know model {self.model!r} "
                f"or has no /audio/speech (HTTP 404)"
            )
        if "APITimeoutError" in names:
            return LLMTransient(f"the speech call to {where} timed out")
        if "APIConnectionError" in names:
            if type(exc.__cause__).__name__ == "ConnectError":
                return LLMUnreachable(
                    f"cannot reach the speech endpoint {where}; is the server running?"
                )
            return LLMTransient(f"connection to the speech endpoint {where} dropped")
        if isinstance(status, int) and status in _TRANSIENT_STATUS:
            return LLMTransient(f"the speech endpoint {where} answered HTTP {status}: {detail}")
        if isinstance(status, int):
            return LLMError(f"the speech call failed with HTTP {status}: {detail}")
        return LLMError(f"the speech call failed: {detail}")

    def _scrub(self, message: str) -> str:
        message = message.splitlines()[0] if message else ""
        return message.replace(self._api_key, "***") if self._api_key else message


def _fix_wav_header(data: bytes) -> bytes:
    """A WAV with sizes that match its data (streamed WAVs say 0xFFFFFFFF); other audio as is."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return data
    try:
        with wave.open(io.BytesIO(data), "rb") as src:
            params = src.getparams()
            frames = src.readframes(src.getnframes())
    except (wave.Error, EOFError):
        return data
    out = io.BytesIO()
    with wave.open(out, "wb") as dst:
        dst.setnchannels(params.nchannels)
        dst.setsampwidth(params.sampwidth)
        dst.setframerate(params.framerate)
        dst.writeframes(frames)
    return out.getvalue()


def _detail(exc: Exception) -> str:
    """The server's own error message when it sent one, else the exception's text."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return re.sub(r"^Error code: \d+ - ", "", str(getattr(exc, "message", None) or exc))


def _last(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""
