"""The one polite HTTP layer under every fetch: an httpx transport that keeps its distance
and retries what is worth retrying.

`PoliteTransport` wraps a real transport (`httpx.HTTPTransport`, or `ClientTransport` to go
through an existing `httpx.Client` with its timeouts and hooks) and owns, for every request:

- spacing: at least `delay_seconds` between the end of one request and the start of the
  next, never less than arXiv's 3 s when one of its base URLs is arxiv.org's;
- identity: our user agent;
- retries: 429, 5xx, timeouts, dropped or refused connections, and whatever a caller's
  `accept` rejects as `Transient` (arXiv's empty or cut-off pages), a bounded number of
  times, waiting by `pipeline.backoff` and honouring `Retry-After`;
- the final failure: `GaveUp`, saying how many tries were made, the last reason, and whether
  the server was never reached; callers turn it into their error (`SourceError`,
  `SourceUnreachable`, or a quiet fallback). Other answers (404, …) are returned as they are.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import TypedDict, TypeVar, Unpack
from urllib.parse import urlsplit

import httpx

from pipeline.backoff import backoff_delay, retry_after_seconds

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
PUBLIC_MIN_DELAY = 3.0  # arXiv's terms: no more than one request every three seconds
USER_AGENT = "arxiv-newsletter/0.1 (+https://github.com/; polite weekly fetch)"


class Politeness(TypedDict, total=False):
    """The knobs a fetcher passes on to its transport (each has a default there)."""

    delay_seconds: float
    retries: int
    retry_base_seconds: float
    sleep: Callable[[float], None]
    rng: random.Random | None
    clock: Callable[[], float]  # monotonic seconds, for the spacing


class Transient(Exception):
    """A failure worth another try; an `accept` callback raises it to retry a 200 too."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class GaveUp(Exception):
    """Every try failed transiently; `last` is the last reason."""

    def __init__(self, url: str, tries: int, last: Transient, *, unreachable: bool) -> None:
        super().__init__(f"{url} failed after {tries} tries: {last}")
        self.tries = tries
        self.last = last
        self.unreachable = unreachable  # every try was a refused connection


def is_public_arxiv(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == "arxiv.org" or host.endswith(".arxiv.org")


class ClientTransport(httpx.BaseTransport):
    """Sends through an `httpx.Client`: its timeouts, event hooks and own transport apply."""

    def __init__(self, client: httpx.Client, *, follow_redirects: bool | None = None) -> None:
        self._client = client
        self._follow = client.follow_redirects if follow_redirects is None else follow_redirects

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._client.send(request, follow_redirects=self._follow)


class PoliteTransport(httpx.BaseTransport):
    """Spacing, retries and `Retry-After` around `inner` (see the module docstring)."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        bases: Sequence[str] = (),
        connect_tries: int | None = None,
        **polite: Unpack[Politeness],
    ) -> None:
        """`bases`: the URLs it fetches under (arxiv.org's raise the delay to 3 s);
        `connect_tries`: give up after this many refused connections, retries left or not."""
        self._inner = inner
        delay = polite.get("delay_seconds", 0.0)
        if any(is_public_arxiv(url) for url in bases):
            delay = max(delay, PUBLIC_MIN_DELAY)
        self.delay_seconds = delay
        self.retries = polite.get("retries", 2)
        self._base = polite.get("retry_base_seconds", 1.0)
        self._sleep = polite.get("sleep", time.sleep)
        self._rng = polite.get("rng") or random.Random()
        self._connect_tries = connect_tries
        self._clock = polite.get("clock", time.monotonic)
        self._last_request: float | None = None
        self.requests_made = 0
        self.retries_made = 0

    def stats(self, **more: int) -> dict[str, int]:
        """Requests made and retries waited for, with a caller's own counts added."""
        return {"requests": self.requests_made, "retries": self.retries_made, **more}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.send(request, _as_is)

    def send(self, request: httpx.Request, accept: Callable[[httpx.Response], T]) -> T:
        """`accept(response)` for the first answer that is not transient, the body read.
        Raises `GaveUp` when the tries run out, and whatever `accept` raises but `Transient`."""
        last: Transient | None = None
        refused = tries = 0
        for attempt in range(self.retries + 1):
            if last is not None:
                self.retries_made += 1
                self._sleep(self._backoff(attempt, last.retry_after))
            tries += 1
            try:
                return accept(self._once(request))
            except httpx.ConnectError as exc:
                refused += 1
                last = Transient(f"cannot connect: {exc}")
            except Transient as exc:
                last = exc
            log.info("%s %s failed (try %d): %s", request.method, request.url, tries, last)
            if self._connect_tries is not None and refused >= self._connect_tries:
                break
        assert last is not None
        raise GaveUp(str(request.url), tries, last, unreachable=refused == tries)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        return backoff_delay(attempt, retry_after, base=self._base, rng=self._rng)

    def _once(self, request: httpx.Request) -> httpx.Response:
        if self._last_request is not None and self.delay_seconds > 0:
            wait = self.delay_seconds - (self._clock() - self._last_request)
            if wait > 0:
                self._sleep(wait)
        self.requests_made += 1
        request.headers["user-agent"] = USER_AGENT
        try:
            response = self._inner.handle_request(request)
            response.read()
        except httpx.TimeoutException as exc:
            raise Transient(f"timed out ({type(exc).__name__})") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise Transient(f"connection dropped ({exc})") from None
        finally:
            self._last_request = self._clock()
        if response.status_code in TRANSIENT_STATUS:
            retry_after = retry_after_seconds(response.headers.get("retry-after"))
            raise Transient(f"HTTP {response.status_code}", retry_after)
        return response

    def close(self) -> None:
        self._inner.close()


def _as_is(response: httpx.Response) -> httpx.Response:
    return response
