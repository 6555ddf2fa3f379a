"""The polite transport on its own, over a real `httpx.HTTPTransport` to the local
arXiv-compatible server, whose scripted faults (`srv.inject`) stand in for a bad day at arXiv.

Sleeps go to a recorder and the clock is a counter the test moves, so waits are checked as the
values asked for, never by measuring time.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Unpack

import httpx
import pytest

from pipeline.devservers.arxiv_api import ArxivAPIServer, Fault
from pipeline.fetch.polite import USER_AGENT, GaveUp, Politeness, PoliteTransport, Transient
from tests.helpers import free_port

QUERY = "search_query=cat:cs.LG&sortBy=submittedDate&sortOrder=ascending&max_results=5"


class Clock:
    """A monotonic clock that moves only when told to, or when slept on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inner() -> Iterator[httpx.HTTPTransport]:
    with httpx.HTTPTransport() as transport:
        yield transport


def polite(
    inner: httpx.BaseTransport,
    fake: Clock,
    *,
    bases: Sequence[str] = (),
    connect_tries: int | None = None,
    **knobs: Unpack[Politeness],
) -> PoliteTransport:
    """Backoff base 0.5 s; sleeping on, and timing by, the `fake` clock."""
    knobs.setdefault("retry_base_seconds", 0.5)
    knobs.setdefault("sleep", fake.sleep)
    knobs.setdefault("clock", fake)
    knobs.setdefault("rng", random.Random(3))
    return PoliteTransport(inner, bases=bases, connect_tries=connect_tries, **knobs)


def get(url: str) -> httpx.Request:
    return httpx.Request("GET", f"{url}?{QUERY}", extensions={"timeout": {"read": 5.0}})


def test_retry_after_is_what_it_waits(
    arxiv_server: ArxivAPIServer, inner: httpx.HTTPTransport, clock: Clock
) -> None:
    arxiv_server.inject(Fault.rate_limited(retry_after=7), Fault.rate_limited(retry_after=2))
    transport = polite(inner, clock, retries=3)
    response = transport.handle_request(get(arxiv_server.url))
    assert response.status_code == 200 and b"<entry>" in response.content
    assert len(arxiv_server.requests) == 3
    assert len(clock.sleeps) == 2
    assert 7.0 <= clock.sleeps[0] <= 7.5 and 2.0 <= clock.sleeps[1] <= 2.5  # + jitter < base
    assert transport.stats() == {"requests": 3, "retries": 2}


def test_5xx_is_retried_then_given_up_with_the_last_reason(
    arxiv_server: ArxivAPIServer, inner: httpx.HTTPTransport, clock: Clock
) -> None:
    arxiv_server.inject("500", "503", "503", "500")
    transport = polite(inner, clock, retries=2)
    request = get(arxiv_server.url)
    with pytest.raises(GaveUp) as caught:
        transport.handle_request(request)
    assert (caught.value.tries, str(caught.value.last)) == (3, "HTTP 503")
    assert not caught.value.unreachable
    assert str(caught.value) == f"{request.url} failed after 3 tries: HTTP 503"
    assert len(arxiv_server.requests) == 3  # the fourth fault is still queued
    assert len(clock.sleeps) == 2
    assert 0.25 <= clock.sleeps[0] <= 0.75 and 0.5 <= clock.sleeps[1] <= 1.5  # base 0.5, doubled


def test_spacing_counts_from_the_end_of_the_last_request(
    arxiv_server: ArxivAPIServer, inner: httpx.HTTPTransport, clock: Clock
) -> None:
    transport = polite(inner, clock, delay_seconds=3.0)
    transport.handle_request(get(arxiv_server.url))
    assert clock.sleeps == []  # the first request does not wait
    clock.now += 1.0
    transport.handle_request(get(arxiv_server.url))
    assert clock.sleeps == [2.0]
    clock.now += 5.0
    transport.handle_request(get(arxiv_server.url))
    assert clock.sleeps == [2.0]  # already longer ago than the delay
    assert len(arxiv_server.requests) == 3


def test_arxiv_org_gets_at_least_three_seconds(inner: httpx.HTTPTransport, clock: Clock) -> None:
    public = ["http://127.0.0.1/html", "https://export.arxiv.org/api/query"]
    assert polite(inner, clock, bases=public, delay_seconds=0).delay_seconds == 3.0
    assert polite(inner, clock, bases=public, delay_seconds=5).delay_seconds == 5.0
    assert polite(inner, clock, bases=["http://127.0.0.1/"], delay_seconds=0).delay_seconds == 0


def test_accept_can_reject_a_200_as_transient(
    arxiv_server: ArxivAPIServer, inner: httpx.HTTPTransport, clock: Clock
) -> None:
    arxiv_server.inject("empty")
    seen: list[int] = []

    def entries(response: httpx.Response) -> int:
        count = response.content.count(b"<entry>")
        seen.append(count)
        if not count:
            raise Transient("unexpectedly empty page", retry_after=4.0)
        return count

    assert polite(inner, clock).send(get(arxiv_server.url), entries) == 5
    assert seen == [0, 5]
    assert len(clock.sleeps) == 1 and 4.0 <= clock.sleeps[0] <= 4.5


def test_other_answers_and_errors_are_not_retried(
    arxiv_server: ArxivAPIServer, inner: httpx.HTTPTransport, clock: Clock
) -> None:
    transport = polite(inner, clock)
    bad = httpx.Request("GET", f"{arxiv_server.url}?sortBy=nonsense")
    assert transport.handle_request(bad).status_code == 400

    def refuse(response: httpx.Response) -> None:
        raise LookupError("not for us")

    with pytest.raises(LookupError):
        transport.send(get(arxiv_server.url), refuse)
    assert len(arxiv_server.requests) == 2 and clock.sleeps == []


def test_refused_connections_give_up_early_as_unreachable(
    inner: httpx.HTTPTransport, clock: Clock
) -> None:
    transport = polite(inner, clock, retries=5, connect_tries=3)
    with pytest.raises(GaveUp) as caught:
        transport.handle_request(get(f"http://127.0.0.1:{free_port()}/api/query"))
    assert caught.value.unreachable and caught.value.tries == 3
    assert str(caught.value.last).startswith("cannot connect: ")
    assert transport.stats() == {"requests": 3, "retries": 2}


def test_inside_a_client_it_sends_our_user_agent(arxiv_server: ArxivAPIServer) -> None:
    agents: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        agents.append(request.headers["user-agent"])
        status, headers, body = arxiv_server.respond(request.url.query.decode())
        return httpx.Response(status, headers=headers, content=body)

    arxiv_server.inject("503")
    clock = Clock()
    transport = polite(httpx.MockTransport(answer), clock, retries=1)
    with httpx.Client(transport=transport) as client:
        assert client.get(f"{arxiv_server.url}?{QUERY}").status_code == 200
    assert agents == [USER_AGENT, USER_AGENT] and len(clock.sleeps) == 1
