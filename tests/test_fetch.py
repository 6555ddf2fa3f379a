"""Ingestion end to end: the real `arxiv`-package client (`ArxivSource`) against the local
arXiv-compatible server on 127.0.0.1, and `runner.fetch` into SQLite in a temp dir.

Faults are scripted on the server (`srv.inject`); a fault meant for a later page is queued by an
httpx request hook the moment that page is requested. Sleeps go to a recorder, so backoff and
politeness are checked without waiting (except in the one test that measures real spacing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from pipeline import runner
from pipeline.config import load_settings
from pipeline.demo import sample_path
from pipeline.devservers.arxiv_api import ArxivAPIServer, Fault, ListingRecord, load_listing
from pipeline.errors import SourceError, SourceUnreachable
from pipeline.fetch.arxiv import ArxivSource
from pipeline.records import Window
from pipeline.store.papers import PAPER
from pipeline.store.runs import get_watermark, recent_runs
from tests.helpers import TRICKY, free_port

SAMPLE = load_listing(sample_path())
SAMPLE_CATEGORIES = sorted({c for r in SAMPLE for c in r.categories})  # 31: every sample paper
SAMPLE_ORDER = [r.id for r in sorted(SAMPLE, key=lambda r: (r.published, r.id))]
JUNE = Window(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
DAY = datetime(2026, 6, 16, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 24, 10, 30, 45, tzinfo=UTC)  # a Wednesday in 2026-W26


# -- helpers ---------------------------------------------------------------------------------


class Sleeps(list[float]):
    """The `sleep` given to ArxivSource: records every wait; really waits only if `real`."""

    def __init__(self, real: bool = False) -> None:
        super().__init__()
        self.real = real

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(seconds if self.real else 0)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def http() -> Iterator[Callable[..., httpx.Client]]:
    """Makes httpx clients and closes them all after the test."""
    clients: list[httpx.Client] = []

    def make(timeout: float = 5.0, **kwargs: Any) -> httpx.Client:
        client = httpx.Client(timeout=timeout, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def at_page(srv: ArxivAPIServer, start: int, *faults: Fault | str) -> dict[str, Any]:
    """httpx event hooks that queue `faults` when the page at `start` is first requested."""
    done: list[bool] = []

    def hook(request: httpx.Request) -> None:
        if not done and request.url.params.get("start") == str(start):
            done.append(True)
            srv.inject(*faults)  # type: ignore[arg-type]

    return {"request": [hook]}


def source(
    url: str,
    http: Callable[..., httpx.Client],
    *,
    page_size: int = 10,
    retries: int = 2,
    sleep: Sleeps | None = None,
    delay: float = 0.0,
    timeout: float = 5.0,
    hooks: dict[str, Any] | None = None,
) -> ArxivSource:
    return ArxivSource(
        url,
        http=http(timeout=timeout, event_hooks=hooks or {}),
        page_size=page_size,
        delay_seconds=delay,
        retries=retries,
        retry_base_seconds=0.01,
        sleep=sleep if sleep is not None else Sleeps(),
    )


def no_chat() -> Any:
    raise AssertionError("fetch must not build a chat model")


def pipeline(
    engine: Engine,
    db_url: str,
    url: str,
    http: Callable[..., httpx.Client],
    *,
    now: Callable[[], datetime] = lambda: NOW,
    page_size: int = 10,
    retries: int = 2,
    hooks: dict[str, Any] | None = None,
    categories: Sequence[str] = ("cs.LG",),
    **settings: Any,
) -> runner.Pipeline:
    cfg = load_settings(
        None,
        {
            "database_url": db_url,
            "arxiv_url": url,
            "arxiv_page_size": page_size,
            "arxiv_delay_seconds": 0,
            "categories": list(categories),
            **settings,
        },
    )
    return runner.Pipeline(
        settings=cfg,
        engine=engine,
        source=lambda: source(url, http, page_size=page_size, retries=retries, hooks=hooks),
        chat=no_chat,
        now=now,
    )


def rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r["id"]: dict(r) for r in conn.execute(select(PAPER)).mappings()}


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def rec(n: int, **fields: Any) -> ListingRecord:
    base: dict[str, Any] = {
        "id": f"2606.{n:05d}",
        "title": f"Paper {n} on gradient methods",
        "summary": f"We study problem {n}.",
        "authors": (f"Author {n}",),
        "categories": ("cs.LG",),
        "published": DAY + timedelta(minutes=n),
    }
    return ListingRecord(**{**base, **fields})


# -- paging and the query --------------------------------------------------------------------


def test_paging_returns_every_record_once(
    arxiv_server: ArxivAPIServer, http: Callable[..., httpx.Client]
) -> None:
    src = source(arxiv_server.url, http, page_size=10)
    got = [r.id for r in src.fetch(SAMPLE_CATEGORIES, JUNE)]
    assert len(SAMPLE) == 48
    assert got == SAMPLE_ORDER  # all 48, each once, oldest first
    params = [r.params for r in arxiv_server.requests]
    assert [p["start"] for p in params] == ["0", "10", "20", "30", "40"]
    assert {p["max_results"] for p in params} == {"10"}
    assert {(p["sortBy"], p["sortOrder"]) for p in params} == {("submittedDate", "ascending")}
    assert src.stats == {"requests": 5, "retries": 0, "skipped_entries": 0}


def test_query_ors_categories_inside_the_submitted_window(
    arxiv_server: ArxivAPIServer, http: Callable[..., httpx.Client]
) -> None:
    week = Window(datetime(2026, 6, 15, tzinfo=UTC), datetime(2026, 6, 22, tzinfo=UTC))
    got = list(source(arxiv_server.url, http).fetch(["cs.CV", "math.OC"], week))
    [request] = arxiv_server.requests
    assert request.params["search_query"] == (
        "(cat:cs.CV OR cat:math.OC) AND submittedDate:[202606150000 TO 202606212359]"
    )
    assert len(got) == 6
    assert all({"cs.CV", "math.OC"} & set(r.categories) for r in got)
    assert all(week.since <= r.published < week.until for r in got)


# -- storing: new / unchanged / updated / excluded -------------------------------------------


def ingest_counts(**nonzero: int) -> dict[str, int]:
    """A fetch's counts: every kind listed, zero unless given."""
    return (
        dict.fromkeys(("new", "updated", "unchanged", "excluded", "near_duplicates"), 0) | nonzero
    )


def test_first_ingest_then_refetch_changes_nothing(
    arxiv_server: ArxivAPIServer, engine: Engine, db_url: str, http: Callable[..., httpx.Client]
) -> None:
    clock = Clock(NOW)
    p = pipeline(
        engine,
        db_url,
        arxiv_server.url,
        http,
        now=clock,
        categories=SAMPLE_CATEGORIES,
        exclude_terms=["protein"],
    )
    first = runner.fetch(p, JUNE).counts
    assert first.as_dict() == ingest_counts(new=48, excluded=4, near_duplicates=1)
    assert sorted(first.new_ids) == sorted(SAMPLE_ORDER)
    before = rows(engine)
    assert len(before) == 48
    assert (
        sum(r["excluded_reason"] == "matches exclude term 'protein'" for r in before.values()) == 4
    )

    clock.now = NOW + timedelta(hours=5)
    again = runner.fetch(p, JUNE).counts
    assert again.as_dict() == ingest_counts(unchanged=48)
    assert rows(engine) == before  # last_changed and first_seen included
    assert {utc(r["last_changed"]) for r in before.values()} == {NOW}


def test_repeated_listings_are_stored_once(
    engine: Engine, db_url: str, http: Callable[..., httpx.Client]
) -> None:
    # Served as 0 1 | 1 2 | 3 3 | 4 3' with page size 2: a repeat across pages, one inside a
    # page, and 3' listed again on a later day (as the weekend listings repeat Friday's).
    later = DAY + timedelta(days=2)
    served = [rec(0), rec(1), rec(1), rec(2), rec(3), rec(3), rec(4), rec(3, published=later)]
    with ArxivAPIServer(served) as srv:
        counts = runner.fetch(pipeline(engine, db_url, srv.url, http, page_size=2), JUNE).counts
        assert [r.params["start"] for r in srv.requests] == ["0", "2", "4", "6"]
    assert (counts.new, counts.updated, counts.unchanged) == (5, 0, 3)
    stored = rows(engine)
    assert sorted(stored) == [f"2606.{n:05d}" for n in range(5)]
    assert utc(stored["2606.00003"]["published"]) == DAY + timedelta(minutes=3)  # first listing


def test_newer_version_updates_older_is_ignored(
    engine: Engine, db_url: str, http: Callable[..., httpx.Client]
) -> None:
    clock = Clock(NOW)

    def fetch(*served: ListingRecord) -> dict[str, int]:
        with ArxivAPIServer(served) as srv:
            return runner.fetch(
                pipeline(engine, db_url, srv.url, http, now=clock), JUNE
            ).counts.as_dict()

    assert fetch(rec(1), rec(2))["new"] == 2
    clock.now = NOW + timedelta(days=1)
    v2 = rec(1, version=2, title="Paper 1, revised", updated=DAY + timedelta(days=2))
    assert fetch(v2, rec(2)) == {
        "new": 0,
        "updated": 1,
        "unchanged": 1,
        "excluded": 0,
        "near_duplicates": 0,
    }
    row = rows(engine)["2606.00001"]
    assert (row["version"], row["title"]) == (2, "Paper 1, revised")
    assert utc(row["updated"]) == DAY + timedelta(days=2)
    assert (utc(row["first_seen"]), utc(row["last_changed"])) == (NOW, NOW + timedelta(days=1))

    clock.now = NOW + timedelta(days=2)
    assert fetch(rec(1))["unchanged"] == 1  # the older version again: ignored
    row = rows(engine)["2606.00001"]
    assert (row["version"], utc(row["last_changed"])) == (2, NOW + timedelta(days=1))

    # Both versions of a new paper in one feed, in either order: the newer one is stored.
    for n, order in ((3, (2, 1)), (4, (1, 2))):
        counts = fetch(*(rec(n, version=v, title=f"Paper {n} v{v}") for v in order))
        assert (counts["new"], counts["unchanged"]) == (1, 1)
        assert (rows(engine)[f"2606.{n:05d}"]["version"]) == 2


def test_near_duplicate_titles_are_linked(
    engine: Engine, db_url: str, http: Callable[..., httpx.Client]
) -> None:
    first = [
        rec(1, title="Sparse Autoencoders Find Features in Protein Models"),
        rec(2, title="sparse autoencoders: find features in protein models!"),
        rec(3, title="SPARSE AUTOENCODERS — Find Features in Protéin Models"),
        rec(4, title="Short"),
        rec(5, title="short!"),  # keys under 12 characters are never linked
        rec(6, title="Something else entirely"),
    ]
    with ArxivAPIServer(first) as srv:
        counts = runner.fetch(pipeline(engine, db_url, srv.url, http), JUNE).counts
    assert (counts.new, counts.near_duplicates) == (6, 2)
    with ArxivAPIServer(
        [rec(7, title="Sparse autoencoders find features in protein models.")]
    ) as srv:
        counts = runner.fetch(pipeline(engine, db_url, srv.url, http), JUNE).counts
    assert (counts.new, counts.near_duplicates) == (1, 1)
    links = {i: r["duplicate_of"] for i, r in rows(engine).items()}
    assert links == {
        "2606.00001": None,
        "2606.00002": "2606.00001",
        "2606.00003": "2606.00001",
        "2606.00004": None,
        "2606.00005": None,
        "2606.00006": None,
        "2606.00007": "2606.00001",
    }


def test_include_and_exclude_terms_are_recorded_not_dropped(
    engine: Engine, db_url: str, http: Callable[..., httpx.Client]
) -> None:
    served = [
        rec(1, title="Large Language Models for Code"),
        rec(2, title="Protein language models at scale"),
        rec(3, title="Graph neural networks", summary="Message passing."),
        rec(4, title="Proteins as Language Models"),  # whole words: 'Proteins' is not 'protein'
    ]
    with ArxivAPIServer(served) as srv:
        p = pipeline(
            engine,
            db_url,
            srv.url,
            http,
            include_terms=["language models"],
            exclude_terms=["protein"],
        )
        counts = runner.fetch(p, JUNE).counts
    assert (counts.new, counts.excluded) == (4, 2)
    assert {i: r["excluded_reason"] for i, r in rows(engine).items()} == {
        "2606.00001": None,
        "2606.00002": "matches exclude term 'protein'",
        "2606.00003": "matches no include term",
        "2606.00004": None,
    }


def test_every_field_round_trips_into_the_paper_table(
    engine: Engine, db_url: str, http: Callable[..., httpx.Client]
) -> None:
    tricky = replace(
        TRICKY,
        published=datetime(2026, 6, 16, 17, 59, 1, tzinfo=UTC),
        updated=datetime(2026, 6, 18, 8, 0, 2, tzinfo=UTC),
    )
    plain = rec(9, title="Plain", summary="")  # optional fields absent
    with ArxivAPIServer([tricky, plain]) as srv:
        p = pipeline(engine, db_url, srv.url, http, categories=["math-ph", "cs.LG"])
        runner.fetch(p, JUNE)
    stored = rows(engine)
    row = stored["hep-th/9901001"]
    assert {k: row[k] for k in ("id", "version", "primary_category", "doi")} == {
        "id": "hep-th/9901001",
        "version": 3,
        "primary_category": "math-ph",
        "doi": "10.1103/PhysRevD.59.123",
    }
    assert row["title"] == 'Bounds on $\\alpha<1$ & "Σ-models" for Schrödinger <operators>'
    assert row["abstract"] == "We show $a<b$ &amp; c>d. Second paragraph — ü, 東京."
    assert row["authors"] == ["Zoë Ångström", "J. O'Brien & Co"]
    assert row["categories"] == ["hep-th", "math-ph", "math.MP"]
    assert row["comment"] == "12 pages, <b>not bold</b> & 3 figures"
    assert row["journal_ref"] == "Phys. Rev. D 59 (1999) 1&2"
    assert utc(row["published"]) == datetime(2026, 6, 16, 17, 59, 1, tzinfo=UTC)
    assert utc(row["updated"]) == datetime(2026, 6, 18, 8, 0, 2, tzinfo=UTC)
    assert row["title_key"] == "bounds on alpha 1 models for schrodinger operators"
    plain_row = stored["2606.00009"]
    assert (plain_row["comment"], plain_row["journal_ref"], plain_row["doi"]) == (None,) * 3
    assert (plain_row["abstract"], plain_row["version"]) == ("", 1)
    assert utc(plain_row["updated"]) == utc(plain_row["published"]) == DAY + timedelta(minutes=9)


# -- transient faults ------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["503", "500", "truncated", "malformed"])
def test_one_bad_answer_is_retried(
    arxiv_server: ArxivAPIServer, http: Callable[..., httpx.Client], fault: str
) -> None:
    sleeps = Sleeps()
    src = source(arxiv_server.url, http, sleep=sleeps, hooks=at_page(arxiv_server, 20, fault))
    assert [r.id for r in src.fetch(SAMPLE_CATEGORIES, JUNE)] == SAMPLE_ORDER
    assert [r.params["start"] for r in arxiv_server.requests] == ["0", "10", "20", "20", "30", "40"]
    assert arxiv_server.requests[2].fault == Fault(fault)  # type: ignore[arg-type]
    assert src.stats["retries"] == 1 and len(sleeps) == 1
    assert 0.005 <= sleeps[0] <= 0.015  # base 0.01 s with +-50 % jitter


def test_rate_limit_honours_retry_after(
    arxiv_server: ArxivAPIServer, http: Callable[..., httpx.Client]
) -> None:
    arxiv_server.inject(Fault.rate_limited(retry_after=2), Fault.rate_limited(retry_after=1))
    sleeps = Sleeps()
    got = list(
        source(arxiv_server.url, http, sleep=sleeps, retries=2).fetch(SAMPLE_CATEGORIES, JUNE)
    )
    assert len(got) == 48
    assert [r.params["start"] for r in arxiv_server.requests][:3] == ["0", "0", "0"]
    assert len(sleeps) == 2
    assert 2.0 <= sleeps[0] <= 2.01 and 1.0 <= sleeps[1] <= 1.01  # Retry-After + jitter < base


def test_empty_page_mid_stream_is_retried(
    arxiv_server: ArxivAPIServer, http: Callable[..., httpx.Client]
) -> None:
    src = source(arxiv_server.url, http, hooks=at_page(arxiv_server, 10, "empty"))
    assert [r.id for r in src.fetch(SAMPLE_CATEGORIES, JUNE)] == SAMPLE_ORDER
    assert [r.params["start"] for r in arxiv_server.requests] == ["0", "10", "10", "20", "30", "40"]
    assert src.stats["retries"] == 1


def test_short_page_loses_nothing(
    arxiv_server: ArxivAPIServer, http: Callable[..., httpx.Client]
) -> None:
    src = source(arxiv_server.url, http, hooks=at_page(arxiv_server, 10, "short"))
    assert [r.id for r in src.fetch(SAMPLE_CATEGORIES, JUNE)] == SAMPLE_ORDER
    assert [r.params["start"] for r in arxiv_server.requests] == ["0", "10", "19", "29", "39"]


def test_timeout_is_retried(
    arxiv_server: ArxivAPIServer, http: Callable[..., httpx.Client]
) -> None:
    arxiv_server.inject(Fault.timeout(1.0))
    src = source(arxiv_server.url, http, timeout=0.15)
    started = time.monotonic()
    assert [r.id for r in src.fetch(SAMPLE_CATEGORIES, JUNE)] == SAMPLE_ORDER
    assert time.monotonic() - started < 0.9  # gave up on the stalled answer, did not wait it out
    assert src.stats["retries"] == 1
    assert [r.params["start"] for r in arxiv_server.requests][:2] == ["0", "0"]


@pytest.mark.parametrize("fault", ["truncated", "malformed"])
def test_persistent_bad_page_fails_cleanly_keeping_earlier_pages(
    arxiv_server: ArxivAPIServer,
    engine: Engine,
    db_url: str,
    http: Callable[..., httpx.Client],
    fault: str,
) -> None:
    hooks = at_page(arxiv_server, 20, fault, fault, fault)  # retries=2: three tries, all bad
    p = pipeline(engine, db_url, arxiv_server.url, http, categories=SAMPLE_CATEGORIES, hooks=hooks)
    with pytest.raises(SourceError) as caught:
        runner.fetch(p, JUNE)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("arXiv API failed after 3 tries: malformed or truncated Atom (")
    assert message.endswith("nothing from this page was stored, run the fetch again later")
    assert [r.params["start"] for r in arxiv_server.requests] == ["0", "10", "20", "20", "20"]
    stored = rows(engine)
    assert sorted(stored) == sorted(SAMPLE_ORDER[:20])  # pages 1-2 whole, nothing of page 3
    by_id = {r.id: r for r in SAMPLE}
    assert all(row["title"] == by_id[i].title and row["content_hash"] for i, row in stored.items())
    [run] = recent_runs(engine)
    assert (run.stage, run.status, run.error) == ("fetch", "failed", message)
    assert get_watermark(engine, runner.query_key(p.settings)) is None  # the window is not done


def test_bad_utf8_skips_only_the_affected_entry(
    arxiv_server: ArxivAPIServer,
    engine: Engine,
    db_url: str,
    http: Callable[..., httpx.Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    arxiv_server.inject("badutf8")  # invalid bytes in the first entry's title on page 1
    p = pipeline(engine, db_url, arxiv_server.url, http, categories=SAMPLE_CATEGORIES)
    with caplog.at_level(logging.WARNING, logger="pipeline.fetch.arxiv"):
        counts = runner.fetch(p, JUNE).counts
    victim = SAMPLE_ORDER[0]
    assert (counts.new, counts.unchanged) == (47, 0)
    assert sorted(rows(engine)) == sorted(SAMPLE_ORDER[1:])
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped == [
        f"skipped arXiv entry http://arxiv.org/abs/{victim}v1: invalid UTF-8 bytes in the entry"
    ]
    assert all("\ufffd" not in row["title"] for row in rows(engine).values())


def test_entries_without_title_id_or_category_are_skipped(
    http: Callable[..., httpx.Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    served = [
        rec(1),
        rec(2, title=""),
        rec(3, id="2606.1234x"),
        rec(4),
        rec(5, title="   \n  "),
        rec(7, id="../../etc/passwd"),
        rec(8),
        rec(9),
    ]
    with ArxivAPIServer(served) as srv, caplog.at_level(logging.WARNING, "pipeline.fetch.arxiv"):
        src = source(srv.url, http, page_size=3)
        got = [r.id for r in src.fetch(["cs.LG"], JUNE)]
        # A skipped entry keeps its place: paging still advances by the entries served.
        assert [r.params["start"] for r in srv.requests] == ["0", "3", "6"]
    assert got == ["2606.00001", "2606.00004", "2606.00008", "2606.00009"]
    assert src.stats == {"requests": 3, "retries": 0, "skipped_entries": 4}
    reasons = {r.getMessage().split(": ", 1)[1] for r in caplog.records}
    assert reasons == {
        "no <title>",
        "unrecognised id 'http://arxiv.org/abs/2606.1234xv1'",
        "unrecognised id 'http://arxiv.org/abs/../../etc/passwdv1'",
    }


def test_connection_refused_fails_fast_pointing_at_make_demo(
    http: Callable[..., httpx.Client],
) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/query"
    sleeps = Sleeps()
    src = source(url, http, retries=5, sleep=sleeps)
    started = time.monotonic()
    with pytest.raises(SourceUnreachable) as caught:
        list(src.fetch(["cs.LG"], JUNE))
    assert time.monotonic() - started < 2.0
    message = str(caught.value)
    assert "\n" not in message
    assert f"cannot reach the arXiv API at {url} " in message
    assert "NEWSLETTER_ARXIV_URL" in message and "`make demo`" in message
    assert src.stats["requests"] == 3 and len(sleeps) == 2  # gives up after 3 refused connects


# -- politeness ------------------------------------------------------------------------------


def test_requests_keep_the_configured_delay(
    arxiv_server: ArxivAPIServer, http: Callable[..., httpx.Client]
) -> None:
    sleeps = Sleeps(real=True)
    src = source(arxiv_server.url, http, page_size=20, delay=0.2, sleep=sleeps)
    assert len(list(src.fetch(SAMPLE_CATEGORIES, JUNE))) == 48
    arrivals = [r.at for r in arxiv_server.requests]
    assert len(arrivals) == 3
    assert all(b - a >= 0.2 for a, b in zip(arrivals, arrivals[1:], strict=False))
    assert len(sleeps) == 2 and all(0 < s <= 0.2 for s in sleeps)


def test_arxiv_org_never_gets_less_than_three_seconds(
    arxiv_server: ArxivAPIServer, http: Callable[..., httpx.Client]
) -> None:
    """No network: a MockTransport answers arxiv.org's URL from the local server's data."""
    agents: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        agents.append(request.headers["user-agent"])
        status, headers, body = arxiv_server.respond(request.url.query.decode())
        return httpx.Response(status, headers=headers, content=body)

    public = "https://export.arxiv.org/api/query"
    sleeps = Sleeps()
    src = ArxivSource(
        public,
        http=http(transport=httpx.MockTransport(answer)),
        page_size=20,
        delay_seconds=0,
        sleep=sleeps,
    )
    assert src.delay_seconds == 3.0
    assert len(list(src.fetch(SAMPLE_CATEGORIES, JUNE))) == 48
    assert len(sleeps) == 2 and all(2.9 < s <= 3.0 for s in sleeps)
    assert len(agents) == 3 and all(a.startswith("arxiv-newsletter/") for a in agents)
    client = http()
    assert (
        ArxivSource("http://arxiv.org/api/query", http=client, delay_seconds=1).delay_seconds == 3.0
    )
    assert ArxivSource(public, http=client, delay_seconds=10).delay_seconds == 10
    assert ArxivSource("https://notarxiv.org/api", http=client, delay_seconds=0).delay_seconds == 0


# -- the watermark and the run log -----------------------------------------------------------


def test_default_window_from_last_week_then_watermark_with_catch_up(
    engine: Engine, db_url: str, http: Callable[..., httpx.Client]
) -> None:
    monday = datetime(2026, 6, 15, tzinfo=UTC)  # 2026-W25, the week before NOW's
    stamps = [
        monday - timedelta(minutes=1),  # 0 before the first window
        monday,  # 1
        NOW.replace(second=0) - timedelta(minutes=1),  # 2 last minute of the first window
        NOW.replace(second=0),  # 3 just after it: next run
        NOW + timedelta(days=7),  # 4 missed week 1
        NOW + timedelta(days=14),  # 5 missed week 2
        NOW + timedelta(days=20),  # 6
    ]
    served = [rec(i, published=t) for i, t in enumerate(stamps)]
    clock = Clock(NOW)
    with ArxivAPIServer(served) as srv:
        p = pipeline(engine, db_url, srv.url, http, now=clock)
        key = runner.query_key(p.settings)
        first = runner.fetch(p)
        assert first.window == Window(monday, NOW.replace(second=0))
        assert srv.requests[-1].params["search_query"] == (
            "(cat:cs.LG) AND submittedDate:[202606150000 TO 202606241029]"
        )
        assert first.counts.new_ids == ["2606.00001", "2606.00002"]
        assert get_watermark(engine, key) == NOW.replace(second=0)

        clock.now = NOW + timedelta(days=21)  # two weekly runs missed
        second = runner.fetch(p)
        assert second.window == Window(
            NOW.replace(second=0) - timedelta(hours=72), clock.now.replace(second=0)
        )
        assert srv.requests[-1].params["search_query"] == (
            "(cat:cs.LG) AND submittedDate:[202606211030 TO 202607151029]"
        )
        assert second.counts.new_ids == ["2606.00003", "2606.00004", "2606.00005", "2606.00006"]
        assert second.counts.unchanged == 1  # paper 2, in the overlap
        assert get_watermark(engine, key) == clock.now.replace(second=0)

        # An explicit older window does not move the watermark back.
        runner.fetch(p, Window(monday - timedelta(days=7), monday))
        assert get_watermark(engine, key) == clock.now.replace(second=0)

    runs = recent_runs(engine)
    assert [(r.stage, r.status, r.error) for r in runs] == [("fetch", "ok", None)] * 3
    assert [r.counts for r in reversed(runs)] == [
        {"new": 2, "updated": 0, "unchanged": 0, "excluded": 0, "near_duplicates": 0},
        {"new": 4, "updated": 0, "unchanged": 1, "excluded": 0, "near_duplicates": 0},
        {"new": 1, "updated": 0, "unchanged": 0, "excluded": 0, "near_duplicates": 0},
    ]
    assert all(r.finished is not None and r.finished >= r.started for r in runs)


def test_overlap_setting_sets_the_start(
    engine: Engine, db_url: str, http: Callable[..., httpx.Client]
) -> None:
    with ArxivAPIServer([rec(1)]) as srv:
        p = pipeline(engine, db_url, srv.url, http, fetch_overlap_hours=6)
        runner.fetch(p, Window(NOW - timedelta(days=1), NOW - timedelta(hours=1)))
        assert runner.fetch(p).window == Window(NOW - timedelta(hours=7), NOW.replace(second=0))


def test_failed_fetch_is_logged_and_keeps_the_watermark(
    engine: Engine, db_url: str, http: Callable[..., httpx.Client]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/query"
    p = pipeline(engine, db_url, url, http)
    with pytest.raises(SourceUnreachable) as caught:
        runner.fetch(p)
    [run] = recent_runs(engine)
    assert (run.stage, run.status, run.error) == ("fetch", "failed", str(caught.value))
    assert run.counts == {} and run.finished is not None
    assert get_watermark(engine, runner.query_key(p.settings)) is None
    assert rows(engine) == {}


# -- paging around skipped entries ----------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "starts"),
    [
        ((4,), ["0", "3"]),  # the last entry: the final page holds only a skipped entry
        ((1,), ["0", "1", "2", "3"]),  # page size 1: the first page is all skipped
        ((2, 3), ["0", "1", "2", "3"]),  # pages in the middle all skipped
    ],
)
def test_pages_of_skipped_entries_neither_fail_nor_end_the_fetch(
    http: Callable[..., httpx.Client], bad: tuple[int, ...], starts: list[str]
) -> None:
    served = [rec(n, title="") if n in bad else rec(n) for n in range(1, 5)]
    page_size = 3 if bad == (4,) else 1
    with ArxivAPIServer(served) as srv:
        src = source(srv.url, http, page_size=page_size)
        got = [r.id for r in src.fetch(["cs.LG"], JUNE)]
        assert [r.params["start"] for r in srv.requests] == starts
    assert got == [f"2606.{n:05d}" for n in range(1, 5) if n not in bad]
    assert src.stats["retries"] == 0 and src.stats["skipped_entries"] == len(bad)
