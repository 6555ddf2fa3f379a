"""An issue's email as bytes: the fast paths (pre-encoded parts, dot-stuffed as they are
built, plain To lines, link tokens) give exactly what the general code gives."""

from __future__ import annotations

import html
import re
import time
from email.headerregistry import Address
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Engine

from pipeline.config import load_settings
from pipeline.errors import BadAddress
from pipeline.mail.message import IssueMail, Recipient, _folded, dot_stuffed
from pipeline.mail.send import issue_mail
from pipeline.mail.tokens import Signer
from pipeline.store.issues import ALSO, HIGHLIGHT
from tests.factories import paper, stored_issue

WEEK = "2026-W25"
SECRET = "test-secret-key-0123456789"
DOTTED = " ".join([".starts-a-line"] * 12)  # wrapped at 72 columns: lines begin with "."


def mail_for(engine: Engine, tmp_path: Path, summary: str) -> IssueMail:
    """The issue's mail; its title (the text part's first, unindented lines) is DOTTED."""
    entries = [
        (paper("2606.00001", "A first title"), HIGHLIGHT, summary),
        (paper("2606.00002", "Ünïcödé title"), HIGHLIGHT, "Plain words."),
        (paper("2606.00003", "Also one"), ALSO, None),
    ]
    stored_issue(engine, WEEK, entries)
    settings = load_settings(
        None,
        {
            "database_url": str(engine.url),
            "output_dir": str(tmp_path / "out"),
            "public_url": "https://news.example.org/a&b/",
            "newsletter_title": DOTTED,
            "smtp_from": "AI papers <news@example.org>",
        },
    )
    return issue_mail(engine, settings, WEEK, Signer(SECRET))


@pytest.mark.sqlite_only(reason="message bytes do not depend on the database")
@pytest.mark.parametrize(
    ("summary", "eight_bit", "encodings"),
    [
        (DOTTED, True, {b"8bit"}),  # non-ASCII title: 8bit when the server offers 8BITMIME
        (DOTTED, False, {b"quoted-printable"}),
        ("x" * 1200, True, {b"quoted-printable"}),  # a line over 998 octets
    ],
    ids=["8bit", "no-8bitmime", "long-line"],
)
def test_stuffed_message_is_the_dot_stuffed_plain_one(
    engine: Engine, tmp_path: Path, summary: str, eight_bit: bool, encodings: set[bytes]
) -> None:
    mail = mail_for(engine, tmp_path, summary)
    for sid in (1, 42, 10**9):
        who = Recipient(sid, f"r{sid}@example.org", "Reader Name")
        plain = mail.compose(who, eight_bit=eight_bit, message_id="<m@x>", date=None)
        stuffed = mail.compose(who, eight_bit=eight_bit, message_id="<m@x>", stuffed=True)
        head = plain.data.split(b"\r\n\r\n", 1)[0]
        assert stuffed.data.replace(head, b"") == dot_stuffed(plain.data).replace(head, b"")
        assert stuffed.stuffed and not plain.stuffed
        found = {
            line.split(b": ", 1)[1]
            for line in plain.data.split(b"\r\n")
            if line.startswith(b"Content-Transfer-Encoding: ")
        }
        assert found == encodings
        unsubscribe = re.search(rb"List-Unsubscribe: <([^>]+)>", plain.data)
        assert unsubscribe and b"/a&b/unsubscribe?t=" in unsubscribe.group(1)
        if encodings != {b"quoted-printable"}:  # the HTML part's link, escaped
            assert html.escape(unsubscribe.group(1).decode()).encode() in plain.data
    if encodings == {b"8bit"}:  # the case that exercises stuffing: lines began with "."
        assert b"\r\n.starts-a-line" in plain.data
        assert b"\r\n..starts-a-line" in stuffed.data


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("Reader 1", "reader000001@example.org"),
        ("", "bob@example.org"),
        ("O'Brien", "o.brien@mail.example.co.uk"),
        ("a!#$%&*+/=?^_`{|}~-b c", "d@example.org"),  # every atext character: not quoted
        ("J. Smith", "j@example.org"),  # "." is not atext: quoted
        ("Zoë", "zoe@example.org"),  # encoded word
        ("Smith, John", "john@example.org"),
        ("A" * 70, "long@example.org"),  # folded
        ("Mallory Bcc: evil@x", "mal@example.org"),
        ("x", "first.last+tag@sub.example.org"),
        ("x", '"quoted local"@example.org'),
    ],
)
def test_plain_to_lines_are_what_the_email_package_writes(name: str, address: str) -> None:
    try:
        expected = _folded("To", Address(display_name=name, addr_spec=address))
    except Exception:  # the email package refuses it: so must we
        with pytest.raises(BadAddress):
            IssueMail._to(Recipient(1, address, name))
        return
    assert IssueMail._to(Recipient(1, address, name)) == expected


def test_tokens_are_itsdangerous_tokens() -> None:
    signer = Signer(SECRET)
    reference = URLSafeTimedSerializer(SECRET, salt="arxiv-newsletter:feedback")
    payload = [7, WEEK, "2606.00001", "like"]
    while True:  # the same second on both sides
        start = int(time.time())
        ours = signer.feedback(7, WEEK, "2606.00001", "like")
        theirs = reference.dumps(payload)
        if int(time.time()) == start:
            break
    assert ours == theirs  # too short for zlib to pay: itsdangerous does not compress either
    assert reference.loads(ours) == payload
    assert vars(signer.check_feedback(ours)) == {
        "subscriber_id": 7,
        "week": WEEK,
        "paper_id": "2606.00001",
        "signal": "like",
    }
    long = "a" * 300 + "@example.org"  # compressible: itsdangerous would zlib it, we do not
    token = signer.confirm(long)
    assert not token.startswith(".") and signer.check_confirm(token) == long
    assert Signer("another-secret-key-0123").unsubscribe(7) != signer.unsubscribe(7)
