"""Stopping a child process: asked first, killed when it does not listen."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pipeline.procs import stop_process

SLEEPER = """
import signal, sys, time
if sys.argv[1] == "deaf":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(600)
"""


@contextmanager
def started(mode: str) -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [sys.executable, "-c", SLEEPER, mode], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_process_that_listens_ends_by_the_signal(sig: int) -> None:
    with started("listens") as proc:
        stop_process(proc, sig)
        assert proc.returncode == -sig
        stop_process(proc)  # already ended: nothing to do
        assert proc.returncode == -sig


def test_a_process_that_ignores_the_signal_is_killed() -> None:
    with started("deaf") as proc:
        stop_process(proc, timeout=0.2)
        assert proc.returncode == -signal.SIGKILL
