"""Approval: with `approval = "required"` an issue is built but not sent until the editor
approves it; approving writes missing texts and re-renders first; a later edit clears it.
The CLI path, against local arXiv / OpenAI-compatible servers and a real SMTP server."""

from __future__ import annotations

import email
import logging
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from pipeline.config import load_settings
from pipeline.desk import compose, review
from pipeline.desk.approval import approve
from pipeline.store import editor
from pipeline.store.issues import HIGHLIGHT, load_issue
from pipeline.wiring import pipeline_for
from tests.desk_helpers import WEEK, built_week, issue_files
from tests.helpers import Recorder, invoke, smtp_env


def parsed(raw: bytes | str) -> EmailMessage:
    msg = email.message_from_bytes(
        raw if isinstance(raw, bytes) else raw.encode(), policy=policy.default
    )
    assert isinstance(msg, EmailMessage)
    return msg


def text_part(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


@pytest.fixture
def required(
    env: dict[str, str], smtp: tuple[Controller, Recorder], monkeypatch: pytest.MonkeyPatch
) -> Recorder:
    controller, recorder = smtp
    for key, value in smtp_env(controller.port, NEWSLETTER_APPROVAL="required").items():
        monkeypatch.setenv(key, value)
    invoke("subscribers", "add", "ann@example.org")
    invoke("subscribers", "add", "bob@example.org")
    return recorder


def test_send_waits_for_approve_and_delivers_the_pinned_paper_first(required: Recorder) -> None:
    built = invoke("run", "--week", WEEK)
    assert f"issue {WEEK} awaits approval: review it at http://127.0.0.1:8000/desk/{WEEK}" in built
    with built_week() as engine:
        low = review.candidates(engine, WEEK)[-1].id  # the ranker's last: in no section
        title = next(v.title for v in review.candidates(engine, WEEK) if v.id == low)
    status = invoke("status")
    assert "awaiting approval" in status
    refused = invoke("send", WEEK, code=1)
    assert refused.count("\n") <= 1 and f"`newsletter approve {WEEK}`" in refused
    assert "awaiting approval" in invoke("run", "--week", WEEK, "--send", code=1)
    assert required.messages == []
    page = Path("out/site/issues") / WEEK / "index.html"
    assert not page.exists()  # not on the public archive either
    assert WEEK not in Path("out/site/index.html").read_text()

    assert f"pinned {low} in {WEEK}" in invoke("pin", WEEK, low, "--position", "1")
    out = invoke("approve", WEEK, "--author", "ed")
    # the pinned paper's summary, and a one-liner for the highlight it pushed to "also"
    assert f"approved {WEEK} (2 texts written, re-rendered)" in out
    assert "approved by ed" in invoke("status")
    assert page.exists() and WEEK in Path("out/site/index.html").read_text()
    md = issue_files()["newsletter.md"].decode()
    assert md.index(low) < md.index("### 2.")  # rendered again with the pin first

    assert f"sent {WEEK}: 2 sent, 0 skipped" in invoke("send", WEEK)
    assert sorted(r for _, rcpts, _ in required.messages for r in rcpts) == [
        "ann@example.org",
        "bob@example.org",
    ]
    body = text_part(parsed(required.messages[0][2]))
    highlights = body.replace("\r\n", "\n").split("Highlights\n", 1)[1]
    assert highlights.lstrip("=\n").startswith("1. " + " ".join(title.split()[:3]))


def test_an_edit_after_approval_clears_it(required: Recorder) -> None:
    with built_week() as engine:
        hl = next(v for v in review.candidates(engine, WEEK) if v.section == HIGHLIGHT)
        invoke("approve", WEEK)
        assert review.approval_state(engine, load_settings(), WEEK) == "approved"
        compose.edit(engine, WEEK, f"summary:{hl.id}", "Better words.", author="ed")
        assert review.approval_state(engine, load_settings(), WEEK) == "awaiting approval"
        invoke("send", WEEK, code=1)
        out = invoke("approve", WEEK)
        assert "0 texts written, re-rendered" in out
        assert "Better words." in issue_files()["newsletter.txt"].decode()
        again = invoke("approve", WEEK)
        assert "0 texts written, files unchanged" in again
    invoke("send", WEEK)
    assert len(required.messages) == 2
    assert all("Better words." in text_part(parsed(raw)) for _, _, raw in required.messages)


def test_approve_writes_only_missing_texts(env: dict[str, str]) -> None:
    with built_week() as engine:
        low = review.candidates(engine, WEEK)[-1].id
        compose.pin(engine, WEEK, low, author="ed")
        settings = load_settings()
        with pipeline_for(settings) as p:
            done = approve(p, WEEK, author="ed")
        # its summary, and a one-liner for the highlight it pushed down to "also"
        assert (done.texts_written, done.rendered) == (2, True)
        _issue, items = load_issue(engine, WEEK)
        assert all(i.summary is not None for i in items if i.item.section == HIGHLIGHT)
        issue = editor.get_issue(engine, WEEK)
        assert issue is not None and issue.approved_by == "ed" and not issue.stale
        # with approval = "auto" the state is "not required", and send never refuses
        assert review.approval_state(engine, settings, WEEK) == "not required"


def test_the_scheduled_run_emails_the_editor_a_desk_link(
    env: dict[str, str], smtp: tuple[Controller, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.schedule_job import weekly_run

    controller, recorder = smtp
    for key, value in smtp_env(controller.port).items():
        monkeypatch.setenv(key, value)
    invoke("subscribers", "add", "ann@example.org")
    weekly_run(
        None,
        {
            "approval": "required",
            "editor_email": "Ed <ed@example.org>",
            "schedule_send": "true",
            "public_url": "https://news.example.org/",
        },
    )
    assert [rcpts for _, rcpts, _ in recorder.messages] == [["ed@example.org"]]
    msg = parsed(recorder.messages[0][2])
    assert "awaits your approval" in str(msg["Subject"])
    body = msg.get_content()
    assert "https://news.example.org/desk/2026-W" in body and "newsletter approve" in body


def test_without_editor_email_one_log_line_says_where_the_issue_waits(
    env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    from pipeline.schedule_job import weekly_run

    with caplog.at_level(logging.WARNING, logger="pipeline.mail.editor"):
        weekly_run(None, {"approval": "required"})
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.mail.editor"]
    assert len(lines) == 1
    assert "awaits approval at http://127.0.0.1:8000/desk/" in lines[0]
    assert "no editor_email is set" in lines[0]


def test_a_rank_that_changes_the_issue_clears_the_approval(required: Recorder) -> None:
    with built_week() as engine:
        settings = load_settings()
        invoke("approve", WEEK)
        invoke("rank", "--week", WEEK)  # the same papers in the same places: still approved
        assert review.approval_state(engine, settings, WEEK) == "approved"
        invoke("--set", "highlights=2", "rank", "--week", WEEK)
        assert review.approval_state(engine, settings, WEEK) == "awaiting approval"
