"""The mailing list: address normalisation, status rules, CSV import/export and the CLI."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from pipeline.cli import app
from pipeline.errors import NotFoundError, UserInputError
from pipeline.mail import subscribers as subs
from pipeline.store import subscribers as stored
from pipeline.store.db import open_database
from tests.helpers import NewDatabase


def status_of(engine: Engine, email: str) -> str:
    return {r.email: r.status for r in subs.list_subscribers(engine)}[email]


def write(path: str, text: str, encoding: str = "utf-8") -> Path:
    Path(path).write_text(text, encoding=encoding, newline="")
    return Path(path)


# -- addresses and names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  Ann.Lee@Example.COM \n", "ann.lee@example.com"),
        ("\tBOB+news@Mail.Example.org", "bob+news@mail.example.org"),
        ("Zoë@München.de", "zoë@münchen.de"),
    ],
)
def test_normalise_email_accepts(raw: str, stored: str) -> None:
    assert subs.normalise_email(raw) == stored


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("x", "must have an @-sign"),
        ("", "must have an @-sign"),
        ("a b@example.com", "invalid characters"),
        ("a@localhost", "should have a period"),
        ("a@example.com\r\nBcc: x@example.org", "line break or control character"),
        ("a@example.com\nBcc: x@example.org", "line break or control character"),
        ("a\x00@example.com", "line break or control character"),
        ("a@example.com\u2028x", "line break or control character"),
        ("a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".example.com", "longer than 254"),
    ],
)
def test_normalise_email_rejects_with_one_line(raw: str, reason: str) -> None:
    with pytest.raises(UserInputError) as caught:
        subs.normalise_email(raw)
    message = str(caught.value)
    assert message.startswith("not an email address: '") and reason in message
    assert "\n" not in message and "\r" not in message


def test_names_are_kept_as_given_but_never_break_a_header() -> None:
    assert subs.check_name("  Zoë [b]O'Brien[/b] <x> :smile:  ") == "Zoë [b]O'Brien[/b] <x> :smile:"
    for bad in ("Ann\r\nBcc: x@example.org", "Ann\tLee", "Ann\x1b[31m"):
        with pytest.raises(UserInputError, match="line break or control character"):
            subs.check_name(bad)


# -- status rules -------------------------------------------------------------------------


def test_add_inserts_then_updates(engine: Engine) -> None:
    row, created = subs.add(engine, "Ann@Example.com", "Ann")
    assert created and (row.email, row.name, row.status, row.source) == (
        "ann@example.com",
        "Ann",
        "active",
        "cli",
    )
    assert row.confirmed_at is not None and row.id is not None
    again, created = subs.add(engine, "ann@example.COM")
    assert not created and again.id == row.id and again.name == "Ann"  # no name: kept
    assert subs.add(engine, "ann@example.com", "Ann Lee")[0].name == "Ann Lee"
    assert subs.add(engine, "ann@example.com", status="pending")[0].status == "active"
    with pytest.raises(UserInputError, match="control character"):
        subs.add(engine, "ann@example.com", "Ann\r\nBcc: x@example.org")


def test_pending_becomes_active_by_add_or_confirm(engine: Engine) -> None:
    row, _ = subs.add(engine, "p@example.com", status="pending")
    assert row.status == "pending" and row.confirmed_at is None
    assert subs.add(engine, "p@example.com")[0].status == "active"
    subs.add(engine, "q@example.com", status="pending")
    confirmed = subs.confirm(engine, "Q@example.com")
    assert confirmed.status == "active" and confirmed.confirmed_at is not None
    assert subs.confirm(engine, "q@example.com").confirmed_at == confirmed.confirmed_at
    with pytest.raises(NotFoundError, match="no subscriber nobody@example.com"):
        subs.confirm(engine, "nobody@example.com")


@pytest.mark.parametrize("left", ["unsubscribed", "bounced"])
def test_add_does_not_put_back_who_left_unless_told(engine: Engine, left: str) -> None:
    row, _ = subs.add(engine, "gone@example.com", "Gone")
    if left == "unsubscribed":
        subs.remove(engine, "gone@example.com")
    else:
        assert row.id is not None
        stored.mark_bounced(engine, row.id, "550 no such user")
    for status in ("active", "pending"):
        kept, created = subs.add(engine, "gone@example.com", "New Name", status=status)
        assert not created and kept.status == left and kept.name == "Gone"
    assert subs.confirm(engine, "gone@example.com").status == left
    back, _ = subs.add(engine, "gone@example.com", reactivate=True)
    assert back.status == "active" and stored.active_ids(engine) == [row.id]


def test_web_sign_up_after_leaving_goes_to_pending(engine: Engine) -> None:
    new = subs.subscribe_pending(engine, "Web@Example.com", "Web")
    assert (new.status, new.source, new.name) == ("pending", "web", "Web")
    assert subs.subscribe_pending(engine, "web@example.com").id == new.id
    assert subs.confirm(engine, "web@example.com").status == "active"
    assert subs.subscribe_pending(engine, "web@example.com").status == "active"  # unchanged
    assert new.id is not None
    stored.unsubscribe(engine, new.id)
    again = subs.subscribe_pending(engine, "web@example.com")
    assert again.status == "pending" and stored.active_ids(engine) == []
    assert subs.confirm(engine, "web@example.com").status == "active"


def test_unsubscribe_is_idempotent_and_bounce_does_not_undo_it(engine: Engine) -> None:
    row, _ = subs.add(engine, "u@example.com")
    assert row.id is not None
    first = stored.unsubscribe(engine, row.id)
    assert first is not None and first.status == "unsubscribed" and first.unsubscribed_at
    second = stored.unsubscribe(engine, row.id)
    assert second is not None and second.unsubscribed_at == first.unsubscribed_at
    bounced = stored.mark_bounced(engine, row.id, "mailbox full")
    assert bounced is not None and bounced.status == "unsubscribed" and bounced.bounced_at
    assert stored.unsubscribe(engine, 999) is None and stored.mark_bounced(engine, 999, "x") is None
    assert stored.get(engine, row.id) is not None and stored.get(engine, 999) is None
    with pytest.raises(NotFoundError) as caught:
        subs.remove(engine, "Nobody@Example.com")
    assert str(caught.value) == (
        "no subscriber nobody@example.com; see `newsletter subscribers list`"
    )


def test_listing_and_counts(engine: Engine) -> None:
    for email, status in [("c@example.com", "active"), ("a@example.com", "pending")]:
        subs.add(engine, email, status=status)
    subs.add(engine, "b@example.com")
    subs.remove(engine, "b@example.com")
    assert [r.email for r in subs.list_subscribers(engine)] == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]
    assert [r.email for r in subs.list_subscribers(engine, "active")] == ["c@example.com"]
    assert stored.counts(engine) == {"pending": 1, "active": 1, "unsubscribed": 1, "bounced": 0}
    with pytest.raises(UserInputError, match="unknown status 'gone'"):
        subs.list_subscribers(engine, "gone")


# -- CSV ----------------------------------------------------------------------------------


def test_import_reports_rejects_by_line_and_is_idempotent(engine: Engine) -> None:
    path = write(
        "list.csv",
        "Name,EMAIL,Status,extra\n"
        "Ann,Ann@Example.com,,x\n"
        "Bob,bob@example.com,pending\n"
        ",not-an-address\n"
        "\n"
        "Dup,ANN@example.com,active\n"
        "Cid,cid@example.com,bounced\n"
        "Dee,dee@example.com,vip\n"
        '"Eve\nBcc: x@example.org",eve@example.com\n'
        "Fay,,active\n"
        "Opt,out@example.com,unsubscribed\n",
    )
    report = subs.import_csv(engine, path)
    assert (report.added, report.updated, report.unchanged) == (3, 0, 0)
    assert report.rejected == [
        "line 4: not an email address: 'not-an-address' (An email address must have an @-sign.)",
        "line 6: ann@example.com repeats line 2",
        "line 7: bounced addresses are not imported",
        "line 8: unknown status 'vip'; use active, pending or unsubscribed",
        "line 9: name 'Eve\\nBcc: x@example.org' contains a line break or control character",
        "line 11: no email address",
    ]
    assert status_of(engine, "ann@example.com") == "active"
    assert status_of(engine, "bob@example.com") == "pending"
    assert status_of(engine, "out@example.com") == "unsubscribed"  # an opt-out, recorded
    assert {r.source for r in subs.list_subscribers(engine)} == {"import"}
    again = subs.import_csv(engine, path)
    assert (again.added, again.updated, again.unchanged, len(again.rejected)) == (0, 0, 3, 6)


def test_reimporting_an_old_list_does_not_put_back_who_left(engine: Engine) -> None:
    path = write("old.csv", "email,name\nann@example.com,Ann\nbob@example.com,Bob\n")
    subs.import_csv(engine, path)
    subs.remove(engine, "ann@example.com")
    report = subs.import_csv(engine, path)
    assert (report.unchanged, report.kept) == (2, 1)
    assert status_of(engine, "ann@example.com") == "unsubscribed"
    report = subs.import_csv(engine, path, reactivate=True)
    assert (report.updated, report.unchanged) == (1, 1)
    assert status_of(engine, "ann@example.com") == "active"


def test_import_accepts_a_bom_and_updates_names(engine: Engine) -> None:
    write("bom.csv", "email,name\nzoe@example.com,Zoë\n", encoding="utf-8-sig")
    assert Path("bom.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert subs.import_csv(engine, Path("bom.csv")).added == 1
    write("bom.csv", "\ufeffEmail,Name\nZOE@example.com,Zoë Müller\n")
    report = subs.import_csv(engine, Path("bom.csv"))
    assert (report.added, report.updated) == (0, 1)
    assert subs.list_subscribers(engine)[0].name == "Zoë Müller"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot read missing.csv: No such file or directory"),
        ("", "must be a header with an `email` column"),
        ("name,mail\nAnn,ann@example.com\n", "found 'name,mail'"),
        (b"email\nann@example.com\n\xff\xfe@example.com\n", "is not UTF-8 text"),
    ],
)
def test_import_file_errors_write_nothing(
    engine: Engine, text: str | bytes | None, message: str
) -> None:
    path = Path("missing.csv")
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        write("missing.csv", text)
    with pytest.raises(UserInputError, match=message.replace("(", r"\(")):
        subs.import_csv(engine, path)
    assert subs.list_subscribers(engine) == []


def test_export_then_import_round_trips(engine: Engine, new_db_url: NewDatabase) -> None:
    subs.add(engine, "a@example.com", 'Ann "The Reader", Lee')
    subs.add(engine, "p@example.com", "Zoë", status="pending")
    row, _ = subs.add(engine, "b@example.com")
    subs.add(engine, "u@example.com")
    subs.remove(engine, "u@example.com")
    assert row.id is not None
    stored.mark_bounced(engine, row.id, "550")
    assert subs.export_csv(engine, Path("all.csv")) == 4
    lines = Path("all.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "email,name,status,source,created,confirmed_at,unsubscribed_at"
    assert lines[1].startswith('a@example.com,"Ann ""The Reader"", Lee",active,cli,')
    assert stat.S_IMODE(Path("all.csv").stat().st_mode) == 0o600  # personal data
    assert [p.name for p in Path().iterdir() if p.name.startswith(".")] == []
    assert subs.export_csv(engine, Path("active.csv"), status="active") == 1

    fresh = open_database(new_db_url("fresh"))
    try:
        report = subs.import_csv(fresh, Path("all.csv"))
        assert report.added == 3
        assert report.rejected == ["line 3: bounced addresses are not imported"]
        before = {r.email: (r.name, r.status) for r in subs.list_subscribers(engine)}
        after = {r.email: (r.name, r.status) for r in subs.list_subscribers(fresh)}
        del before["b@example.com"]
        assert after == before
    finally:
        fresh.dispose()
    with pytest.raises(UserInputError, match="cannot write no/such/dir.csv"):
        subs.export_csv(engine, Path("no/such/dir.csv"))


# -- the CLI ------------------------------------------------------------------------------


def run(db_url: str, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(
        app, ["subscribers", *args, "--database-url", db_url], catch_exceptions=False
    )
    assert result.exit_code == code, result.output
    return result


def test_cli_add_list_remove(engine: Engine, db_url: str) -> None:
    out = run(db_url, "add", " Ann@Example.com ", "--name", "[bold]Ann[/bold] :smile:").stdout
    assert out == "added ann@example.com (active)\n"
    assert (
        "already on the list: ann@example.com (active)"
        in run(db_url, "add", "ann@example.com").stdout
    )
    assert "(pending)" in run(db_url, "add", "bob@example.com", "--pending").stdout
    listing = run(db_url, "list").stdout.splitlines()
    assert listing[0].split() == ["EMAIL", "NAME", "STATUS", "SOURCE", "CREATED"]
    assert listing[1].startswith("ann@example.com  [bold]Ann[/bold] :smile:  active   cli     20")
    assert listing[2].split()[:3] == ["bob@example.com", "pending", "cli"]
    assert listing[3:] == ["pending: 1", "active: 1", "unsubscribed: 0", "bounced: 0"]
    only = run(db_url, "list", "--status", "pending").stdout.splitlines()
    assert [line.split()[0] for line in only[1:-4]] == ["bob@example.com"]
    assert run(db_url, "remove", "ANN@example.com").stdout == "unsubscribed ann@example.com\n"
    assert "no subscribers with status bounced" in run(db_url, "list", "--status", "bounced").stdout

    refused = run(db_url, "add", "ann@example.com", code=1)
    assert refused.stdout == "" and refused.stderr == (
        "error: ann@example.com is unsubscribed and was left so; add --reactivate only if "
        "they asked to be put back\n"
    )
    assert "(active)" in run(db_url, "add", "ann@example.com", "--reactivate").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "a@example.com\r\nBcc: x@example.org"], "not an email address: 'a@example.com"),
        (["add", "nope"], "not an email address: 'nope' (An email address must have an @-sign.)"),
        (["add", "a@example.com", "--name", "A\nB"], "contains a line break"),
        (["remove", "nobody@example.com"], "no subscriber nobody@example.com; see `newsletter"),
        (["list", "--status", "gone"], "unknown status 'gone'"),
        (["export", "out.csv", "--status", "gone"], "unknown status 'gone'"),
        (["import", "missing.csv"], "cannot read missing.csv"),
    ],
)
def test_cli_errors_are_one_line(
    engine: Engine, db_url: str, args: list[str], message: str
) -> None:
    result = run(db_url, *args, code=1)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not Path("out.csv").exists()


def test_cli_import_and_export(engine: Engine, db_url: str) -> None:
    rows = "".join(f"bad{i}\n" for i in range(22))
    write("list.csv", "email,name\nann@example.com,Ann\nbob@example.com\n" + rows)
    result = run(db_url, "import", "list.csv")
    assert result.stdout == "imported list.csv: 2 added, 0 updated, 0 unchanged, 22 rejected\n"
    errors = result.stderr.splitlines()
    assert errors[0] == (
        "  rejected line 4: not an email address: 'bad0' (An email address must have an @-sign.)"
    )
    assert len(errors) == 21 and errors[-1] == "  ... and 2 more"
    run(db_url, "remove", "bob@example.com")
    again = run(db_url, "import", "list.csv")
    assert "0 added, 0 updated, 2 unchanged, 22 rejected" in again.stdout
    assert "1 unsubscribed or bounced addresses were left so" in again.stderr
    assert "1 updated" in run(db_url, "import", "list.csv", "--reactivate").stdout

    assert run(db_url, "export", "out.csv").stdout == "exported 2 subscribers to out.csv\n"
    assert Path("out.csv").read_text().splitlines()[1].startswith("ann@example.com,Ann,active,")
    assert "exported 0 subscribers" in run(db_url, "export", "p.csv", "--status", "pending").stdout
