"""Sending benchmark (`python -m pipeline.bench.send`).

A default-sized issue (5 highlights, 30 more) to 10,000 active subscribers through a local
aiosmtpd server running in its own process (so its CPU is not the sender's), which logs
every accepted message (issue week and recipient) to a file.

(a) Throughput: `send_issue` in this process; messages/s, message size, peak RSS.
(b) Resume: the next issue sent by `newsletter send` in a subprocess, SIGKILLed when about
    half the deliveries are recorded as sent; a rerun finishes it.  Counted on the server:
    every subscriber must have received exactly one copy, the rerun exactly the rest.
"""

from __future__ import annotations

import argparse
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.bench.render import _populate, _week
from pipeline.clock import utcnow
from pipeline.config import load_settings
from pipeline.env import environment
from pipeline.mail.send import issue_mail, send_issue
from pipeline.mail.tokens import SECRET_ENV, Signer
from pipeline.store.db import insert_many, open_database
from pipeline.store.deliveries import count_sent_readonly
from pipeline.store.models import Subscriber

SECRET = "bench-secret-key-0123456789abcdef"
_MESSAGE_ID = re.compile(rb"^Message-ID: <(\d{4}-W\d\d)\.", re.MULTILINE)


class _Logger:
    """An aiosmtpd handler: one line "<week> <recipient> <bytes>" per accepted message."""

    def __init__(self, path: Path) -> None:
        self.log = path.open("a", encoding="ascii")
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        m = _MESSAGE_ID.search(envelope.content)
        week = m.group(1).decode() if m else "?"
        with self.lock:
            size = len(envelope.content)
            self.log.write("".join(f"{week} {rcpt} {size}\n" for rcpt in envelope.rcpt_tos))
            self.log.flush()
        return "250 OK"


def serve(port: int, log: Path) -> None:
    """Run the logging SMTP server until SIGTERM."""
    from aiosmtpd.controller import Controller

    controller = Controller(_Logger(log), hostname="127.0.0.1", port=port)
    controller.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _received(log: Path, week: str) -> tuple[Counter[str], int]:
    """Messages of `week` the server accepted, by recipient, and their mean size."""
    text = log.read_text(encoding="ascii") if log.exists() else ""
    rows = [line.split(" ") for line in text.split("\n")[:-1]]  # the last may be partial
    mine = [(rcpt, int(size)) for w, rcpt, size in rows if w == week]
    return Counter(r for r, _ in mine), sum(s for _, s in mine) // max(1, len(mine))


def _sent_rows(db_file: Path, week: str) -> int:
    return count_sent_readonly(db_file, week)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "LOG"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(int(args.serve[0]), Path(args.serve[1]))
        return 0
    n = args.subscribers
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db_file = root / "bench.sqlite3"
        log, port = root / "received.log", _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "pipeline.bench.send", "--serve", str(port), str(log)]
        )
        try:
            return _run(root, db_file, log, port, n)
        finally:
            server.terminate()
            server.wait()


def _run(root: Path, db_file: Path, log: Path, port: int, n: int) -> int:
    values = {
        "database_url": f"sqlite:///{db_file}",
        "output_dir": str(root / "out"),
        "cache_dir": str(root / "cache"),
        "public_url": "https://news.example.org/",
        "smtp_host": "127.0.0.1",
        "smtp_port": str(port),
        "smtp_from": "AI papers <news@example.org>",
    }
    settings = load_settings(None, values)
    env = {k: v for k, v in environment().items() if not k.startswith("NEWSLETTER_")}
    env.update({f"NEWSLETTER_{k.upper()}": v for k, v in values.items()})
    env[SECRET_ENV] = SECRET
    engine = open_database(settings.database_url)
    _populate(engine, 2, 5, 30)
    now = utcnow()
    insert_many(
        engine,
        Subscriber,
        [
            {"email": f"reader{i:05d}@example.org", "name": f"Reader {i}", "status": "active"}
            | {"source": "import", "created": now}
            for i in range(n)
        ],
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)

    # (a) throughput
    first, second = _week(0), _week(1)
    started = time.perf_counter()
    result = send_issue(engine, settings, issue_mail(engine, settings, first, Signer(SECRET)))
    took = time.perf_counter() - started
    got, size = _received(log, first)
    ok = result.sent == n and len(got) == n and max(got.values()) == 1
    print(
        f"send: {n:,} messages ({size / 1000:.0f} kB each) to a local aiosmtpd (own process): "
        f"{took:.1f} s, {n / took:.0f} messages/s; {result.summary()}; "
        f"server got {sum(got.values()):,}, each once: {ok}"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"send: peak RSS of the sender {rss:.0f} MB")

    # (b) kill -9 at about half, then rerun
    command = [sys.executable, "-m", "pipeline.cli", "send", second]
    proc = subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.DEVNULL)
    while _sent_rows(db_file, second) < n // 2:
        if proc.poll() is not None:
            print("send: resume: the sender finished before it could be killed")
            return 1
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the server finishes the messages already terminated
    killed_at = sum(_received(log, second)[0].values())
    rows = _sent_rows(db_file, second)
    started = time.perf_counter()
    rerun = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True)
    took = time.perf_counter() - started
    got = _received(log, second)[0]
    total = sum(got.values())
    exact = len(got) == n and max(got.values()) == 1
    print(
        f"send: resume: killed after {killed_at:,} messages ({rows:,} rows sent); rerun "
        f"{took:.1f} s: {rerun.stdout.strip()}; server got {total - killed_at:,} more, "
        f"{total:,} in all; every subscriber exactly once: {exact}"
    )
    engine.dispose()
    return 0 if ok and exact and rerun.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
