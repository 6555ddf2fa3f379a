"""Throw-away databases on a PostgreSQL server, for benchmarks: created empty, dropped after."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from pipeline.store.db import engine_url


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new empty database on the server of `server_url` (named `prefix` + random hex);
    yields its URL and drops it at the end."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", prefix):
        raise ValueError(f"bad database name prefix {prefix!r}")
    name = f"{prefix}{secrets.token_hex(4)}"
    admin = create_engine(engine_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as db:
            db.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield engine_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as db:
                db.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
