"""Helpers several test modules share (fixtures stay in conftest.py): a free port, the CLI run
in-process, a Python child process, a recording SMTP server, a paper with everything a parser
can get wrong."""

from __future__ import annotations

import asyncio
import email
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import openai
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

from pipeline import runner
from pipeline.cli import app
from pipeline.config import Settings
from pipeline.devservers.arxiv_api import ListingRecord
from pipeline.llm.openai_compat import OpenAIChat

SHARED = Path(__file__).resolve().parents[2] / "shared"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (for a server to take, or to be refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends


Row = TypeVar("Row", bound=SQLModel)


def stored_rows(engine: Engine, rows: list[Row]) -> list[Row]:
    """`rows` added to the database in one transaction, still readable after it."""
    with Session(engine, expire_on_commit=False) as s:
        s.add_all(rows)
        s.commit()
    return rows


def openai_chat(base_url: str, model: str = "test-model", timeout: float = 10.0) -> OpenAIChat:
    """A chat model on the real `openai` client against a local server, without retries."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key="test", max_retries=0, timeout=timeout)
    return OpenAIChat(client, model)


@contextmanager
def python_child(
    *args: str, cwd: Path | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python ARGS` in a child process with text pipes; yields it and the first line it
    printed. Killed at the end if it is still running; its pipes are closed."""
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc, proc.stdout.readline()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def invoke(*args: str, code: int = 0) -> str:
    """Run the CLI in-process; check its exit code; return what it printed."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


class Stall:
    """RCPT of one address held (once) until `release` is set, without holding up the
    server's other sessions: `reached` tells the test a sender sits there, mid-batch."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()


class Recorder:
    """An aiosmtpd handler that stores every accepted message; `refuse` maps an address to
    what RCPT answers ("drop" cuts the connection), `on_rcpt` to a call made first,
    `stalls` to a `Stall`."""

    def __init__(self, refuse: dict[str, list[str]] | None = None) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse = refuse or {}
        self.on_rcpt: dict[str, Any] = {}
        self.stalls: dict[str, Stall] = {}
        self.lock = threading.Lock()
        self.arrived = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address in self.on_rcpt:
            self.on_rcpt.pop(address)()
        stall = self.stalls.pop(address, None)
        if stall is not None:
            stall.reached.set()
            await asyncio.get_running_loop().run_in_executor(None, stall.release.wait)
        answers = self.refuse.get(address)
        if answers:
            answer = answers.pop(0)
            if answer == "drop":
                server.transport.abort()
                return "421 gone"
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        self.arrived.set()
        return "250 Message accepted"

    def parsed(self) -> list[EmailMessage]:
        out = []
        for _, _, content in self.messages:
            raw = content if isinstance(content, bytes) else content.encode()
            out.append(email.message_from_bytes(raw, policy=policy.default))
        return out  # type: ignore[return-value]

    def count_by_rcpt(self) -> Counter[str]:
        return Counter(r for _, rcpts, _ in self.messages for r in rcpts)


@contextmanager
def smtp_server(handler: object, **options: Any) -> Iterator[Controller]:
    """A real SMTP server (aiosmtpd) on a free port of 127.0.0.1, stopped at the end."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def send_pipeline(engine: Engine, settings: Settings) -> runner.Pipeline:
    """A `Pipeline` for the stages that need no paper source and no LLM (`send`)."""

    def unused() -> Any:
        raise AssertionError("this stage should not need a paper source or an LLM")

    return runner.Pipeline(settings=settings, engine=engine, source=unused, chat=unused)


def smtp_env(port: int, **extra: str) -> dict[str, str]:
    """The NEWSLETTER_* variables `send` needs to reach an SMTP server on 127.0.0.1."""
    return {
        "NEWSLETTER_SECRET_KEY": "a-long-random-secret-for-tests-1234",
        "NEWSLETTER_SMTP_HOST": "127.0.0.1",
        "NEWSLETTER_SMTP_PORT": str(port),
        "NEWSLETTER_FROM": "AI papers <news@example.org>",
        **extra,
    }


# One paper with everything a parser or renderer can get wrong, written for the tests.
TRICKY = ListingRecord(
    id="hep-th/9901001",
    version=3,
    title='Bounds on $\\alpha<1$ & "Σ-models"\n  for Schrödinger <operators>',
    summary="We show $a<b$ &amp; c>d.\n  Second paragraph — ü, 東京.",
    authors=("Zoë Ångström", "J. O'Brien & Co"),
    categories=("hep-th", "math-ph", "math.MP"),
    primary_category="math-ph",
    comment="12 pages, <b>not bold</b> & 3 figures",
    journal_ref="Phys. Rev. D 59 (1999) 1&2",
    doi="10.1103/PhysRevD.59.123",
    published=datetime(1999, 1, 1, 12, 34, 56, tzinfo=UTC),
    updated=datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC),
    abs="https://arxiv.org/abs/hep-th/9901001",
    pdf="https://arxiv.org/pdf/hep-th/9901001v1",
)
