"""The weekly job with --send, the way an editor runs it: subscribers added with the CLI,
`run --week W --send` against local arXiv / OpenAI-compatible / SMTP servers."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.helpers import Recorder, free_port, invoke

WEEK = "2026-W25"


def test_run_send_mails_each_active_subscriber_once(env: dict[str, str], mailbox: Recorder) -> None:
    invoke("subscribers", "add", "Ann@Example.org", "--name", "Ann")
    invoke("subscribers", "add", "bob@example.org")
    invoke("subscribers", "remove", "bob@example.org")
    out = invoke("run", "--week", WEEK, "--send")
    assert f"sent {WEEK}: 1 sent, 0 skipped, 0 failed, 0 bounced" in out
    again = invoke("run", "--week", WEEK, "--send")
    assert f"sent {WEEK}: 0 sent, 1 skipped" in again
    status = invoke("status")
    assert "sent 1 of 1" in status
    assert "send      2026-W25 ok" in status and "sent 0, skipped 1" in status
    assert [rcpts for _, rcpts, _ in mailbox.messages] == [["ann@example.org"]]
    raw = mailbox.messages[0][2]
    msg = email.message_from_bytes(
        raw if isinstance(raw, bytes) else raw.encode(), policy=policy.default
    )
    assert isinstance(msg, EmailMessage)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = msg.get_body(("html",))
    assert html is not None and "Highlights" in html.get_content()


def test_run_send_over_several_connections(
    env: dict[str, str], mailbox: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --send --workers 3` shares 150 subscribers (three claims' worth) among three
    SMTP connections; the smtp_workers setting does the same for a plain `run --send`."""
    people = tmp_path / "people.csv"
    people.write_text(
        "email\n" + "".join(f"r{i}@example.org\n" for i in range(150)), encoding="utf-8"
    )
    invoke("subscribers", "import", str(people))
    out = invoke("run", "--week", WEEK, "--send", "--workers", "3")
    assert f"sent {WEEK}: 150 sent, 0 skipped, 0 failed" in out
    assert len(mailbox.peers) == 3  # three connections carried messages
    assert sorted(mailbox.count_by_rcpt().values()) == [1] * 150

    invoke("subscribers", "add", "late@example.org")
    monkeypatch.setenv("NEWSLETTER_SMTP_WORKERS", "2")
    again = invoke("run", "--week", WEEK, "--send")
    assert f"sent {WEEK}: 1 sent, 150 skipped" in again
    assert mailbox.count_by_rcpt()["late@example.org"] == 1

    error = invoke("run", "--week", WEEK, "--workers", "2", code=1)
    assert error.strip() == "error: --workers sets the connections of --send: give --send too"


def test_a_failed_run_sends_nothing(
    env: dict[str, str], mailbox: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue is rendered and has a subscriber; then a run with --send fails at its fetch
    (arXiv unreachable): it stops there and nobody gets the issue."""
    invoke("run", "--week", WEEK)
    invoke("subscribers", "add", "ann@example.org")
    monkeypatch.setenv("NEWSLETTER_ARXIV_URL", f"http://127.0.0.1:{free_port()}/api/query")
    monkeypatch.setenv("NEWSLETTER_ARXIV_RETRIES", "0")
    out = invoke("run", "--week", WEEK, "--send", code=1)
    assert "sent" not in out and len(out.strip().splitlines()) == 1, out
    assert mailbox.messages == []
    status = invoke("status")
    assert "not sent (1 active subscribers)" in status and "send      " not in status, status
    assert "fetch     -        failed" in status and "cannot reach the arXiv API" in status


def test_a_partial_run_is_sent_and_exits_3(env: dict[str, str], mailbox: Recorder) -> None:
    """Some summaries over budget (those papers show their abstract): the issue is complete
    and is sent, and the exit code says the run was partial."""
    invoke("subscribers", "add", "ann@example.org")
    prices = '--set=llm_prices={"test-model": [1000, 1000]}'
    out = invoke(prices, "run", "--week", WEEK, "--send", "--budget", "0.5", code=3)
    assert "over budget" in out and f"sent {WEEK}: 1 sent, 0 skipped, 0 failed" in out
    assert [rcpts for _, rcpts, _ in mailbox.messages] == [["ann@example.org"]]
