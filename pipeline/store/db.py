"""Engine, migrations and sessions: every database connection is opened here."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, insert, inspect
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, SQLModel

from pipeline.resources import resource_dir
from pipeline.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)

log = logging.getLogger(__name__)


def make_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


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


def open_database(url: str) -> Engine:
    engine = make_engine(url)
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
