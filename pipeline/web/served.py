"""An ASGI app served by uvicorn from a daemon thread: for tests and benchmarks that drive
the real HTTP stack in-process (`newsletter serve` runs uvicorn in the foreground)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def served(app: Any, port: int, *, start_timeout: float = 30.0) -> Iterator[uvicorn.Server]:
    """Serve `app` on 127.0.0.1:`port` until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        if not server.started:
            raise RuntimeError(f"the app did not start on port {port}")
        yield server
    finally:
        server.should_exit = True
        thread.join(10)
