"""Alembic environment: run by `pipeline.store.db.migrate` with a live connection."""

from alembic import context
from sqlmodel import SQLModel

from pipeline.store import models  # noqa: F401

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    from sqlalchemy import create_engine

    url = config.get_main_option("sqlalchemy.url") or "sqlite:///db/newsletter.sqlite3"
    connection = create_engine(url).connect()

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
