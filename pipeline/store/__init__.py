"""Queries. With `pipeline.db`, the only code that reads or writes the database."""
