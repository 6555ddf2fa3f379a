"""The lifecycle the local dev servers share: an http.server served from a daemon thread."""

from __future__ import annotations

import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Self, TypeVar

log = logging.getLogger(__name__)
App = TypeVar("App")


class AppServer(ThreadingHTTPServer, Generic[App]):
    """A threaded HTTP server whose handlers reach their app as `self.server.app`."""

    daemon_threads = True
    request_queue_size = 128  # a burst of concurrent connections must not hit the backlog

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: App
    ) -> None:
        super().__init__(address, handler)
        self.app = app

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-reply (a cut stream, a timeout fault) is normal here."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("client %s disconnected", client_address)
            return
        super().handle_error(request, client_address)


class BackgroundServer:
    """Start/stop (or `with`) an HTTP server on a daemon thread; port 0 picks a free port.

    Subclasses build their server in `_server(address)`. `_stopping` is set on `stop()` so
    requests that sleep on purpose (latency, timeout faults) can wake up at once."""

    # A short poll interval makes stop() quick: test suites start and stop many servers.
    poll_interval = 0.01

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self._port = port
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _server(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        raise NotImplementedError

    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._stopping.clear()
        self._httpd = self._server((self.host, self._port))
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": self.poll_interval},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None or self._thread is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        self._httpd = self._thread = None

    def serve_until_interrupted(self) -> None:
        """Block until Ctrl-C (KeyboardInterrupt), then stop: the command lines' main loop."""
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._port
