"""Child processes the package starts (the embedded model's llama.cpp server, the benchmarks'
dev servers): stopping one without leaving it behind."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def stop_process(
    proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 10.0
) -> None:
    """Ask `proc` to end with `sig`; kill it if it is still running after `timeout` seconds.
    Returns once it has ended (at once when it already had)."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
