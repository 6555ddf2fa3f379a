"""The embedded default model, run out of process as a local OpenAI-compatible server.

`LocalChat` starts the server (pipeline.llm.local_server: llama.cpp with the verified GGUF
weights of pipeline.llm.weights) on a free loopback port at its first call, talks to it
through `OpenAIChat` like any endpoint (same retries, `llm_call` rows and cost), and stops
it on `aclose`. If the server process dies -- a native crash, the OOM killer, a kill --
calls fail with `LLMModelGone`, one line naming the cause, and the stage writes nothing
more with this model: those papers keep their abstracts.

Without the weights (or with weights that fail the SHA-256 check) the same happens at the
first call: the fallback is the abstracts' own text, which cannot invent anything.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Unpack

import httpx
import openai

from pipeline.env import environment
from pipeline.errors import LLMError, LLMModelGone
from pipeline.llm import weights
from pipeline.llm.base import Ask, Completion, Message
from pipeline.llm.local_server import READY_LINE
from pipeline.llm.openai_compat import OpenAIChat
from pipeline.procs import stop_process

HOST = "127.0.0.1"
SETUP_HINT = "run `make setup`, or set NEWSLETTER_LLM_BASE_URL to an OpenAI-compatible endpoint"
ServerCommand = Callable[[int], list[str]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def llama_server_command(model_file: Path, name: str, threads: int) -> ServerCommand:
    def command(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pipeline.llm.local_server",
            "--model",
            str(model_file),
            "--name",
            name,
            "--port",
            str(port),
            "--threads",
            str(threads),
        ]

    return command


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            sig = signal.Signals(-code)
        except ValueError:
            return f"killed by signal {-code}"
        if sig == signal.SIGILL:
            return (
                "killed by SIGILL: llama-cpp-python was compiled for another CPU; "
                "`make setup` builds it for any x86-64-v3 CPU"
            )
        return f"killed by {sig.name}"
    return f"exited with code {code}"


class LocalServer:
    """One server process: `start()` returns its base URL once it answers; `stop()` ends it.

    `command(port)` is the process to run (the seam: tests run a stand-in server). Its
    stderr goes to a temporary file whose last line is quoted when it dies."""

    def __init__(
        self,
        command: ServerCommand,
        *,
        start_timeout: float = 180.0,
        check: Callable[[], None] | None = None,
    ) -> None:
        self._command = command
        self._start_timeout = start_timeout
        self._check = check
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self.base_url = ""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> str:
        if self._proc is not None:
            return self.base_url
        if self._check is not None:
            self._check()
        port = free_port()
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            self._command(port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=environment(PYTHONUNBUFFERED="1"),
        )
        self.base_url = f"http://{HOST}:{port}"
        self._wait_ready()
        return self.base_url

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self.exited(0):
                raise LLMModelGone(f"the local model server did not start: {self.why()}")
            try:
                if httpx.get(f"{self.base_url}/v1/models", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise LLMModelGone(
            f"the local model server did not answer within {self._start_timeout:.0f} s"
        )

    def exited(self, wait_seconds: float) -> bool:
        """Whether the process has ended (waiting up to `wait_seconds` for it to)."""
        if self._proc is None:
            return False
        try:
            self._proc.wait(timeout=wait_seconds) if wait_seconds else self._proc.poll()
        except subprocess.TimeoutExpired:
            return False
        return self._proc.returncode is not None

    def why(self) -> str:
        """How the process ended, with the last line it wrote."""
        code = self._proc.returncode if self._proc is not None else None
        what = describe_exit(code) if code is not None else "running"
        last = self._last_stderr_line()
        return f"{what} ({last})" if last else what

    def _last_stderr_line(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = [ln.strip() for ln in self._stderr.read().decode(errors="replace").splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith(READY_LINE)]
        return lines[-1][:200] if lines else ""

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


class LocalChat:
    """A ChatModel backed by a `LocalServer` it starts on first use and stops on `aclose`."""

    def __init__(self, server: LocalServer, name: str, *, timeout: float = 600.0) -> None:
        self.name = name
        self._server = server
        self._timeout = timeout
        self._chat: OpenAIChat | None = None
        self._starting = asyncio.Lock()
        self._gone: LLMModelGone | None = None

    async def _client(self) -> OpenAIChat:
        async with self._starting:
            if self._gone is not None:
                raise self._gone
            if self._chat is None:
                try:
                    base = await asyncio.to_thread(self._server.start)
                except LLMModelGone as exc:
                    self._gone = exc
                    raise
                client = openai.AsyncOpenAI(
                    base_url=f"{base}/v1", api_key="local", timeout=self._timeout, max_retries=0
                )
                self._chat = OpenAIChat(client, self.name)
            return self._chat

    async def start(self) -> None:
        """Start the server now rather than at the first call."""
        await self._client()

    async def complete(self, messages: list[Message], **ask: Unpack[Ask]) -> Completion:
        chat = await self._client()
        try:
            return await chat.complete(messages, **ask)
        except LLMError:
            if await asyncio.to_thread(self._server.exited, 2.0):
                self._gone = LLMModelGone(f"the local model server stopped: {self._server.why()}")
                raise self._gone from None
            raise

    async def aclose(self) -> None:
        if self._chat is not None:
            await self._chat.aclose()
            self._chat = None
        await asyncio.to_thread(self._server.stop)


# A call the local server has started cannot be cancelled: it runs to its end while a
# retry would wait behind it. So a local call may take this long at least (a busy machine).
LOCAL_MIN_TIMEOUT_SECONDS = 900.0


def embedded_chat(model_file: Path | None, threads: int, timeout: float) -> LocalChat:
    """The embedded default: the pinned weights (checked before the server starts); calls
    time out after `timeout` seconds, but never before LOCAL_MIN_TIMEOUT_SECONDS."""
    timeout = max(timeout, LOCAL_MIN_TIMEOUT_SECONDS)
    path = model_file or weights.default_path()

    def check() -> None:
        try:
            weights.verified(path)
        except weights.WeightsError as exc:
            raise LLMModelGone(f"{exc}; {SETUP_HINT}") from None
        import importlib.util

        if importlib.util.find_spec("llama_cpp") is None:
            raise LLMModelGone(f"llama-cpp-python is not installed; {SETUP_HINT}")

    command = llama_server_command(path, weights.DEFAULT.name, threads or os.cpu_count() or 1)
    return LocalChat(LocalServer(command, check=check), weights.DEFAULT.name, timeout=timeout)
