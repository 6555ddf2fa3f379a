"""Sending one issue from several workers and several processes at once: real aiosmtpd,
real `newsletter send` processes sharing the database; each subscriber gets exactly one
copy, also when one of four senders is killed in the middle of its batch."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import col, select

from pipeline import runner
from pipeline.config import load_settings
from pipeline.errors import LockHeld
from pipeline.ops.lock import hold, hold_shared, shared_prefix, week_lock
from pipeline.store.db import session
from pipeline.store.issues import HIGHLIGHT
from pipeline.store.models import Delivery, RunLock, Subscriber
from tests.factories import NOW, paper, stored_issue
from tests.helpers import Recorder, Stall, invoke, send_pipeline, sender_env

WEEK = "2026-W25"


@pytest.fixture
def readers(engine: Engine) -> list[str]:
    """A rendered issue and 240 active subscribers (and one who left)."""
    stored_issue(engine, WEEK, [(paper("2606.00001", "A title"), HIGHLIGHT, "A summary.")])
    emails = [f"reader{i:03d}@example.org" for i in range(240)]
    with session(engine) as s:
        for e in emails:
            s.add(Subscriber(email=e, name="", status="active", source="import", created=NOW))
        s.add(Subscriber(email="left@example.org", status="unsubscribed", created=NOW))
    return emails


@dataclass(frozen=True)
class Senders:
    """What each test here uses: the database (engine and URL), a temp dir, the 240
    readers of a rendered issue, and the recording SMTP server."""

    engine: Engine
    db_url: str
    tmp_path: Path
    readers: list[str]
    smtp: tuple[Controller, Recorder]


@pytest.fixture
def s(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    readers: list[str],
    smtp: tuple[Controller, Recorder],
) -> Senders:
    return Senders(engine, db_url, tmp_path, readers, smtp)


def start_sender(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "pipeline.cli", "send", WEEK, *args]
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, text=True)


def sent_of(output: str) -> int:
    match = re.search(r"sent \S+: (\d+) sent, \d+ skipped, 0 failed, 0 bounced", output)
    assert match, output
    return int(match.group(1))


def statuses(engine: Engine) -> Counter[str]:
    with session(engine) as s:
        return Counter(s.exec(select(Delivery.status)).all())


def registrations(engine: Engine) -> list[RunLock]:
    prefix = shared_prefix(week_lock(WEEK))
    with session(engine) as s:
        return list(s.exec(select(RunLock).where(col(RunLock.name).startswith(prefix))))


def test_workers_4_deliver_each_subscriber_once(
    engine: Engine,
    db_url: str,
    readers: list[str],
    smtp: tuple[Controller, Recorder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in sender_env(db_url, Path.cwd(), smtp[0].port).items():
        monkeypatch.setenv(key, value)
    output = invoke("send", WEEK, "--workers", "4")
    assert sent_of(output) == 240
    assert smtp[1].count_by_rcpt() == Counter(readers)
    assert statuses(engine) == Counter({"sent": 240})
    assert registrations(engine) == []  # the sender's registration is gone with it
    assert (
        invoke("send", WEEK, "--workers", "4")
        .strip()
        .endswith("0 sent, 240 skipped, 0 failed, 0 bounced")
    )
    assert len(smtp[1].messages) == 240


def test_two_send_processes_at_once_share_the_issue(s: Senders) -> None:
    """The first sender (one worker) is held at its first RCPT until the second has
    registered and claimed a batch of its own, so both send at the same time."""
    engine, db_url, tmp_path, readers, smtp = s.engine, s.db_url, s.tmp_path, s.readers, s.smtp
    recorder = smtp[1]
    stall = recorder.stalls["reader000@example.org"] = Stall()
    env = sender_env(db_url, tmp_path, smtp[0].port)
    first = start_sender(env, tmp_path)
    assert stall.reached.wait(60)
    first_owner = claimed_by(engine, readers[0])
    second = start_sender(env, tmp_path, "--workers", "2")
    try:
        while not claimed_by_others(engine, first_owner):
            assert second.poll() is None, "the second sender ended before it claimed any"
            time.sleep(0.01)
        assert len(registrations(engine)) == 2
    finally:
        stall.release.set()
    outputs = [p.communicate()[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    assert sent_of(outputs[0]) > 0 and sent_of(outputs[1]) > 0
    assert sent_of(outputs[0]) + sent_of(outputs[1]) == 240
    assert recorder.count_by_rcpt() == Counter(readers)
    assert statuses(engine) == Counter({"sent": 240})


def claimed_by(engine: Engine, email: str) -> str:
    with session(engine) as s:
        row = s.exec(select(Delivery).join(Subscriber).where(Subscriber.email == email)).one()
    assert row.status == "sending" and row.claimed_by
    return row.claimed_by


def claimed_by_others(engine: Engine, owner: str) -> bool:
    with session(engine) as s:
        rows = s.exec(select(Delivery.claimed_by).where(col(Delivery.claimed_by) != owner))
        return rows.first() is not None


def test_sigkill_one_of_four_senders_mid_batch(s: Senders) -> None:
    """Four senders; the one that claimed reader100 is held at its RCPT (its batch claimed,
    partly sent) and killed there.  The other three finish; a rerun sends exactly what is
    left; the server holds one copy for everyone."""
    engine, db_url, tmp_path, readers, smtp = s.engine, s.db_url, s.tmp_path, s.readers, s.smtp
    recorder = smtp[1]
    stall = recorder.stalls["reader100@example.org"] = Stall()
    env = sender_env(db_url, tmp_path, smtp[0].port)
    senders = [start_sender(env, tmp_path) for _ in range(4)]
    try:
        assert stall.reached.wait(60)
        pid = int(claimed_by(engine, readers[100]).split(":")[1])
        victim = next(p for p in senders if p.pid == pid)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    finally:
        stall.release.set()
    others = [p for p in senders if p is not victim]
    outputs = [p.communicate()[0] for p in others]
    victim.communicate()
    assert victim.returncode == -signal.SIGKILL
    assert [p.returncode for p in others] == [0, 0, 0], outputs
    before = statuses(engine)["sent"]
    assert sum(sent_of(o) for o in outputs) <= before <= 240

    rerun = start_sender(env, tmp_path, "--workers", "2")
    output = rerun.communicate()[0]
    assert rerun.returncode == 0, output
    assert sent_of(output) == 240 - before  # exactly the rest, the killed claims included
    assert recorder.count_by_rcpt() == Counter(readers)  # each subscriber once
    assert statuses(engine) == Counter({"sent": 240})
    assert registrations(engine) == []


def test_senders_and_a_run_of_the_week_exclude_each_other(s: Senders) -> None:
    """While a sender is registered, a run (or regenerate, render) of the week cannot start;
    while one runs, no sender starts; senders coexist."""
    engine, db_url, smtp = s.engine, s.db_url, s.smtp
    with hold_shared(engine, week_lock(WEEK), command="send"):
        with hold_shared(engine, week_lock(WEEK), command="send"):
            assert len(registrations(engine)) == 2
            with pytest.raises(LockHeld, match=f"{WEEK} is being sent by 2 `send` process"):
                with hold(engine, week_lock(WEEK), command="run"):
                    pass
    with hold(engine, week_lock(WEEK), command="run"):
        settings = load_settings(
            None,
            {
                "database_url": db_url,
                "public_url": "https://news.example.org/",
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp[0].port,
                "smtp_from": "news@example.org",
            },
        )
        with pytest.raises(LockHeld, match=f"{WEEK} is being built by `run`"):
            runner.send(send_pipeline(engine, settings), WEEK)
    assert smtp[1].messages == [] and statuses(engine) == Counter()
