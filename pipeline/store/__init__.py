"""Storage: the engine, migrations and sessions (`db`), the SQLModel tables (`models`), and
the queries, one module per kind of row: papers, runs, summaries, issues, embeddings,
feedback, subscribers. Schema changes go through Alembic migrations in `db/migrations/`
(run by `db.migrate` when a database is opened)."""
