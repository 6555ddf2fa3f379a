"""Storage: the engine, migrations and sessions (`db`), the SQLModel tables (`models`), and
the queries, one module per kind of row: papers, runs, summaries, issues, embeddings,
feedback, subscribers, locks, deliveries, clicks, plus the reads behind `status` and the
embedding cache's own SQLite file (`embed_cache`). Schema changes go through Alembic
migrations in `db/migrations/` (run by `db.migrate` when a database is opened)."""
