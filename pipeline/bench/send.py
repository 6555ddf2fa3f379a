"""Sending benchmark (`python -m pipeline.bench.send`).

A default-sized issue (5 highlights, 30 more) to 100,000 active subscribers through a
local aiosmtpd sink in processes of its own (`--sinks` of them on one port, SO_REUSEPORT,
so that the sink is not the bottleneck; its capacity alone is measured first), which logs
every accepted message (issue week and recipient).

(a) Throughput: `newsletter send WEEK --workers N` in a subprocess for N = 1, 4, 8 (or,
    with `--processes P`, P such processes at once with N/P workers each); wall seconds
    from start to exit (start-up included), messages/s, the sender's peak RSS (its VmHWM,
    the largest of them), and the load average.
(b) Kill one of four: four `newsletter send` processes on the next issue; one is SIGKILLed
    when about half the deliveries are recorded as sent (it has a batch claimed, part of
    it sent); the other three finish; a rerun sends exactly the rest.  Counted on the sink:
    every subscriber must have received exactly one copy.

On SQLite (a temp file), and on PostgreSQL too when a server URL is given (`--pg URL`, or
env NEWSLETTER_BENCH_PG, e.g. postgresql://postgres@127.0.0.1:55432/postgres): a scratch
database `send_bench_*` is created there and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from pipeline.bench.render import _populate, _week
from pipeline.clock import utcnow
from pipeline.config import Settings, load_settings
from pipeline.env import clean_environment
from pipeline.env import env as read_env
from pipeline.mail.message import Recipient
from pipeline.mail.send import issue_mail
from pipeline.mail.tokens import SECRET_ENV, Signer
from pipeline.store.db import insert_many, open_database
from pipeline.store.deliveries import count_sent, rows_for
from pipeline.store.models import Subscriber
from pipeline.store.scratch import scratch_database

SECRET = "bench-secret-key-0123456789abcdef"
PG_ENV = "NEWSLETTER_BENCH_PG"
_MESSAGE_ID = re.compile(rb"^Message-ID: <(\d{4}-W\d\d)\.", re.MULTILINE)
_SENT = re.compile(r"(\d+) sent, (\d+) skipped, (\d+) failed")


class _Logger:
    """An aiosmtpd handler: one line "<week> <recipient> <bytes>" per accepted message; with
    `pipelining` the server offers PIPELINING (RFC 2920), as Postfix, Exim and the big
    sending services do (aiosmtpd answers pipelined commands in order, which is all the
    extension asks of a server)."""

    def __init__(self, path: Path, pipelining: bool) -> None:
        self.log = path.open("a", encoding="ascii")
        self.pipelining = pipelining

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return responses[:-1] + ["250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        m = _MESSAGE_ID.search(envelope.content)
        week = m.group(1).decode() if m else "?"
        size = len(envelope.content)
        self.log.write("".join(f"{week} {rcpt} {size}\n" for rcpt in envelope.rcpt_tos))
        self.log.flush()
        return "250 OK"


def _fast_smtp() -> type[Any]:
    """aiosmtpd's server with DATA read in 64 kB blocks instead of line by line (which
    costs ~1 ms per 58 kB message and made the sink the bottleneck); everything else is
    aiosmtpd's.  A client must not send anything after a message's terminator before its
    reply (ours does not; RFC 2920 would allow it): the connection is closed if one does."""
    from aiosmtpd.smtp import SMTP, syntax

    class FastSMTP(SMTP):
        @syntax("DATA")
        async def smtp_DATA(self, arg: str) -> None:
            if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
                return
            envelope = self.envelope
            assert envelope is not None
            if not envelope.rcpt_tos or arg:
                await self.push("503 Error: need RCPT command" if arg == "" else "501 DATA")
                return
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            buf = bytearray(b"\r\n")
            while True:
                chunk = await self._reader.read(1 << 16)
                if not chunk:
                    return  # the connection dropped: an unterminated message is discarded
                buf += chunk
                end = buf.find(b"\r\n.\r\n", max(0, len(buf) - len(chunk) - 4))
                if end >= 0:
                    break
            if end + 5 != len(buf):  # commands after the terminator: not for this sink
                await self.push("421 nothing may follow the terminator unanswered here")
                assert self.transport is not None
                self.transport.close()
                return
            content = bytes(buf[2 : end + 2]).replace(b"\r\n..", b"\r\n.")
            envelope.content = envelope.original_content = content
            status = await self._call_handler_hook("DATA")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self.push(status)

    return FastSMTP


def serve(port: int, log: Path, pipelining: bool) -> None:
    """Run one logging SMTP sink process on `port` (shared: SO_REUSEPORT) until SIGTERM."""
    SMTP = _fast_smtp()
    handler = _Logger(log, pipelining)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink.localhost"), "127.0.0.1", port, reuse_port=True
        )
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _received(logs: Path, week: str) -> tuple[Counter[str], int]:
    """Messages of `week` the sinks accepted, by recipient, and their mean size."""
    mine: list[tuple[str, int]] = []
    for log in logs.glob("sink-*.log"):
        rows = [line.split(" ") for line in log.read_text(encoding="ascii").split("\n")[:-1]]
        mine += [(r, int(size)) for w, r, size in rows if w == week and r.startswith("reader")]
    return Counter(r for r, _ in mine), sum(s for _, s in mine) // max(1, len(mine))


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def sink_capacity(port: int, message: bytes, n: int, connections: int) -> float:
    """Messages/s the sink takes from a trivial client (one prebuilt message, no database)
    over `connections` connections: the ceiling any sender can reach here."""

    def blast(count: int) -> None:
        conn = smtplib.SMTP("127.0.0.1", port)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
        for i in range(count):
            conn.sendmail("bench@example.org", [f"blast{i}@example.org"], message)
        conn.quit()

    threads = [threading.Thread(target=blast, args=(n // connections,)) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n // connections * connections / (time.perf_counter() - started)


@dataclass
class Sent:
    seconds: float
    rss_mb: float
    code: int
    output: str

    @property
    def counts(self) -> tuple[int, int, int]:
        m = _SENT.search(self.output)
        return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (-1, -1, -1)


class _Sender:
    """A `newsletter send` process, its peak RSS watched from outside: VmHWM, read from
    /proc every 0.1 s while it runs (`ru_maxrss` would carry this benchmark's own size,
    copied into the child when it forked, before the exec)."""

    def __init__(self, env: dict[str, str], cwd: Path, week: str, workers: int) -> None:
        command = [sys.executable, "-m", "pipeline.cli", "send", week, "--workers", str(workers)]
        self.proc = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.peak_kb = 0
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()

    def _watch(self) -> None:
        status = Path(f"/proc/{self.proc.pid}/status")
        while self.proc.returncode is None:
            try:
                text = status.read_text()
            except OSError:
                return
            m = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
            if m is None:  # a zombie: it has exited
                return
            self.peak_kb = max(self.peak_kb, int(m.group(1)))
            time.sleep(0.1)


def _reap(sender: _Sender, started: float) -> Sent:
    """Wait for the sender; its wall time, peak RSS and output."""
    proc = sender.proc
    assert proc.stdout is not None
    output = proc.stdout.read().decode("utf-8", "replace")
    proc.wait()
    sender.watcher.join()
    return Sent(time.perf_counter() - started, sender.peak_kb / 1024, proc.returncode, output)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--workers", default="1,4,8", help="connections per run, e.g. 1,4,8")
    parser.add_argument("--sinks", type=int, default=2, help="sink processes on the port")
    parser.add_argument(
        "--processes", type=int, default=1, help="senders per run, sharing its connections"
    )
    parser.add_argument("--pg", default=None, help=f"PostgreSQL server URL (env {PG_ENV})")
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument(
        "--no-pipelining", action="store_true", help="the sink does not offer PIPELINING"
    )
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "LOG"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(int(args.serve[0]), Path(args.serve[1]), not args.no_pipelining)
        return 0
    pg = args.pg or read_env(PG_ENV)
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        port = _free_port()
        sinks = [
            subprocess.Popen(
                [sys.executable, "-m", "pipeline.bench.send", "--serve", str(port)]
                + [str(root / f"sink-{i}.log")]
                + (["--no-pipelining"] if args.no_pipelining else [])
            )
            for i in range(args.sinks)
        ]
        try:
            _wait_listening(port)
            print(f"send: machine: {os.cpu_count()} CPUs, load average {_load()} (1/5/15 min)")
            offered = "does not offer" if args.no_pipelining else "offers"
            print(f"send: the sink {offered} PIPELINING")
            status = 0
            if not args.no_sqlite:
                url = f"sqlite:///{root / 'bench.sqlite3'}"
                status = max(
                    status,
                    _run("SQLite", url, root, port, args.subscribers, workers, args.processes),
                )
            if pg:
                with scratch_database(pg, "send_bench_") as url:
                    status = max(
                        status,
                        _run(
                            "PostgreSQL", url, root, port, args.subscribers, workers, args.processes
                        ),
                    )
            return status
        finally:
            for sink in sinks:
                sink.terminate()
                sink.wait()


def _run(
    backend: str, url: str, root: Path, port: int, n: int, workers: list[int], processes: int
) -> int:
    values = {
        "database_url": url,
        "output_dir": str(root / "out"),
        "cache_dir": str(root / "cache"),
        "public_url": "https://news.example.org/",
        "smtp_host": "127.0.0.1",
        "smtp_port": str(port),
        "smtp_from": "AI papers <news@example.org>",
    }
    env = clean_environment(
        **{f"NEWSLETTER_{k.upper()}": v for k, v in values.items()}, **{SECRET_ENV: SECRET}
    )
    for log in root.glob("sink-*.log"):  # count this backend's messages only
        os.truncate(log, 0)
    engine = open_database(url)
    weeks = len(workers) + 1
    _populate(engine, weeks, 5, 30)
    now = utcnow()
    rows = [
        {"email": email, "name": f"Reader {email[6:12]}", "status": "active"}
        | {"source": "import", "created": now}
        for email in sorted(_all_emails(n))
    ]
    for start in range(0, n, 10_000):
        insert_many(engine, Subscriber, rows[start : start + 10_000])
    ok = True

    if backend == "SQLite":  # once: how fast the sink is on its own
        sample = _sample_message(engine, load_settings(None, values), _week(0))
        capacity = sink_capacity(port, sample, 4000, 4)
        print(f"send: sink alone (trivial client, 4 connections): {capacity:.0f} messages/s")

    # (a) throughput
    print(f"send: {backend}: {n:,} subscribers")
    print("| backend | connections | seconds | messages/s | sender peak RSS MB | load |")
    print("|---|--:|--:|--:|--:|---|")
    for i, w in enumerate(workers):
        week = _week(i)
        load = _load()
        started = time.perf_counter()
        each = max(1, w // processes)
        runs = [
            _reap(p, started) for p in [_Sender(env, root, week, each) for _ in range(processes)]
        ]
        seconds = max(r.seconds for r in runs)
        got, size = _received(root, week)
        sent = sum(r.counts[0] for r in runs)
        exact = all(r.code == 0 for r in runs) and sent == n
        exact = exact and len(got) == n and max(got.values()) == 1
        ok = ok and exact
        label = f"{w}" if processes == 1 else f"{w} ({processes} processes × {each})"
        print(
            f"| {backend} | {label} | {seconds:.1f} | {n / seconds:,.0f} | "
            f"{max(r.rss_mb for r in runs):.0f} | {load} → {_load()} |"
            + ("" if exact else f" NOT EXACT: {[r.code for r in runs]}, {sent}, {len(got)} got")
        )
    print(f"send: messages of {size / 1000:.0f} kB each")

    # (b) four senders, one killed mid-batch, then a rerun
    week = _week(len(workers))
    started = time.perf_counter()
    procs = [_Sender(env, root, week, 1) for _ in range(4)]
    victim = procs[0]
    while count_sent(engine, week) < n // 2:
        if victim.proc.poll() is not None:
            print(f"send: {backend}: kill: the sender finished before it could be killed")
            return 1
        time.sleep(0.05)
    victim.proc.send_signal(signal.SIGKILL)
    killed_at = count_sent(engine, week)
    others = [_reap(p, started) for p in procs[1:]]
    _reap(victim, started)
    before = count_sent(engine, week)
    rerun = _reap(_Sender(env, root, week, 4), time.perf_counter())
    got, _ = _received(root, week)
    total = sum(got.values())
    once = max(got.values()) == 1
    missing = sorted(_all_emails(n) - set(got))
    # The protocol's one window: a "sent" row made durable by the killed sender just before
    # its terminator went out.  Any other missing message is a failure.
    lost = rows_for(engine, week, missing)
    in_window = [r for r in lost if r.status == "sent" and f":{victim.proc.pid}:" in r.claimed_by]
    exact = (
        all(o.code == 0 for o in others)
        and rerun.code == 0
        and rerun.counts[0] == n - before
        and once
        and len(in_window) == len(missing) <= 1
    )
    ok = ok and exact
    print(
        f"send: {backend}: kill one of 4 senders at {killed_at:,} sent: the other 3 exited "
        f"{[o.code for o in others]} ({', '.join(str(o.counts[0]) for o in others)} sent), "
        f"{before:,} rows sent; the rerun sent {rerun.counts[0]:,} (exactly the rest: "
        f"{rerun.counts[0] == n - before}); the sink got {total:,}, none twice: {once}, "
        f"missing: {len(missing)}"
    )
    for r in lost:
        why = (
            "committed by the killed sender, which died before writing its terminator "
            "(the protocol's at-most-once window)"
            if r in in_window
            else "NOT explained by the protocol"
        )
        print(
            f"send: {backend}: missing {r.email}: row {r.status} at {r.sent_at} "
            f"({r.claimed_by}): {why}"
        )
    if len(lost) < len(missing):
        print(f"send: {backend}: {len(missing) - len(lost)} missing without a delivery row")
    engine.dispose()
    return 0 if ok else 1


def _all_emails(n: int) -> set[str]:
    return {f"reader{i:06d}@example.org" for i in range(n)}


def _sample_message(engine: Engine, settings: Settings, week: str) -> bytes:
    """One real message of the issue, for the sink-alone measurement."""
    mail = issue_mail(engine, settings, week, Signer(SECRET))
    return mail.compose(Recipient(1, "reader000001@example.org"), eight_bit=True).data


if __name__ == "__main__":
    raise SystemExit(main())
