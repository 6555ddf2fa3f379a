"""The weekly job with --send, the way an editor runs it: subscribers added with the CLI,
`run --week W --send` against local arXiv / OpenAI-compatible / SMTP servers."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from tests.helpers import Recorder, invoke, smtp_env

WEEK = "2026-W25"


def test_run_send_mails_each_active_subscriber_once(
    env: dict[str, str], smtp: tuple[Controller, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, recorder = smtp
    for key, value in smtp_env(controller.port).items():
        monkeypatch.setenv(key, value)
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
    assert [rcpts for _, rcpts, _ in recorder.messages] == [["ann@example.org"]]
    raw = recorder.messages[0][2]
    msg = email.message_from_bytes(
        raw if isinstance(raw, bytes) else raw.encode(), policy=policy.default
    )
    assert isinstance(msg, EmailMessage)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = msg.get_body(("html",))
    assert html is not None and "Highlights" in html.get_content()
