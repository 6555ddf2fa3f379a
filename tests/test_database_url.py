"""The database URL: PostgreSQL URLs go to psycopg 3; a URL with no driver, a server that
cannot be reached or a database that does not exist is one line naming the setting, with
the password masked, never a traceback."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from pipeline.errors import ConfigError, DatabaseUnavailable
from pipeline.store.db import engine_url, make_engine, masked, open_database
from tests.helpers import PostgresDatabases, free_port, invoke


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u:p@db.example.org:5432/news", "postgresql+psycopg"),
        ("postgresql+psycopg://u:p@db.example.org/news", "postgresql+psycopg"),
        ("postgres://u@db.example.org/news", "postgresql+psycopg"),
        ("sqlite:///db/newsletter.sqlite3", "sqlite"),
    ],
)
def test_postgresql_urls_use_psycopg(url: str, driver: str) -> None:
    normalised = engine_url(url)
    assert normalised.drivername == driver
    assert normalised.database == make_url(url).database
    engine = make_engine(url)  # the driver is installed: the engine is made without connecting
    assert engine.url.drivername == driver
    engine.dispose()


def test_the_password_is_masked() -> None:
    assert masked("postgresql://news:s3cret@db:5432/x") == "postgresql://news:***@db:5432/x"
    assert masked("sqlite:///db/newsletter.sqlite3") == "sqlite:///db/newsletter.sqlite3"


def test_an_unreachable_server_is_one_line_naming_the_setting() -> None:
    url = f"postgresql://news:s3cret@127.0.0.1:{free_port()}/news"  # nothing listens there
    with pytest.raises(DatabaseUnavailable) as caught:
        open_database(url)
    message = str(caught.value)
    assert message.startswith(f"cannot reach the database at {masked(url)} (setting 'database_url'")
    assert message.endswith(": connection refused")
    assert "s3cret" not in message and "\n" not in message

    output = invoke("status", "--database-url", url, code=1)
    assert output.splitlines() == [f"error: {message}"]
    assert "Traceback" not in output and "s3cret" not in output


def test_a_url_without_a_driver_is_a_bad_setting() -> None:
    with pytest.raises(ConfigError, match=r"^bad setting 'database_url': no database driver"):
        make_engine("nosuchdb://u:s3cret@h/x")
    output = invoke("status", "--database-url", "nosuchdb://u:s3cret@h/x", code=2)
    assert len(output.splitlines()) == 1 and output.startswith("error: bad setting 'database_url'")
    assert "s3cret" not in output


def test_a_missing_postgresql_database_is_one_line(postgres: PostgresDatabases | None) -> None:
    if postgres is None:
        pytest.skip("needs the PostgreSQL backend (NEWSLETTER_TEST_DATABASE)")
    url = postgres.url("pg_no_such_database")
    output = invoke("status", "--database-url", url, code=1)
    assert output.splitlines() == [
        f"error: cannot reach the database at {masked(url)} (setting 'database_url', "
        'NEWSLETTER_DATABASE_URL or --database-url): database "pg_no_such_database" '
        "does not exist"
    ]
