"""The run lock: one holder per issue, heartbeats, stale locks taken over exactly once."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlmodel import col

from pipeline.clock import utcnow
from pipeline.devservers.openai_api import OpenAIServer
from pipeline.errors import LockHeld
from pipeline.ops.lock import acquire, hold, release
from pipeline.store.db import make_engine, session
from pipeline.store.models import RunLock
from pipeline.store.status import overview
from tests.helpers import cli_database_url

NAME = "week:2026-W25"


def heartbeat_of(engine: Engine) -> RunLock | None:
    with session(engine) as s:
        return s.get(RunLock, NAME)


def age_lock(engine: Engine, seconds: float) -> None:
    """What a process killed `seconds` ago leaves behind."""
    with session(engine) as s:
        s.exec(
            update(RunLock)
            .where(col(RunLock.name) == NAME)
            .values(heartbeat_at=utcnow() - timedelta(seconds=seconds))
        )


def test_a_held_lock_refuses_a_second_holder(engine: Engine) -> None:
    owner = acquire(engine, NAME, command="run")
    with pytest.raises(LockHeld, match=r"2026-W25 is being built by `run` .*heartbeat 0 s ago"):
        acquire(engine, NAME, command="regenerate")
    release(engine, NAME, owner)
    release(engine, NAME, acquire(engine, NAME, command="regenerate"))  # free again
    assert heartbeat_of(engine) is None


def test_a_stale_lock_is_taken_over_and_the_old_owner_cannot_release_it(engine: Engine) -> None:
    dead = acquire(engine, NAME, command="run")
    age_lock(engine, 61)
    alive = acquire(engine, NAME, command="schedule")
    lock = heartbeat_of(engine)
    assert lock is not None and lock.owner == alive and lock.command == "schedule"
    release(engine, NAME, dead)  # the old owner's release (if it ever woke up) changes nothing
    assert heartbeat_of(engine) is not None
    release(engine, NAME, alive)
    assert heartbeat_of(engine) is None


def test_only_one_of_many_takes_over_a_stale_lock(engine: Engine) -> None:
    acquire(engine, NAME, command="run")
    age_lock(engine, 120)
    won: list[str] = []
    lost: list[str] = []
    start = threading.Barrier(4)

    def contender() -> None:
        start.wait()
        try:
            won.append(acquire(engine, NAME, command="run"))
        except LockHeld as exc:
            lost.append(str(exc))

    threads = [threading.Thread(target=contender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 3


def test_hold_keeps_the_heartbeat_fresh_and_releases(engine: Engine) -> None:
    with hold(engine, NAME, command="run", heartbeat=timedelta(seconds=0.05)):
        first = heartbeat_of(engine)
        assert first is not None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            now = heartbeat_of(engine)
            assert now is not None
            if now.heartbeat_at > first.heartbeat_at:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the heartbeat never moved")
    assert heartbeat_of(engine) is None


def test_hold_releases_when_the_body_fails(engine: Engine) -> None:
    with pytest.raises(RuntimeError), hold(engine, NAME, command="run"):
        raise RuntimeError("boom")
    assert heartbeat_of(engine) is None


def lock_rows(url: str) -> int:
    """Lock rows in the CLI's database (which may still be being created)."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return 0
    engine = make_engine(url)
    try:
        return len(overview(engine, ()).locks)
    except (OperationalError, ProgrammingError):  # not migrated yet
        return 0
    finally:
        engine.dispose()


def test_two_runs_of_the_same_week_one_proceeds_the_other_stops(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAIServer(latency_seconds=0.5) as slow:
        monkeypatch.setenv("NEWSLETTER_LLM_BASE_URL", slow.base_url)
        monkeypatch.setenv("NEWSLETTER_EMBEDDING_BASE_URL", slow.base_url)
        cmd = [sys.executable, "-m", "pipeline.cli", "run", "--week", "2026-W25"]
        first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not lock_rows(cli_database_url()):
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline, "the first run never took the lock"
                time.sleep(0.05)
            second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            out, errors = first.communicate(timeout=120)
        finally:
            if first.poll() is None:
                first.kill()
                first.communicate()
    assert second.returncode == 75, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "2026-W25 is being built by `run`" in lines[0], lines
    assert first.returncode == 0, errors
    assert "wrote out/issues/2026-W25/newsletter.md" in out
    assert lock_rows(cli_database_url()) == 0  # released


def test_the_lock_of_a_killed_process_on_this_host_is_taken_at_once(engine: Engine) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that no longer exists
    with session(engine) as s:
        now = utcnow()
        s.add(
            RunLock(
                name=NAME,
                owner=f"{socket.gethostname()}:{child.pid}:deadbeef",
                command="summarize",
                acquired_at=now,
                heartbeat_at=now,
            )
        )
    owner = acquire(engine, NAME, command="summarize")
    lock = heartbeat_of(engine)
    assert lock is not None and lock.owner == owner
    # A fresh lock of a process on another host is respected.
    release(engine, NAME, owner)
    with session(engine) as s:
        s.add(
            RunLock(
                name=NAME,
                owner="elsewhere:1:x",
                command="run",
                acquired_at=now,
                heartbeat_at=utcnow(),
            )
        )
    with pytest.raises(LockHeld):
        acquire(engine, NAME, command="run")
