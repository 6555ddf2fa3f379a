"""Emailing an issue: real SMTP (aiosmtpd on 127.0.0.1), messages parsed back, signed links
verified, failures and retries, and a SIGKILL mid-batch followed by a rerun: every active
subscriber gets exactly one copy."""

from __future__ import annotations

import email
import html
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import select

from pipeline import runner
from pipeline.config import Settings, load_settings
from pipeline.errors import ConfigError, LockHeld
from pipeline.mail.batch import SendResult
from pipeline.mail.message import dot_stuffed, list_id
from pipeline.mail.tokens import Signer
from pipeline.ops.lock import hold, week_lock
from pipeline.store import subscribers as stored_subscribers
from pipeline.store.db import session
from pipeline.store.issues import ALSO, HIGHLIGHT
from pipeline.store.models import Delivery, Issue, Subscriber
from tests.factories import paper, stored_issue
from tests.helpers import (
    Recorder,
    free_port,
    invoke,
    send_pipeline,
    sender_env,
    smtp_server,
)

WEEK = "2026-W25"
SECRET = "test-secret-key-0123456789"
SIGNER = Signer(SECRET)
PUBLIC = "https://news.example.org/ai/"
NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
HIGHLIGHTS = ["2606.00001", "2606.00002", "2606.00003"]
TITLES = [
    "Depth < Width & the @@u@@ <script>alert(1)</script> Bound",
    "Plain title",
    "Schrödinger @@ markers",
    "Also one",
    "Also two",
]


def make_settings(db_url: str, tmp_path: Path, port: int, **extra: Any) -> Settings:
    values = {
        "database_url": db_url,
        "output_dir": str(tmp_path / "out"),
        "cache_dir": str(tmp_path / "cache"),
        "public_url": PUBLIC,
        "newsletter_title": "AI papers",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_from": "AI papers <news@example.org>",
        "smtp_timeout_seconds": 5,
        **extra,
    }
    return load_settings(None, values)


def add_issue(engine: Engine, week: str = WEEK) -> None:
    entries = []
    for pos, title in enumerate(TITLES):
        pid = f"2606.{pos + 1:05d}"
        section = HIGHLIGHT if pid in HIGHLIGHTS else ALSO
        entries.append(
            (paper(pid, title, when=NOW), section, f"Summary {pos}: a method, ü — and 3 results.")
        )
    stored_issue(engine, week, entries, created=NOW)


def add_subscribers(engine: Engine, people: list[tuple[str, str, str]]) -> dict[str, int]:
    """(email, name, status) rows; returns email -> id."""
    with session(engine) as s:
        rows = [Subscriber(email=e, name=n, status=st, created=NOW) for e, n, st in people]
        s.add_all(rows)
        s.flush()
        return {r.email: r.id or 0 for r in rows}


def send_stage(engine: Engine, settings: Settings, week: str, **options: Any) -> SendResult:
    """The send stage as `newsletter send` runs it: the issue's run lock and a `send` run."""
    return runner.send(send_pipeline(engine, settings), week, **options)


def deliveries(engine: Engine) -> dict[int, Delivery]:
    with session(engine) as s:
        return {d.subscriber_id: d for d in s.exec(select(Delivery)).all()}


def subscriber(engine: Engine, sid: int) -> Subscriber:
    with session(engine) as s:
        row = s.get(Subscriber, sid)
        assert row is not None
        return row


def token_of(url: str, path: str) -> str:
    assert url.startswith(f"{PUBLIC}{path}?t="), url
    return url.split("?t=", 1)[1]


def check_message(msg: EmailMessage, sid: int, addr: str) -> None:
    """Headers, both parts, the unsubscribe URL and every feedback link of one message."""
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg.get_content_type() == "multipart/alternative"
    assert re.fullmatch(rf"<{WEEK}\.{sid}\.[0-9a-f]{{16}}@news\.example\.org>", msg["Message-ID"])
    assert msg["Date"].datetime.tzinfo is not None
    assert msg["From"].addresses[0].addr_spec == "news@example.org"
    assert msg["To"].addresses[0].addr_spec == addr
    assert msg["Subject"].startswith("AI papers — week of ")
    assert msg["List-Id"] == '"AI papers" <newsletter.news.example.org>'
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    m = re.fullmatch(r"<(https://\S+)>", msg["List-Unsubscribe"])
    assert m, msg["List-Unsubscribe"]
    unsubscribe = m.group(1)
    assert SIGNER.check_unsubscribe(token_of(unsubscribe, "unsubscribe")) == sid
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    page = msg.get_body(("html",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert text.endswith(f"Unsubscribe:\n{unsubscribe}\n") and page.endswith("</html>\n")
    assert f"Unsubscribe:\n{unsubscribe}\n" in text
    assert text.count(unsubscribe) == 1 and page.count(f'href="{html.escape(unsubscribe)}"') == 1
    for title in TITLES:  # paper text arrives intact, markers and all
        assert title in text
        assert html.escape(title, quote=False) in page
    assert "@@" not in text.replace(TITLES[0], "").replace(TITLES[2], "")
    expected = {(sid, WEEK, pid, sig) for pid in HIGHLIGHTS for sig in ("like", "dislike")}
    for body in (text, html.unescape(page)):
        links = re.findall(rf"{re.escape(PUBLIC)}feedback\?t=([A-Za-z0-9_.-]+)", body)
        assert len(links) == len(expected)
        found = {tuple(vars(SIGNER.check_feedback(t)).values()) for t in links}
        assert found == expected


@pytest.fixture
def world(
    engine: Engine, db_url: str, tmp_path: Path, smtp: tuple[Controller, Recorder]
) -> tuple[Settings, dict[str, int]]:
    add_issue(engine)
    ids = add_subscribers(
        engine,
        [
            ("ann@example.org", "Ann Example", "active"),
            ("bob@example.org", "", "active"),
            ("mal@example.org", "Mallory\r\nBcc: evil@x", "active"),
            ("left@example.org", "Left", "unsubscribed"),
            ("gone@example.org", "Gone", "bounced"),
            ("new@example.org", "New", "pending"),
        ],
    )
    return make_settings(db_url, tmp_path, smtp[0].port), ids


SERVER_KINDS = pytest.mark.parametrize(
    "smtp", [False, True], indirect=True, ids=["lockstep", "pipelining"]
)


def envelope_in_one_read(recorder: Recorder) -> bool:
    """Did a client's MAIL FROM, RCPT TO and DATA arrive in one read (pipelined)?"""
    return any(
        b"MAIL FROM:" in c and b"RCPT TO:" in c and c.endswith(b"DATA\r\n") for c in recorder.chunks
    )


@SERVER_KINDS
def test_each_active_subscriber_gets_one_complete_message(
    engine: Engine, world: tuple[Settings, dict[str, int]], smtp: tuple[Controller, Recorder]
) -> None:
    settings, ids = world
    result = send_stage(engine, settings, WEEK, signer=SIGNER)
    assert (result.sent, result.skipped, result.failed, result.bounced) == (3, 0, 0, 0)
    assert result.summary() == f"sent {WEEK}: 3 sent, 0 skipped, 0 failed, 0 bounced"
    recorder = smtp[1]
    active = ["ann@example.org", "bob@example.org", "mal@example.org"]
    assert recorder.count_by_rcpt() == Counter(active)
    for (mail_from, rcpts, _), msg in zip(recorder.messages, recorder.parsed(), strict=True):
        assert mail_from == "news@example.org"
        check_message(msg, ids[rcpts[0]], rcpts[0])
        assert msg["Content-Transfer-Encoding"] is None
        assert {p["Content-Transfer-Encoding"] for p in msg.iter_parts()} == {"8bit"}
    rows = deliveries(engine)
    assert sorted(rows) == sorted(ids[a] for a in active)
    assert all(d.status == "sent" and d.attempts == 1 and d.sent_at for d in rows.values())
    with session(engine) as s:
        issue = s.get(Issue, WEEK)
        assert issue is not None and issue.status == "sent"

    again = send_stage(engine, settings, WEEK, signer=SIGNER)  # a rerun sends nothing
    assert (again.sent, again.skipped, again.failed) == (0, 3, 0)
    assert len(recorder.messages) == 3
    assert envelope_in_one_read(recorder) is recorder.pipelining


def test_hostile_title_and_name_cannot_add_headers(
    engine: Engine, world: tuple[Settings, dict[str, int]], smtp: tuple[Controller, Recorder]
) -> None:
    settings, _ = world
    hostile = settings.with_values({"newsletter_title": "AI\r\nBcc: evil@x\r\n\r\nbody"})
    send_stage(engine, hostile, WEEK, signer=SIGNER)
    for (_, rcpts, raw), msg in zip(smtp[1].messages, smtp[1].parsed(), strict=True):
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert not re.search(rb"(?im)^(bcc|body)", head)
        assert "Bcc" not in msg and msg.defects == []
        assert msg["Subject"].startswith("AI Bcc: evil@x body — week of")
        assert msg["List-Id"] == '"AI Bcc: evil@x body" <newsletter.news.example.org>'
        assert len(msg["To"].addresses) == 1
        assert rcpts == [msg["To"].addresses[0].addr_spec]
    mal = next(m for m in smtp[1].parsed() if "mal@" in str(m["To"]))
    assert mal["To"].addresses[0].display_name == "Mallory Bcc: evil@x"


def test_only_active_at_claim_time_are_sent(
    engine: Engine, world: tuple[Settings, dict[str, int]], smtp: tuple[Controller, Recorder]
) -> None:
    """Bob unsubscribes while Ann's message is on its way: his row was already claimed (in
    the same batch), but the "sent" record checks he is still active, so his message is
    never terminated and his claim is withdrawn."""
    settings, ids = world

    def bob_leaves() -> None:
        assert stored_subscribers.unsubscribe(engine, ids["bob@example.org"]) is not None

    smtp[1].on_rcpt["ann@example.org"] = bob_leaves
    result = send_stage(engine, settings, WEEK, signer=SIGNER)
    assert smtp[1].count_by_rcpt() == Counter(["ann@example.org", "mal@example.org"])
    assert (result.sent, result.failed, result.remaining) == (2, 0, 0)
    assert ids["bob@example.org"] not in deliveries(engine)


@SERVER_KINDS
def test_retries_bounces_and_reconnects(
    engine: Engine, db_url: str, tmp_path: Path, smtp: tuple[Controller, Recorder]
) -> None:
    add_issue(engine)
    people = [f"p{i}@example.org" for i in range(6)]
    ids = add_subscribers(engine, [(a, "", "active") for a in people])
    recorder = smtp[1]
    recorder.refuse = {
        "p1@example.org": ["550 5.1.1 <p1@example.org>: no such user"],
        "p2@example.org": ["451 4.3.0 try again later"],
        "p3@example.org": ["drop"],
        "p4@example.org": ["554 5.7.1 rejected by policy"],
    }
    settings = make_settings(db_url, tmp_path, smtp[0].port, smtp_retries=2)
    result = send_stage(engine, settings, WEEK, signer=SIGNER, retry_base=0.01)
    assert (result.sent, result.failed, result.bounced, result.remaining) == (4, 1, 1, 0)
    assert recorder.count_by_rcpt() == Counter(
        ["p0@example.org", "p2@example.org", "p3@example.org", "p5@example.org"]
    )
    rows = deliveries(engine)
    gone, policy_refused = rows[ids["p1@example.org"]], rows[ids["p4@example.org"]]
    assert gone.status == "failed" and "5.1.1" in (gone.error or "")
    assert subscriber(engine, ids["p1@example.org"]).status == "bounced"
    assert subscriber(engine, ids["p1@example.org"]).bounced_at is not None
    assert policy_refused.status == "failed" and "5.7.1" in (policy_refused.error or "")
    assert subscriber(engine, ids["p4@example.org"]).status == "active"
    assert rows[ids["p2@example.org"]].attempts == 2
    assert rows[ids["p3@example.org"]].attempts == 2
    assert all(rows[ids[a]].status == "sent" for a in ("p0@example.org", "p2@example.org"))

    # A rerun tries the failed delivery again (not the bounced address) and sends nothing twice.
    again = send_stage(engine, settings, WEEK, signer=SIGNER, retry_base=0.01)
    assert (again.sent, again.skipped, again.failed, again.bounced) == (1, 4, 0, 0)
    assert recorder.count_by_rcpt()["p4@example.org"] == 1
    assert max(recorder.count_by_rcpt().values()) == 1
    assert envelope_in_one_read(recorder) is recorder.pipelining


def test_a_server_gone_for_good_stops_the_batch_for_a_rerun(
    engine: Engine, db_url: str, tmp_path: Path, smtp: tuple[Controller, Recorder]
) -> None:
    add_issue(engine)
    ids = add_subscribers(engine, [(f"p{i}@example.org", "", "active") for i in range(5)])
    controller, recorder = smtp

    def server_goes_away() -> None:  # stop listening, drop the session
        assert controller.server is not None
        controller.server.close()

    recorder.on_rcpt["p2@example.org"] = server_goes_away
    recorder.refuse = {"p2@example.org": ["drop"]}
    settings = make_settings(db_url, tmp_path, controller.port, smtp_retries=1)
    result = send_stage(engine, settings, WEEK, signer=SIGNER, retry_base=0.01)
    assert (result.sent, result.failed, result.remaining) == (2, 0, 3)
    assert "cannot use the SMTP server" in result.stopped
    assert result.summary().endswith("0 failed, 0 bounced, 3 remaining")
    rows = deliveries(engine)
    assert rows[ids["p2@example.org"]].status == "sending"  # claimed, never terminated
    assert ids["p3@example.org"] not in rows
    with session(engine) as s:
        issue = s.get(Issue, WEEK)
        assert issue is not None and issue.status == "rendered"


def test_transient_failure_gives_up_after_the_retries(
    engine: Engine, db_url: str, tmp_path: Path, smtp: tuple[Controller, Recorder]
) -> None:
    add_issue(engine)
    ids = add_subscribers(engine, [("slow@example.org", "", "active")])
    smtp[1].refuse = {"slow@example.org": ["452 4.2.2 mailbox full"] * 5}
    settings = make_settings(db_url, tmp_path, smtp[0].port, smtp_retries=1)
    result = send_stage(engine, settings, WEEK, signer=SIGNER, retry_base=0.01)
    assert (result.sent, result.failed, result.bounced) == (0, 1, 0)
    row = deliveries(engine)[ids["slow@example.org"]]
    assert row.status == "failed" and row.attempts == 2
    assert "gave up after 2 attempts" in (row.error or "")


def test_quoted_printable_without_8bitmime(engine: Engine, db_url: str, tmp_path: Path) -> None:
    recorder = Recorder()
    with smtp_server(recorder, decode_data=True) as controller:
        add_issue(engine)
        ids = add_subscribers(engine, [("zoe@example.org", "Zoë Müller", "active")])
        settings = make_settings(db_url, tmp_path, controller.port)
        send_stage(engine, settings, WEEK, signer=SIGNER)
    [msg] = recorder.parsed()
    assert {p["Content-Transfer-Encoding"] for p in msg.iter_parts()} == {"quoted-printable"}
    raw = recorder.messages[0][2]
    assert isinstance(raw, str) and raw.isascii()
    body = raw.split("\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split("\r\n")) <= 76
    check_message(msg, ids["zoe@example.org"], "zoe@example.org")
    assert msg["To"].addresses[0].display_name == "Zoë Müller"


def test_an_unusable_address_fails_only_its_delivery(
    engine: Engine, world: tuple[Settings, dict[str, int]], smtp: tuple[Controller, Recorder]
) -> None:
    settings, _ = world
    ids = add_subscribers(engine, [("zoë@example.org", "", "active")])
    result = send_stage(engine, settings, WEEK, signer=SIGNER)
    assert (result.sent, result.failed, result.bounced) == (3, 1, 0)
    row = deliveries(engine)[ids["zoë@example.org"]]
    assert row.status == "failed" and "not a plain ASCII address" in (row.error or "")
    assert len(smtp[1].messages) == 3


def test_templates_and_links_are_checked(
    engine: Engine, world: tuple[Settings, dict[str, int]], tmp_path: Path
) -> None:
    settings, _ = world
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "newsletter.txt.j2").write_text("{{ title }}: no way out\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="does not show `unsubscribe_url`"):
        send_stage(engine, settings.with_values({"templates_dir": mine}), WEEK, signer=SIGNER)
    spaced = settings.with_values({"public_url": "https://news.example.org/a b/"})
    with pytest.raises(ConfigError, match="public_url"):
        send_stage(engine, spaced, WEEK, signer=SIGNER)
    assert deliveries(engine) == {}


@pytest.mark.parametrize(
    ("stage", "code", "text", "gone"),
    [
        ("RCPT TO", 550, b"5.1.1 no such user", True),
        ("RCPT TO", 550, b"no such user", True),
        ("RCPT TO", 551, b"user not local", True),
        ("RCPT TO", 553, b"mailbox name not allowed", True),
        ("RCPT TO", 550, b"5.7.1 rejected by policy", False),
        ("RCPT TO", 553, b"5.1.8 sender domain does not exist", False),
        ("RCPT TO", 554, b"transaction failed", False),
        ("end of DATA", 550, b"5.1.1 unknown user", True),
        ("end of DATA", 550, b"message rejected", False),
        ("MAIL FROM", 550, b"5.1.1 no", False),
    ],
)
def test_which_refusals_mean_the_mailbox_is_gone(
    stage: str, code: int, text: bytes, gone: bool
) -> None:
    from pipeline.mail.smtp import SMTPReply as _Reply

    assert _Reply(stage, code, text).mailbox_gone is gone


def test_dot_stuffing_matches_smtplib() -> None:
    import smtplib

    data = b".first\r\nmiddle\r\n.\r\n..two\r\nend.\r\n"
    assert dot_stuffed(data) == b"..first\r\nmiddle\r\n..\r\n...two\r\nend.\r\n"
    assert dot_stuffed(data) == smtplib._quote_periods(data)  # type: ignore[attr-defined]


def test_list_id_setting(tmp_path: Path, db_url: str) -> None:
    s = make_settings(db_url, tmp_path, 25, list_id="Team news <team.news.example.org>")
    assert list_id(s) == '"Team news" <team.news.example.org>'
    s = make_settings(db_url, tmp_path, 25, list_id="team.example.org")
    assert list_id(s) == "<team.example.org>"
    s = make_settings(db_url, tmp_path, 25, newsletter_title='Zoë "news"')
    assert list_id(s).startswith("=?utf-8?") and list_id(s).endswith(
        " <newsletter.news.example.org>"
    )
    with pytest.raises(ConfigError, match="list_id"):
        list_id(make_settings(db_url, tmp_path, 25, list_id="no id here"))


def test_a_second_sender_stops_at_once(
    engine: Engine, world: tuple[Settings, dict[str, int]], smtp: tuple[Controller, Recorder]
) -> None:
    settings, _ = world
    with hold(engine, week_lock(WEEK), command="send"):
        with pytest.raises(LockHeld, match=f"{WEEK} is being built by `send`"):
            send_stage(engine, settings, WEEK, signer=SIGNER)
    assert smtp[1].messages == [] and deliveries(engine) == {}


# -- the command ---------------------------------------------------------------------------------


@pytest.fixture
def cli_env(
    world: tuple[Settings, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    settings, _ = world
    values = {
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_DATABASE_URL": settings.database_url,
        "NEWSLETTER_OUTPUT_DIR": str(settings.output_dir),
        "NEWSLETTER_CACHE_DIR": str(settings.cache_dir),
        "NEWSLETTER_PUBLIC_URL": PUBLIC,
        "NEWSLETTER_NEWSLETTER_TITLE": "AI papers",
        "NEWSLETTER_SMTP_HOST": "127.0.0.1",
        "NEWSLETTER_SMTP_PORT": str(settings.smtp.port),
        "NEWSLETTER_FROM": "AI papers <news@example.org>",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def test_cli_send_and_partial_failure_exit_code(
    engine: Engine, cli_env: dict[str, str], smtp: tuple[Controller, Recorder]
) -> None:
    smtp[1].refuse = {"bob@example.org": ["554 5.7.1 no"]}
    output = invoke("send", WEEK, code=3)
    assert f"sent {WEEK}: 2 sent, 0 skipped, 1 failed, 0 bounced" in output
    assert invoke("send", WEEK).strip().endswith("1 sent, 2 skipped, 0 failed, 0 bounced")
    assert smtp[1].count_by_rcpt() == Counter(
        ["ann@example.org", "bob@example.org", "mal@example.org"]
    )


def test_cli_a_second_sender_exits_75_naming_the_holder(
    engine: Engine, cli_env: dict[str, str], smtp: tuple[Controller, Recorder]
) -> None:
    """Another process holds the issue's run lock (a sender, or a run re-rendering it)."""
    with hold(engine, week_lock(WEEK), command="send"):
        output = invoke("send", WEEK, code=75)
    [line] = output.strip().splitlines()
    holder = f"{socket.gethostname()}:{os.getpid()}"
    assert line.startswith(f"error: {WEEK} is being built by `send` ({holder}, heartbeat"), line
    assert smtp[1].messages == [] and deliveries(engine) == {}
    assert invoke("send", WEEK).strip().endswith("3 sent, 0 skipped, 0 failed, 0 bounced")


def test_status_shows_the_send_run(
    engine: Engine, cli_env: dict[str, str], smtp: tuple[Controller, Recorder]
) -> None:
    smtp[1].refuse = {"bob@example.org": ["554 5.7.1 no"]}
    invoke("send", WEEK, code=3)
    status = invoke("status")
    assert f"send      {WEEK} partial" in status, status
    assert "sent 2, skipped 0, failed 1, bounced 0, remaining 0" in status, status
    invoke("send", WEEK)
    status = invoke("status")
    assert f"send      {WEEK} ok" in status and "sent 1, skipped 2, failed 0" in status, status


def test_cli_dry_run_writes_eml_files_and_claims_nothing(
    engine: Engine,
    cli_env: dict[str, str],
    smtp: tuple[Controller, Recorder],
    world: tuple[Settings, dict[str, int]],
    tmp_path: Path,
) -> None:
    _, ids = world
    output = invoke("send", WEEK, "--dry-run")
    outbox = Path(cli_env["NEWSLETTER_OUTPUT_DIR"]) / "issues" / WEEK / "outbox"
    assert f"dry run {WEEK}: 3 messages written to {outbox}" in output
    files = sorted(outbox.glob("*.eml"))
    assert [f.name for f in files] == [
        f"{ids['ann@example.org']:06d}-ann@example.org.eml",
        f"{ids['bob@example.org']:06d}-bob@example.org.eml",
        f"{ids['mal@example.org']:06d}-mal@example.org.eml",
    ]
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        addr = msg["To"].addresses[0].addr_spec
        check_message(msg, ids[addr], addr)  # type: ignore[arg-type]
    assert smtp[1].messages == [] and deliveries(engine) == {}
    invoke("send", WEEK, "--outbox", str(tmp_path / "box"))
    assert len(list((tmp_path / "box").glob("*.eml"))) == 3
    assert smtp[1].messages == [] and deliveries(engine) == {}


def test_cli_to_sends_one_unrecorded_test_copy(
    engine: Engine, cli_env: dict[str, str], smtp: tuple[Controller, Recorder]
) -> None:
    output = invoke("send", WEEK, "--to", "Tess Ter <tess@example.org>")
    assert f"sent a test copy of {WEEK} to Tess Ter <tess@example.org>" in output
    [(_, rcpts, _)] = smtp[1].messages
    assert rcpts == ["tess@example.org"]
    [msg] = smtp[1].parsed()
    url = re.fullmatch(r"<(\S+)>", msg["List-Unsubscribe"])
    assert url and SIGNER.check_unsubscribe(token_of(url.group(1), "unsubscribe")) == 0
    assert ".test." in msg["Message-ID"]
    assert deliveries(engine) == {}


def test_cli_user_errors_are_one_line(
    engine: Engine, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    output = invoke("send", "2026-W30", code=1)
    assert "no issue 2026-W30 yet" in output and len(output.strip().splitlines()) == 1
    output = invoke("send", WEEK, "--to", "x@example.org", "--dry-run", code=1)
    assert "give one" in output
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    output = invoke("send", WEEK, code=2)
    assert "NEWSLETTER_SECRET_KEY" in output and len(output.strip().splitlines()) == 1
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    monkeypatch.setenv("NEWSLETTER_SMTP_PORT", str(free_port()))  # nobody listens
    output = invoke("send", WEEK, code=1)
    assert "cannot use the SMTP server" in output
    assert deliveries(engine) == {}


# -- kill -9 in the middle, then rerun ------------------------------------------------------------


def test_sigkill_mid_batch_then_rerun_sends_each_exactly_once(
    engine: Engine, db_url: str, tmp_path: Path, smtp: tuple[Controller, Recorder]
) -> None:
    add_issue(engine)
    people = [(f"reader{i:03d}@example.org", f"Reader {i}", "active") for i in range(300)]
    people += [("left@example.org", "", "unsubscribed")]
    ids = add_subscribers(engine, people)
    env = sender_env(
        db_url, tmp_path, smtp[0].port, NEWSLETTER_PUBLIC_URL=PUBLIC, NEWSLETTER_SMTP_RATE="60"
    )
    command = [sys.executable, "-m", "pipeline.cli", "send", WEEK]
    recorder = smtp[1]
    first = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(recorder.messages) < 100:
        assert first.poll() is None, "the sender ended before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = len(recorder.messages)
    assert 100 <= before < 300

    env["NEWSLETTER_SMTP_RATE"] = "0"
    rerun = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    match = re.search(r"(\d+) sent, (\d+) skipped, 0 failed, 0 bounced", rerun.stdout)
    assert match, rerun.stdout
    assert int(match.group(1)) + int(match.group(2)) == 300
    assert int(match.group(1)) == 300 - before  # the killed run's claimed-not-sent rows too

    counts = recorder.count_by_rcpt()
    assert counts == Counter(e for e, _, st in people if st == "active")  # one copy each
    rows = deliveries(engine)
    assert len(rows) == 300 and {d.status for d in rows.values()} == {"sent"}
    assert ids["left@example.org"] not in rows
    ids_by_message = Counter(m["Message-ID"] for m in recorder.parsed())
    assert max(ids_by_message.values()) == 1


@pytest.mark.sqlite_only(reason="stops the sender by holding SQLite's database write lock")
def test_sigkill_between_body_and_terminator_loses_nothing(
    engine: Engine, db_url: str, tmp_path: Path, smtp: tuple[Controller, Recorder]
) -> None:
    """The worst moment: the body is on the server, the terminator not.  The test holds the
    database's write lock from RCPT of reader010 on, so the sender blocks on its "sent" commit
    with the body sent; killed there, the server drops the unterminated message and the rerun
    sends it."""
    add_issue(engine)
    people = [(f"reader{i:03d}@example.org", "", "active") for i in range(30)]
    ids = add_subscribers(engine, people)
    held: list[sqlite3.Connection] = []

    def lock_database() -> None:
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        held.append(conn)

    smtp[1].on_rcpt["reader010@example.org"] = lock_database
    env = sender_env(db_url, tmp_path, smtp[0].port)
    command = [sys.executable, "-m", "pipeline.cli", "send", WEEK]
    first = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not held:
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(1.0)  # DATA and the body go out; the "sent" commit waits for the lock
    first.send_signal(signal.SIGKILL)
    first.wait()
    held[0].rollback()
    held[0].close()
    assert len(smtp[1].messages) == 10
    assert deliveries(engine)[ids["reader010@example.org"]].status == "sending"

    rerun = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert "20 sent, 10 skipped, 0 failed" in rerun.stdout
    assert smtp[1].count_by_rcpt() == Counter(e for e, _, _ in people)
    assert {d.status for d in deliveries(engine).values()} == {"sent"}
