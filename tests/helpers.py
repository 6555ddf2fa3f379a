"""Helpers several test modules share (fixtures stay in conftest.py): the test databases
(SQLite files, or fresh PostgreSQL databases), a free port, the CLI run in-process, a Python
child process, a recording SMTP server, a paper with everything a parser can get wrong."""

from __future__ import annotations

import asyncio
import email
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol, TypeVar

import openai
import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool, Pool
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

from pipeline import runner
from pipeline.cli import app
from pipeline.config import Settings
from pipeline.devservers.arxiv_api import ListingRecord
from pipeline.env import clean_environment
from pipeline.llm.openai_compat import OpenAIChat
from pipeline.store.db import engine_url, open_database

SHARED = Path(__file__).resolve().parents[2] / "shared"


# The test backend: unset (or "sqlite"), every test's database is a SQLite file in its temp
# dir; a PostgreSQL server URL (postgresql://user@host:port/), a fresh database there.
TEST_DATABASE = "NEWSLETTER_TEST_DATABASE"


class NewDatabase(Protocol):
    """The `new_db_url` fixture: the URL of another fresh database (see conftest)."""

    def __call__(self, name: str, *, empty: bool = False) -> str: ...


class PostgresDatabases:
    """Fresh, empty, migrated PostgreSQL databases for tests: each a copy (CREATE DATABASE
    ... TEMPLATE) of one template migrated once per session; every one is dropped at the end
    (WITH (FORCE): a connection a test left open does not keep it)."""

    def __init__(self, server_url: str) -> None:
        self.server = engine_url(server_url).set(database="postgres")
        self.admin = create_engine(self.server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        # Every driver connection made to a test database, kept and closed when it is dropped:
        # an engine a test (or the CLI run in-process) did not dispose of would otherwise
        # leave its connections to the garbage collector, which psycopg reports as a
        # ResourceWarning (an error in this suite).
        self.connections: list[psycopg.Connection[Any]] = []
        event.listen(Pool, "connect", self._opened)
        self.prefix = f"pg_test_{uuid.uuid4().hex[:8]}"
        self.count = 0
        self.template = self._name("template")
        self._execute(f'CREATE DATABASE "{self.template}"')
        open_database(self.url(self.template)).dispose()  # no one may be connected to a template

    def _name(self, what: str) -> str:
        return f"{self.prefix}_{what}"

    def _execute(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def url(self, name: str) -> str:
        return self.server.set(database=name).render_as_string(hide_password=False)

    def create(self, *, empty: bool = False) -> str:
        """The URL of a new database with the newest schema and no rows (`empty`: no
        tables either, as a new server's database is before its first command)."""
        self.count += 1
        name = self._name(str(self.count))
        template = "template0" if empty else self.template
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def _opened(self, dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, psycopg.Connection):
            self.connections.append(dbapi_connection)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        kept = []
        for conn in self.connections:
            if conn.closed:
                continue
            if conn.info.dbname == name:
                conn.close()
            else:
                kept.append(conn)
        self.connections = kept
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self.drop(self.url(self.template))
        event.remove(Pool, "connect", self._opened)
        self.admin.dispose()


def cli_database_url() -> str:
    """The database the CLI uses in this test (no --database-url, no config file): the
    default SQLite file in the temp dir, or the test's PostgreSQL database (see conftest)."""
    return os.environ.get("NEWSLETTER_DATABASE_URL", "sqlite:///db/newsletter.sqlite3")


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
    `stalls` to a `Stall`.  With `pipelining` the server offers PIPELINING (RFC 2920:
    aiosmtpd answers commands in order, which is all the extension asks of a server);
    `chunks` holds what each read from a client brought (see `smtp_server`)."""

    def __init__(
        self, refuse: dict[str, list[str]] | None = None, *, pipelining: bool = False
    ) -> None:
        self.pipelining = pipelining
        self.chunks: list[bytes] = []
        self.peers: Counter[tuple[str, int]] = Counter()  # messages per client connection
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse = refuse or {}
        self.on_rcpt: dict[str, Any] = {}
        self.stalls: dict[str, Stall] = {}
        self.lock = threading.Lock()
        self.arrived = threading.Event()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

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
            self.peers[tuple(session.peer)] += 1
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


class _ReadsKept(SMTP):
    """aiosmtpd's server, keeping each read from the client in the handler's `chunks`."""

    def data_received(self, data: bytes) -> None:
        self.event_handler.chunks.append(bytes(data))
        super().data_received(data)


class _Controller(Controller):
    def factory(self) -> SMTP:
        if isinstance(self.handler, Recorder):
            return _ReadsKept(self.handler, **self.SMTP_kwargs)
        return SMTP(self.handler, **self.SMTP_kwargs)


@contextmanager
def smtp_server(handler: object, **options: Any) -> Iterator[Controller]:
    """A real SMTP server (aiosmtpd) on a free port of 127.0.0.1, stopped at the end."""
    controller = _Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
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


def sender_env(db_url: str, tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    """The whole environment of a `newsletter send` child process: none of this process's
    NEWSLETTER_* variables, then `smtp_env`, the database and folders under `tmp_path`."""
    return clean_environment(
        **smtp_env(
            port,
            NEWSLETTER_DATABASE_URL=db_url,
            NEWSLETTER_OUTPUT_DIR=str(tmp_path / "out"),
            NEWSLETTER_CACHE_DIR=str(tmp_path / "cache"),
            **extra,
        )
    )


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
