"""The local arXiv-compatible server, driven by the real `arxiv` client and by raw HTTP."""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import arxiv
import pytest
from lxml import etree

from pipeline.devservers.arxiv_api import (
    ArxivAPIServer,
    Fault,
    ListingRecord,
    load_listing,
)
from tests.helpers import TRICKY, python_child

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}
DAY0 = datetime(2026, 6, 15, tzinfo=UTC)
CATEGORIES = [("cs.CV",), ("cs.CL", "cs.AI"), ("cs.LG", "stat.ML"), ("math.OC", "cs.LG")]
N = 23


def make_records() -> list[ListingRecord]:
    """N papers, listed in an order that is not their submission order (6 h apart)."""
    return [
        ListingRecord(
            id=f"2606.{10000 + i}",
            title=f"Paper {i} on {'graph learning' if i % 3 == 0 else 'vision'}",
            summary=f"Abstract {i}. We study sparse autoencoders." if i % 2 else f"Abstract {i}.",
            authors=(f"Author {i}", "Del Maestro, A." if i == 4 else "Jane Doe"),
            categories=CATEGORIES[i % len(CATEGORIES)],
            published=DAY0 + timedelta(hours=6 * ((i * 5) % N)),
        )
        for i in range(N)
    ]


@pytest.fixture
def server() -> Iterator[ArxivAPIServer]:
    with ArxivAPIServer([*make_records(), TRICKY]) as srv:
        yield srv


@pytest.fixture
def make_client() -> Iterator[Callable[..., arxiv.Client]]:
    clients: list[arxiv.Client] = []

    def make(srv: ArxivAPIServer, page_size: int = 5, delay_seconds: float = 0) -> arxiv.Client:
        client = arxiv.Client(page_size=page_size, delay_seconds=delay_seconds, num_retries=0)
        client.query_url_format = srv.url + "?{}"
        clients.append(client)
        return client

    yield make
    for client in clients:
        client._session.close()


def search(
    client: arxiv.Client,
    query: str = "",
    order: arxiv.SortOrder = arxiv.SortOrder.Ascending,
    id_list: list[str] | None = None,
) -> list[arxiv.Result]:
    s = arxiv.Search(
        query=query,
        id_list=id_list,
        max_results=None,
        sort_by=arxiv.SortCriterion.SubmittedDate,
        sort_order=order,
    )
    return list(client.results(s))


def short_ids(results: list[arxiv.Result]) -> list[str]:
    return [r.get_short_id() for r in results]


def get(url: str, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def opensearch(body: bytes) -> tuple[int, int, int, int]:
    """totalResults, startIndex, itemsPerPage and the number of entries, parsed strictly."""
    root = etree.fromstring(body)

    def number(name: str) -> int:
        return int(root.findtext(f"opensearch:{name}", namespaces=NS))

    entries = len(root.findall("atom:entry", NS))
    return number("totalResults"), number("startIndex"), number("itemsPerPage"), entries


# -- paging, queries, sorting ----------------------------------------------------------------


def test_paging_returns_every_record_once_in_submission_order(server, make_client):
    results = search(make_client(server, page_size=5), "cat:cs.* OR cat:math.OC")

    expected = sorted(make_records(), key=lambda r: r.published)
    assert short_ids(results) == [f"{r.id}v1" for r in expected]
    assert [r.published for r in results] == [r.published for r in expected]
    pages = [(r.params["start"], r.params["max_results"]) for r in server.requests]
    assert pages == [("0", "5"), ("5", "5"), ("10", "5"), ("15", "5"), ("20", "5")]


def test_descending_order_and_everything_for_an_empty_query(server, make_client):
    results = search(make_client(server, page_size=7), "", arxiv.SortOrder.Descending)

    expected = sorted([*make_records(), TRICKY], key=lambda r: r.published, reverse=True)
    assert short_ids(results) == [f"{r.id}v{r.version}" for r in expected]


def test_category_or_query_inside_a_date_window(server, make_client):
    query = "(cat:cs.CV OR cat:cs.CL) AND submittedDate:[202606150000 TO 202606172359]"
    results = search(make_client(server), query)

    expected = [
        f"{r.id}v1"
        for r in sorted(make_records(), key=lambda r: r.published)
        if {"cs.CV", "cs.CL"} & set(r.categories) and r.published < DAY0 + timedelta(days=3)
    ]
    assert expected and short_ids(results) == expected


def test_total_results_start_index_and_page_cap(server):
    assert opensearch(get(server.url + "?start=3&max_results=2")[2]) == (N + 1, 3, 2, 2)
    assert opensearch(get(server.url + "?max_results=5000")[2]) == (N + 1, 0, 2000, N + 1)
    assert opensearch(get(server.url + "?start=100")[2]) == (N + 1, 100, 10, 0)


def test_repeated_ids_are_served_as_given(make_client):
    first = ListingRecord(id="2606.00001", title="Once", published=DAY0)
    again = ListingRecord(id="2606.00001", title="Once", published=DAY0 + timedelta(days=5))
    other = ListingRecord(id="2606.00002", title="Other", published=DAY0 + timedelta(days=1))
    with ArxivAPIServer([first, again, other]) as srv:
        results = search(make_client(srv, page_size=2), "cat:* OR all:once OR all:other")
        _, _, body = get(srv.url + "?max_results=1")

    assert short_ids(results) == ["2606.00001v1", "2606.00002v1", "2606.00001v1"]
    assert opensearch(body)[0] == 3


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "ti:vision ANDNOT cat:cs.CV",
            lambda r: "vision" in r.title and "cs.CV" not in r.categories,
        ),
        ('abs:"SPARSE autoencoders"', lambda r: "sparse" in r.summary),
        (
            'ti:"graph learning" AND (cat:cs.LG OR cat:cs.CV)',
            lambda r: "graph" in r.title and {"cs.LG", "cs.CV"} & set(r.categories),
        ),
        ("au:del_maestro", lambda r: r.id == "2606.10004"),
        (
            "all:jane ANDNOT (all:vision OR abs:sparse)",  # i % 6 == 0, but not 4 (no Jane)
            lambda r: r.id in ("2606.10000", "2606.10006", "2606.10012", "2606.10018"),
        ),
        ("id:2606.10007v1 OR id:2606.10008", lambda r: r.id in ("2606.10007", "2606.10008")),
        (
            "cat:stat.ML submittedDate:[20260615 TO 20260616]",  # adjacent terms: AND
            lambda r: "stat.ML" in r.categories and r.published < DAY0 + timedelta(days=2),
        ),
        (
            "lastUpdatedDate:[* TO 20260615060000]",
            lambda r: (r.updated or r.published) <= DAY0 + timedelta(hours=6),
        ),
    ],
)
def test_query_grammar(server, make_client, query, expected):
    results = search(make_client(server, page_size=50), query)

    everything = sorted([*make_records(), TRICKY], key=lambda r: r.published)
    want = [f"{r.id}v{r.version}" for r in everything if expected(r)]
    assert want and short_ids(results) == want


def test_date_bounds_are_inclusive_at_minute_precision(make_client):
    records = [
        ListingRecord(id=f"2606.0000{s}", title="t", published=DAY0 + timedelta(seconds=s * 30))
        for s in range(1, 5)
    ]  # :00:30, :01:00, :01:30, :02:00
    with ArxivAPIServer(records) as srv:
        results = search(make_client(srv), "submittedDate:[202606150001 TO 202606150001]")

    assert short_ids(results) == ["2606.00002v1", "2606.00003v1"]


def test_id_list_returns_those_papers_in_the_order_asked(server, make_client):
    s = arxiv.Search(id_list=["2606.10005", "hep-th/9901001v3", "2606.10001"])
    results = list(make_client(server).results(s))

    assert short_ids(results) == ["2606.10005v1", "hep-th/9901001v3", "2606.10001v1"]


# -- the Atom shape ----------------------------------------------------------------------------


def test_every_field_round_trips_through_the_arxiv_client(server, make_client):
    (result,) = search(make_client(server), 'ti:"schrödinger <operators>"')

    assert result.entry_id == "http://arxiv.org/abs/hep-th/9901001v3"
    assert result.title == re.sub(r"\s+", " ", TRICKY.title)
    assert result.summary == TRICKY.summary
    assert [a.name for a in result.authors] == list(TRICKY.authors)
    assert result.comment == TRICKY.comment
    assert result.journal_ref == TRICKY.journal_ref
    assert result.doi == TRICKY.doi
    assert result.primary_category == "math-ph"
    assert result.categories == list(TRICKY.categories)
    assert result.published == TRICKY.published
    assert result.updated == TRICKY.updated
    assert result.pdf_url == "https://arxiv.org/pdf/hep-th/9901001v3"
    links = {link.rel: link.href for link in result.links if link.title != "doi"}
    assert links["alternate"] == "https://arxiv.org/abs/hep-th/9901001v3"


def test_defaults_optional_elements_and_content_type(server, make_client):
    (result,) = search(make_client(server), "id:2606.10002")
    status, headers, body = get(server.url + "?id_list=2606.10002")

    assert result.primary_category == "cs.LG"  # categories[0]
    assert result.updated == result.published
    assert (result.comment, result.journal_ref, result.doi) == (None, None, None)
    assert status == 200 and headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert b"<arxiv:comment>" not in body and b"<arxiv:journal_ref>" not in body
    assert b"<published>2026-06-17T12:00:00Z</published>" in body


# -- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_faults_give_http_error_then_recover(server, make_client, status):
    client = make_client(server)
    server.inject(str(status))  # type: ignore[arg-type]

    with pytest.raises(arxiv.HTTPError) as raised:
        search(client, "cat:cs.CV")
    assert raised.value.status == status
    assert len(search(client, "cat:cs.CV")) == 6
    assert [r.fault is not None for r in server.requests] == [True, False, False]


def test_rate_limit_fault_carries_retry_after(server):
    server.inject("429", Fault.rate_limited(retry_after=7))

    status, headers, _ = get(server.url)
    assert (status, headers["Retry-After"]) == (429, "1")
    status, headers, _ = get(server.url)
    assert (status, headers["Retry-After"]) == (429, "7")
    assert get(server.url)[0] == 200


def test_empty_fault_keeps_total_results_but_drops_entries(server, make_client):
    server.inject("empty")
    assert opensearch(get(server.url + "?max_results=5")[2]) == (N + 1, 0, 5, 0)

    client = make_client(server, page_size=10)
    pages = client.results(arxiv.Search(max_results=None))
    first = [next(pages) for _ in range(10)]
    server.inject("empty")  # arXiv's flaky empty page, in the middle of a walk
    with pytest.raises(arxiv.UnexpectedEmptyPageError):
        next(pages)
    assert len(first) == 10


def test_short_fault_drops_the_last_entry(server):
    server.inject("short")
    assert opensearch(get(server.url + "?max_results=5")[2]) == (N + 1, 0, 5, 4)


def test_truncated_and_malformed_bodies_fail_strict_parsing(server):
    _, _, whole = get(server.url)
    server.inject("truncated", "malformed")

    status, _, cut = get(server.url)
    assert status == 200 and cut == whole[: len(whole) // 2]
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(cut)
    status, _, html = get(server.url)
    assert (status, html) == (200, b"<html>oops")
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(html)


def test_badutf8_fault_puts_invalid_bytes_in_an_entry_title(server):
    server.inject("badutf8")

    _, _, body = get(server.url)
    with pytest.raises(UnicodeDecodeError) as raised:
        body.decode("utf-8")
    before = body[: raised.value.start]
    assert before.rfind(b"<entry>") > 0 and before.endswith(b"<title>")


def test_timeout_fault_stalls_one_request(server):
    server.inject(Fault.timeout(seconds=3))

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        get(server.url, timeout=0.3)
    assert time.monotonic() - started < 2
    assert get(server.url, timeout=2)[0] == 200


def test_unknown_fault_names_are_rejected(server):
    with pytest.raises(ValueError, match="unknown fault"):
        server.inject("teapot")  # type: ignore[arg-type]


def test_requests_record_the_client_delay(server, make_client):
    search(make_client(server, page_size=10, delay_seconds=0.2), "")

    times = [r.at for r in server.requests]
    assert len(times) == 3
    assert all(b - a >= 0.19 for a, b in zip(times, times[1:], strict=False))


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        "search_query=cat:cs.CV+AND",
        "search_query=(cat:cs.CV+OR+cat:cs.CL",
        "search_query=cat:cs.CV)",
        "search_query=submittedDate:[2026+TO+2027]",
        "search_query=submittedDate:[202613010000+TO+202701010000]",
        "search_query=submittedDate:cs",
        "search_query=foo:bar",
        'search_query=ti:"unterminated',
        "search_query=ANDNOT+cat:cs.CV",
        "id_list=not-an-id",
        "start=-1",
        "max_results=ten",
        "sortBy=popularity",
    ],
)
def test_bad_requests_get_400_with_an_atom_error_entry(server, params):
    status, headers, body = get(f"{server.url}?{params}")

    assert status == 400 and headers["Content-Type"].startswith("application/atom+xml")
    root = etree.fromstring(body)
    assert root.findtext("atom:entry/atom:title", namespaces=NS) == "Error"
    assert root.findtext("atom:entry/atom:id", namespaces=NS).startswith(
        "http://arxiv.org/api/errors#"
    )
    assert opensearch(body)[0] == 1


def test_bad_query_through_the_client_is_http_400(server, make_client):
    with pytest.raises(arxiv.HTTPError) as raised:
        search(make_client(server), "cat:cs.CV OR")
    assert raised.value.status == 400


# -- loading listings --------------------------------------------------------------------------


def row(paper_id: str, **extra: object) -> str:
    fields = {
        "id": paper_id,
        "categories": ["cs.CL", "cs.AI"],
        "authors": ["A. Author"],
        "title": f"Title of {paper_id}",
        "summary": "An abstract.",
        "comment": None,
        "abs": f"https://arxiv.org/abs/{paper_id}",
        "pdf": f"https://arxiv.org/pdf/{paper_id}",
    }
    return json.dumps({**fields, **extra})


def test_load_listing_reads_a_directory_of_daily_files(tmp_path):
    (tmp_path / "2026-06-16.jsonl").write_text(row("2606.00003") + "\n\n" + row("2606.00001"))
    (tmp_path / "2026-06-15.jsonl").write_text(
        row("2606.00001")
        + "\n"
        + row(
            "2606.00002",
            published="2026-06-14T10:00:00Z",
            updated="2026-06-15T11:00:00+02:00",
            version=2,
            journal_ref="JMLR 1",
            doi="10.1/x",
            primary_category="cs.AI",
            comment="5 pages",
        )
        + "\n"
    )
    (tmp_path / "README.md").write_text("not a listing")

    records = load_listing(tmp_path)

    assert [r.id for r in records] == ["2606.00001", "2606.00002", "2606.00003", "2606.00001"]
    assert [r.published for r in records] == [
        datetime(2026, 6, 15, tzinfo=UTC),
        datetime(2026, 6, 14, 10, tzinfo=UTC),
        datetime(2026, 6, 16, tzinfo=UTC),
        datetime(2026, 6, 16, 0, 0, 2, tzinfo=UTC),
    ]
    second = records[1]
    assert second.updated == datetime(2026, 6, 15, 9, tzinfo=UTC)
    assert (second.version, second.journal_ref, second.doi) == (2, "JMLR 1", "10.1/x")
    assert (second.primary_category, second.comment) == ("cs.AI", "5 pages")
    assert records[0].categories == ("cs.CL", "cs.AI") and records[0].comment is None
    assert load_listing(tmp_path / "2026-06-16.jsonl") == records[2:]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("2026-06-15.jsonl", row("2606.00001") + "\n{oops\n", r"2026-06-15\.jsonl:2: "),
        ("2026-06-15.jsonl", json.dumps({"id": "2606.00001"}), r"\.jsonl:1: missing 'title'"),
        ("2026-06-15.jsonl", "[1, 2]", r"\.jsonl:1: not a JSON object"),
        ("listing.jsonl", row("2606.00001"), r"listing\.jsonl:1: no 'published'"),
    ],
)
def test_load_listing_names_file_and_line_of_a_bad_row(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)

    with pytest.raises(ValueError, match=message):
        load_listing(tmp_path)


def test_load_listing_rejects_a_directory_without_listings(tmp_path):
    with pytest.raises(ValueError, match="no \\*.jsonl files"):
        load_listing(tmp_path)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_command_line_serves_a_file_until_stopped(tmp_path, stop_signal):
    listing = tmp_path / "2026-06-15.jsonl"
    listing.write_text(row("2606.00001") + "\n" + row("2606.00002") + "\n")
    root = Path(__file__).resolve().parents[1]
    args = ("-m", "pipeline.devservers.arxiv_api", str(listing), "--port", "0")
    with python_child(*args, cwd=root) as (proc, line):
        url = re.search(r"http://127\.0\.0\.1:\d+/api/query", line)
        assert url, line
        assert opensearch(get(url.group(0))[2])[0] == 2
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=5) == 0
