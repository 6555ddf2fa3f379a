"""The web endpoints of `newsletter serve` over real HTTP: double opt-in subscription with the
confirmation email caught by a real SMTP server, RFC 8058 one-click unsubscribe, feedback
clicks, bad tokens, escaping, and the subscribe form driven in headless Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Engine
from sqlmodel import Session, select

from pipeline.config import load_settings
from pipeline.errors import BadToken
from pipeline.mail import subscribers as mailing_list
from pipeline.mail.tokens import Signer
from pipeline.store import subscribers
from pipeline.store.models import Feedback, FeedbackClick, Subscriber
from pipeline.web.app import create_app
from tests.chromium import BROWSER_FLAGS, CHROMIUM
from tests.factories import paper
from tests.helpers import Recorder, free_port, smtp_server

SECRET = "test-secret-key-0123456789abcdef"
PAPER_ID = "2606.00042"
HOSTILE_TITLE = '<script>alert("x")</script> & <b>bold</b> claims'
SECURITY = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
def mailbox() -> Iterator[tuple[Recorder, int]]:
    box = Recorder()
    with smtp_server(box) as controller:
        yield box, controller.port


@dataclass
class Web:
    url: str
    engine: Engine
    signer: Signer
    box: Recorder
    server: uvicorn.Server = field(repr=False)

    def subscriber(self, address: str) -> Subscriber | None:
        with Session(self.engine) as s:
            return s.exec(select(Subscriber).where(Subscriber.email == address)).first()

    def status(self, address: str) -> str | None:
        row = self.subscriber(address)
        return None if row is None else row.status

    def rows(self, model: type[Any]) -> list[Any]:
        with Session(self.engine) as s:
            return list(s.exec(select(model)).all())


def serve(tmp_path: Path, engine: Engine, db_url: str, box: Recorder, smtp_port: int) -> Web:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text("<h1>archive</h1>")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    settings = load_settings(
        None,
        {
            "public_url": url,
            "database_url": db_url,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_timeout_seconds": 5,
            "smtp_from": "AI papers <news@example.org>",
            "newsletter_title": "AI <papers> & more",
        },
    )
    signer = Signer(SECRET)
    app = create_app(site, engine=engine, settings=settings, signer=signer)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    return Web(url, engine, signer, box, server)


@pytest.fixture
def web(
    tmp_path: Path, engine: Engine, db_url: str, mailbox: tuple[Recorder, int]
) -> Iterator[Web]:
    w = serve(tmp_path, engine, db_url, *mailbox)
    yield w
    w.server.should_exit = True


def active(web: Web, address: str) -> int:
    row, _ = mailing_list.add(web.engine, address, status="active")
    assert row.id is not None
    return row.id


def check_page(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    for name, value in SECURITY.items():
        assert response.headers[name] == value
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp
    assert '<meta name="robots" content="noindex">' in response.text
    assert "AI &lt;papers&gt; &amp; more" in response.text  # the title, escaped
    return response.text


def link_in(msg: EmailMessage, path: str) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    found = re.search(rf"(http://\S+/{path}\?t=\S+)", body.get_content())
    assert found, body.get_content()
    return found.group(1)


# -- subscribe ------------------------------------------------------------------------------


def test_double_opt_in_over_http(web: Web) -> None:
    form = httpx.get(web.url + "subscribe")
    assert 'name="email"' in check_page(form, 200)
    done = httpx.post(web.url + "subscribe", data={"email": " Reader@Example.ORG ", "name": "Ann"})
    assert "Check your inbox" in check_page(done, 200)
    row = web.subscriber("reader@example.org")
    assert row is not None and (row.status, row.name, row.source) == ("pending", "Ann", "web")

    [msg] = web.box.parsed()
    assert msg["To"] == "reader@example.org"
    assert msg["From"] == "AI papers <news@example.org>"
    assert msg["Subject"] == "Confirm your subscription to AI <papers> & more"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert "Ann" not in msg.get_content()  # nothing typed in the form but the address
    confirm = link_in(msg, "confirm")
    assert confirm.startswith(web.url + "confirm?t=")
    page = check_page(httpx.get(confirm), 200)
    assert "You&#39;re subscribed" in page and "reader@example.org" in page
    row = web.subscriber("reader@example.org")
    assert row is not None and row.status == "active" and row.confirmed_at is not None
    assert "You&#39;re subscribed" in httpx.get(confirm).text  # a second click is harmless
    assert row.id is not None
    subscribers.unsubscribe(web.engine, row.id)  # left since: the old link does not re-add
    assert "left the list" in check_page(httpx.get(confirm), 200)
    assert web.status("reader@example.org") == "unsubscribed"


def test_already_subscribed_gets_the_same_page_and_a_note(web: Web) -> None:
    first = httpx.post(web.url + "subscribe", data={"email": "new@example.org"})
    subscriber_id = active(web, "old@example.org")
    second = httpx.post(web.url + "subscribe", data={"email": "old@example.org"})
    assert second.status_code == first.status_code == 200
    assert second.text == first.text.replace("new@example.org", "old@example.org")
    assert web.status("old@example.org") == "active"
    note = web.box.parsed()[1]
    assert note["To"] == "old@example.org"
    assert note["Subject"] == "You are already subscribed to AI <papers> & more"
    assert "confirm?t=" not in note.get_content()
    token = link_in(note, "unsubscribe").partition("?t=")[2]
    assert web.signer.check_unsubscribe(token) == subscriber_id


def test_sign_up_emails_are_rate_limited(web: Web) -> None:
    for _ in range(3):
        ok = httpx.post(web.url + "subscribe", data={"email": "target@example.org"})
        assert ok.status_code == 200
    refused = httpx.post(web.url + "subscribe", data={"email": "target@example.org"})
    assert refused.status_code == 429 and "try again in a while" in refused.text
    assert 3000 < int(refused.headers["Retry-After"]) <= 3601
    assert len(web.box.messages) == 3  # nobody can flood a mailbox through the form
    other = httpx.post(web.url + "subscribe", data={"email": "other@example.org"})
    assert other.status_code == 200  # another address from the same client still works


def test_a_bad_address_is_refused_and_the_form_kept(web: Web) -> None:
    raw = '"><script>alert(1)</script>'
    page = check_page(
        httpx.post(web.url + "subscribe", data={"email": raw, "name": "<b>Bob</b>"}), 400
    )
    assert "Not an email address" in page
    assert "<script>" not in page and "<b>Bob" not in page
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert 'value="&lt;b&gt;Bob&lt;/b&gt;"' in page
    bad_name = httpx.post(web.url + "subscribe", data={"email": "a@example.org", "name": "A\x07"})
    assert "control character" in check_page(bad_name, 400)
    assert web.rows(Subscriber) == [] and web.box.messages == []


def test_smtp_down_gives_503_and_leaves_a_pending_row(
    tmp_path: Path, engine: Engine, db_url: str
) -> None:
    web = serve(tmp_path, engine, db_url, Recorder(), free_port())  # nothing listens there
    try:
        response = httpx.post(web.url + "subscribe", data={"email": "x@example.org"})
        page = check_page(response, 503)
        assert "could not send the confirmation email, try again later" in page
        assert web.status("x@example.org") == "pending"
    finally:
        web.server.should_exit = True


# -- unsubscribe ----------------------------------------------------------------------------


def test_one_click_unsubscribe_rfc8058(web: Web) -> None:
    subscriber_id = active(web, "leaving@example.org")
    url = f"{web.url}unsubscribe?t={web.signer.unsubscribe(subscriber_id)}"
    asked = check_page(httpx.get(url), 200)  # a link scanner's GET changes nothing
    assert 'method="post"' in asked and "leaving@example.org" in asked
    assert web.status("leaving@example.org") == "active"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    done = httpx.post(url, content=b"List-Unsubscribe=One-Click", headers=headers)
    assert "no more issues" in check_page(done, 200)
    row = web.subscriber("leaving@example.org")
    assert row is not None and row.status == "unsubscribed" and row.unsubscribed_at is not None
    again = httpx.post(url, content=b"List-Unsubscribe=One-Click", headers=headers)
    assert again.status_code == 200  # idempotent
    assert "nothing more to do" in check_page(httpx.get(url), 200)


def test_bad_links_are_refused_and_change_nothing(web: Web) -> None:
    subscriber_id = active(web, "stay@example.org")
    subscribers.subscribe_pending(web.engine, "wait@example.org")
    good = web.signer.unsubscribe(subscriber_id)
    tampered = good[:-3] + ("A" if good[-3] != "A" else "B") + good[-2:]
    foreign = Signer("another-secret-key-fedcba9876543210").unsubscribe(subscriber_id)
    wrong_purpose = web.signer.confirm("stay@example.org")
    for token in (tampered, foreign, wrong_purpose, "garbage", "x" * 5000):
        for method in ("GET", "POST"):
            page = check_page(httpx.request(method, f"{web.url}unsubscribe?t={token}"), 400)
            assert "This link is not valid" in page
    for path in ("unsubscribe", "confirm", "feedback"):
        assert "has no token" in check_page(httpx.get(web.url + path), 400)
    assert "has no token" in check_page(httpx.post(web.url + "unsubscribe"), 400)

    class LastWeek(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 8 * 24 * 3600

    expired = URLSafeTimedSerializer(
        SECRET, salt="arxiv-newsletter:confirm", signer=LastWeek
    ).dumps("wait@example.org")
    with pytest.raises(BadToken, match="expired"):
        web.signer.check_confirm(expired)
    page = check_page(httpx.get(f"{web.url}confirm?t={expired}"), 400)
    assert "This link has expired" in page and 'href="subscribe"' in page
    assert sorted((r.email, r.status) for r in web.rows(Subscriber)) == [
        ("stay@example.org", "active"),
        ("wait@example.org", "pending"),
    ]
    missing = web.signer.unsubscribe(9999)
    for method in ("GET", "POST"):
        page = check_page(httpx.request(method, f"{web.url}unsubscribe?t={missing}"), 404)
        assert "no longer on the list" in page
    ghost = web.signer.feedback(9999, "2026-W25", PAPER_ID, "like")
    assert check_page(httpx.get(f"{web.url}feedback?t={ghost}"), 404)
    nobody = web.signer.confirm("nobody@example.org")
    assert check_page(httpx.get(f"{web.url}confirm?t={nobody}"), 404)
    assert web.rows(FeedbackClick) == [] and web.rows(Feedback) == []


# -- feedback -------------------------------------------------------------------------------


def add_paper(engine: Engine, paper_id: str, title: str) -> None:
    with Session(engine) as s:
        s.add(paper(paper_id, title))
        s.commit()


def test_feedback_clicks(web: Web) -> None:
    add_paper(web.engine, PAPER_ID, HOSTILE_TITLE)
    ann, bob = active(web, "ann@example.org"), active(web, "bob@example.org")

    def click(who: int, signal: str, paper_id: str = PAPER_ID) -> str:
        token = web.signer.feedback(who, "2026-W25", paper_id, signal)
        return check_page(httpx.get(f"{web.url}feedback?t={token}"), 200)

    def state() -> tuple[list[tuple[int, str]], list[tuple[str, int, str, str]]]:
        clicks = sorted((c.subscriber_id, c.signal) for c in web.rows(FeedbackClick))
        rows = sorted((f.signal, f.value, f.source, f.title) for f in web.rows(Feedback))
        return clicks, rows

    page = click(ann, "like")
    assert "<script>" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold" in page
    assert "You liked" in page and "2026-W25" in page
    click(ann, "like")  # twice: recorded once
    assert state() == ([(ann, "like")], [("like", 1, "email", HOSTILE_TITLE)])
    click(ann, "dislike")  # the opposite click replaces Ann's like
    assert state() == ([(ann, "dislike")], [("dislike", -1, "email", HOSTILE_TITLE)])
    click(bob, "like")  # many readers, one feedback row: the latest click wins
    assert state() == ([(ann, "dislike"), (bob, "like")], [("like", 1, "email", HOSTILE_TITLE)])

    subscribers.unsubscribe(web.engine, bob)  # an old issue's link still counts
    assert "did not like" in click(bob, "dislike")
    assert state()[1] == [("dislike", -1, "email", HOSTILE_TITLE)]

    assert "2607.99999" in click(ann, "like", "2607.99999")  # a paper this database lacks
    with Session(web.engine) as s:
        unknown = s.exec(select(Feedback).where(Feedback.paper_id == "2607.99999")).one()
    assert (unknown.signal, unknown.value, unknown.title) == ("like", 1, "")


# -- the app without the endpoints; the browser ---------------------------------------------


def test_without_a_signer_only_the_archive_is_served(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>archive</h1>")
    app = create_app(site)
    assert [getattr(r, "path", None) for r in app.routes] == [""]
    with pytest.raises(ValueError, match="all of engine, settings and signer"):
        create_app(site, signer=Signer(SECRET))


def test_the_archive_stays_at_the_root(web: Web) -> None:
    assert httpx.get(web.url).text == "<h1>archive</h1>"
    assert httpx.get(web.url + "nothing-here").status_code == 404


def run_serve(tmp_path: Path, **env: str) -> tuple[int, str]:
    """`newsletter serve` in a subprocess: the status of GET /subscribe, and its stderr."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/subscribe").status_code
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            status = 0
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    return status, stderr


def test_serve_needs_the_secret_key_for_the_endpoints(tmp_path: Path) -> None:
    status, stderr = run_serve(tmp_path)
    assert status == 404
    assert "NEWSLETTER_SECRET_KEY is not set: serving the archive only" in stderr
    status, stderr = run_serve(
        tmp_path, NEWSLETTER_SECRET_KEY=SECRET, NEWSLETTER_FROM="news@example.org"
    )
    assert status == 200 and "warning" not in stderr
    status, stderr = run_serve(tmp_path, NEWSLETTER_SECRET_KEY="short")
    assert status == 0 and "NEWSLETTER_SECRET_KEY must be set" in stderr
    status, stderr = run_serve(tmp_path, NEWSLETTER_SECRET_KEY=SECRET)  # no From address
    assert status == 0 and "error: no From address" in stderr


CHROMIUM_ARGS = list(BROWSER_FLAGS)


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium")
def test_subscribe_and_unsubscribe_in_a_browser(web: Web) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(web.url + "subscribe")
            page.fill("#email", "browser@example.org")
            page.fill("#name", "Web Reader")
            page.click("button[type=submit]")
            page.wait_for_selector("text=Check your inbox")
            assert web.box.arrived.wait(10)
            [msg] = web.box.parsed()
            assert msg["To"] == "browser@example.org"

            page.goto(link_in(msg, "confirm"))
            page.wait_for_selector("text=You're subscribed")
            row = web.subscriber("browser@example.org")
            assert row is not None and row.status == "active" and row.id is not None

            page.goto(f"{web.url}unsubscribe?t={web.signer.unsubscribe(row.id)}")
            assert web.status("browser@example.org") == "active"
            page.click("button[type=submit]")  # the form posts under CSP form-action 'self'
            page.wait_for_selector("text=no more issues")
            assert web.status("browser@example.org") == "unsubscribed"
            assert problems == []  # no CSP violation, no failed load
        finally:
            browser.close()
