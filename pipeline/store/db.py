"""Engine, migrations and sessions: every database connection is opened here.

Two backends: SQLite (a file, the default) and PostgreSQL through psycopg 3
(`postgresql://` or `postgresql+psycopg://`, both taken to the psycopg driver). The SQLite
pragmas (WAL, synchronous, foreign keys, busy timeout) are set on SQLite connections only.
A database that cannot be opened is a `DatabaseUnavailable` naming the setting, with the
URL's password masked."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, create_engine, event, insert, inspect, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, SQLModel

from pipeline.errors import ConfigError, DatabaseUnavailable
from pipeline.resources import resource_dir
from pipeline.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)

log = logging.getLogger(__name__)
T = TypeVar("T")


SETTING = "setting 'database_url', NEWSLETTER_DATABASE_URL or --database-url"
_POSTGRES = ("postgresql", "postgres")  # a URL with no driver named gets psycopg 3
CONNECT_TIMEOUT = 10  # seconds to wait for a PostgreSQL server before giving up


def engine_url(url: str | URL) -> URL:
    """The URL the engine is made with: `postgresql://` (and `postgres://`) go to psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in _POSTGRES:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def masked(url: str | URL) -> str:
    """The URL as it can be printed: its password, if any, as ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL)"


def make_engine(url: str | URL) -> Engine:
    """An engine for the URL (not connected yet); a URL without a usable driver is a
    `ConfigError` naming the setting."""
    try:
        target = engine_url(url)
        args: dict[str, Any] = {}
        if target.get_backend_name() == "postgresql":
            args["connect_timeout"] = CONNECT_TIMEOUT
        # preserve_rowcount: `rowcount` of every statement, INSERT ... SELECT included, is
        # what conditional writes are checked by (psycopg reports it only when asked).
        engine = create_engine(
            target, connect_args=args, execution_options={"preserve_rowcount": True}
        )
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"bad setting 'database_url': no database driver for {masked(url)} ({exc}); "
            "use sqlite:///path/to/file.sqlite3 or postgresql://user:password@host:port/name"
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def check_connection(engine: Engine, shown: str | URL | None = None) -> None:
    """Connect once: a server that cannot be reached (or a database that does not exist,
    or a login refused) is a `DatabaseUnavailable` naming the setting and `shown` (the URL
    as the user wrote it; the engine's by default), password masked."""
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        engine.dispose()
        raise DatabaseUnavailable(
            f"cannot reach the database at {masked(shown or engine.url)} ({SETTING}): "
            f"{_reason(exc.orig)}"
        ) from None


def _reason(error: BaseException | None) -> str:
    """The driver's message cut to its cause: "connection refused", "database "x" does
    not exist", ..."""
    text = str(error or "unknown error").strip().splitlines()[0]
    text = text.rsplit(" failed: ", 1)[-1].removeprefix("connection failed: ")
    text = text.removeprefix("FATAL:").strip()
    return text[:1].lower() + text[1:]


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resource_dir("migrations")))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it already is)."""
    cfg = _alembic_config()
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.begin() as conn:
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
        cfg.attributes["connection"] = conn
        log.info("migrating database to %s", head)
        command.upgrade(cfg, "head")


def open_database(url: str | URL) -> Engine:
    """The engine, checked to connect and migrated to the newest schema."""
    engine = make_engine(url)
    check_connection(engine, url)
    migrate(engine)
    return engine


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error."""
    with Session(engine, expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


@contextmanager
def locked_session(engine: Engine) -> Iterator[Session]:
    """One read-modify-write transaction (committed on success, rolled back on any error)
    whose reads nothing else can change before it writes, on both backends: on SQLite it
    takes the database's write lock as it begins (BEGIN IMMEDIATE; other writers wait, up to
    the busy timeout), on PostgreSQL its reads lock the rows they read, with
    `with_for_update=True` / `.with_for_update()` (which render nothing on SQLite)."""
    with session(engine) as s:
        if engine.dialect.name == "sqlite":
            s.connection().exec_driver_sql("BEGIN IMMEDIATE")
        yield s


@contextmanager
def locked_connection(engine: Engine) -> Iterator[Connection]:
    """`locked_session` for Core statements: one transaction on a connection, begun with
    the write lock on SQLite; reads that decide a write use `.with_for_update()`."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def locked_transaction(engine: Engine, work: Callable[[Session], T]) -> T:
    """`work(session)` in a `locked_session`; run once more when a concurrent transaction
    inserted the same key first (the unique constraint, the last line of defence, raised
    IntegrityError): the second time `work` reads the row the other one wrote."""
    try:
        with locked_session(engine) as s:
            return work(s)
    except IntegrityError:
        with locked_session(engine) as s:
            return work(s)


def add_all(engine: Engine, rows: Iterable[SQLModel]) -> None:
    """Insert the rows in one transaction (benchmarks and evaluations fill databases so)."""
    with session(engine) as s:
        s.add_all(rows)


def insert_many(engine: Engine, table: type[SQLModel], values: list[dict[str, Any]]) -> None:
    """One bulk INSERT of plain column values into `table`, in one transaction."""
    with engine.begin() as db:
        db.execute(insert(table), values)


def has_table(engine: Engine, name: str) -> bool:
    return inspect(engine).has_table(name)
