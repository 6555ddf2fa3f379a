"""Schema: migrations build exactly the models' schema, re-running them is a no-op, and an
upgrade keeps the data it finds."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

from pipeline.resources import resource_dir
from pipeline.store.db import make_engine, migrate
from tests.helpers import NewDatabase


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"models changed without a migration: {diff}"


def test_migrate_is_idempotent_and_versioned(engine: Engine) -> None:
    migrate(engine)
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"paper", "fetch_state", "run", "summary", "llm_call", "issue", "issue_item"} <= tables
    assert "alembic_version" in tables


def _to(engine: Engine, revision: str, *, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(resource_dir("migrations")))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_0007_adds_stored_failures_without_touching_summaries(
    new_db_url: NewDatabase,
) -> None:
    engine = make_engine(new_db_url("old"))  # empty, or (on PostgreSQL) at the newest schema
    _to(engine, "base", down=True)
    _to(engine, "0006")  # a database from before stored failures, with a summary in it
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO summary (paper_id, version, kind, prompt_hash, model, params_hash,"
                " text, input_tokens, output_tokens, cost_usd, created, source, note, flags)"
                " VALUES ('2606.00001', 1, 'relevance', 'p', 'm', 'q', '7', 5, 1, 0.5,"
                " '2026-06-16 12:00:00', 'abstract', NULL, '[]')"
            )
        )
    migrate(engine)
    assert "summary_failure" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT paper_id, kind, text, cost_usd FROM summary")).all()
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert [tuple(r) for r in rows] == [("2606.00001", "relevance", "7", 0.5)]
    assert version == "0009"  # the head
    _to(engine, "0006", down=True)
    assert "summary_failure" not in inspect(engine).get_table_names()
    migrate(engine)
    engine.dispose()


def test_0008_adds_the_desk_and_keeps_issues_unapproved_and_current(
    new_db_url: NewDatabase,
) -> None:
    engine = make_engine(new_db_url("old", empty=True))
    _to(engine, "0007")  # a database from before the editor's desk, with an issue in it
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO issue (week, status, created, model, candidates, categories)"
                " VALUES ('2026-W25', 'sent', '2026-06-22 07:00:00', 'm', 40, '[\"cs.LG\"]')"
            )
        )
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"candidate", "editor_placement", "editor_revision"} <= tables
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT status, approved_at, approved_by, edited_at, stale FROM issue")
        ).one()
    assert tuple(row[:4]) == ("sent", None, None, None)
    assert not row[4]  # not stale (0 on SQLite, false on PostgreSQL)
    _to(engine, "0007", down=True)
    assert "candidate" not in inspect(engine).get_table_names()
    assert "approved_at" not in {c["name"] for c in inspect(engine).get_columns("issue")}
    migrate(engine)
    engine.dispose()


def test_0009_adds_delivery_claims_keeping_rows(new_db_url: NewDatabase) -> None:
    engine = make_engine(new_db_url("older", empty=True))
    _to(engine, "0008")
    t0 = "'2026-06-20 12:00:00'"
    with engine.begin() as conn:
        for sql in (
            "INSERT INTO issue (week, status, created, model, candidates, categories)"
            f" VALUES ('2026-W25', 'sent', {t0}, '', 0, '[]')",
            "INSERT INTO subscriber (email, name, status, source, created)"
            f" VALUES ('a@example.org', '', 'active', 'import', {t0})",
            "INSERT INTO delivery (issue_week, subscriber_id, status, attempts, message_id,"
            f" claimed_at) VALUES ('2026-W25', 1, 'sent', 1, '<m>', {t0})",
        ):
            conn.execute(text(sql))
    migrate(engine)
    indexes = {i["name"] for i in inspect(engine).get_indexes("delivery")}
    assert "ix_delivery_week_status" in indexes
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, message_id, claimed_by FROM delivery")).all()
    assert [tuple(r) for r in rows] == [("sent", "<m>", None)]
    _to(engine, "0008", down=True)
    assert "claimed_by" not in {c["name"] for c in inspect(engine).get_columns("delivery")}
    engine.dispose()
