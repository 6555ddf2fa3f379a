"""A local arXiv-API-compatible HTTP server for tests, the offline demo and benchmarks.

    with ArxivAPIServer(load_listing(Path("data/arxiv-week"))) as srv:
        client.query_url_format = srv.url + "?{}"
        srv.inject("503", Fault.rate_limited(retry_after=1), "empty")  # the next 3 requests
        ...
        assert [r.params["start"] for r in srv.requests] == ["0", "0", "0", "100"]

``GET /api/query`` takes arXiv's parameters (``search_query``, ``id_list``, ``start``,
``max_results`` capped at 2000, ``sortBy``, ``sortOrder``) and answers with Atom in arXiv's
shape. Query grammar: ``ti: abs: au: co: jr: all:`` (case-insensitive substring, ``"quoted
phrases"``), ``cat:`` (exact, or a prefix with ``*``), ``id:``, ``submittedDate:[FROM TO TO]`` and
``lastUpdatedDate:[..]`` (8, 12 or 14 digits or ``*``; both ends inclusive at their precision),
joined with ``AND``, ``OR``, ``ANDNOT`` and parentheses (``OR`` binds loosest; adjacent terms
are AND-ed). A malformed request gets HTTP 400 with arXiv's Atom error entry.

Rows are served as given (repeated ids included). Each entry's XML is rendered once, at start.

Foreground use: ``python -m pipeline.devservers.arxiv_api DATA_PATH --port 8088``
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import json
import logging
import queue
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape, quoteattr

from pipeline.devservers.background import AppServer, BackgroundServer

logger = logging.getLogger(__name__)

ARXIV_NS = "http://arxiv.org/schemas/atom"
MAX_RESULTS_CAP = 2000
CONTENT_TYPE = "application/atom+xml; charset=utf-8"
MALFORMED_BODY = b"<html>oops"
_FEED_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
    'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="' + ARXIV_NS + '">\n'
)


# -- records -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ListingRecord:
    """One listing row as served; ``updated`` and ``primary_category`` default from
    ``published`` and ``categories[0]``, ``abs``/``pdf`` from the id."""

    id: str  # versionless: "2606.14173" or "hep-th/9901001"
    title: str
    published: datetime
    summary: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    updated: datetime | None = None
    version: int = 1
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    primary_category: str | None = None
    abs: str | None = None
    pdf: str | None = None


def load_listing(path: Path) -> list[ListingRecord]:
    """Rows of one ``.jsonl`` file, or of every ``*.jsonl`` in a directory, by file name.

    A row without ``published`` gets its file's date (``YYYY-MM-DD.jsonl``) at 00:00 UTC
    plus its line index in seconds.
    """
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: no *.jsonl files")
    records: list[ListingRecord] = []
    for file in files:
        day = _file_day(file)
        with file.open(encoding="utf-8") as lines:
            for index, line in enumerate(lines):
                if not line.strip():
                    continue
                try:
                    records.append(_record_from_row(json.loads(line), day, index))
                except (ValueError, TypeError, AttributeError) as error:
                    raise ValueError(f"{file}:{index + 1}: {error}") from error
    return records


def _file_day(file: Path) -> datetime | None:
    try:
        return datetime.strptime(file.stem, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def _record_from_row(row: Any, day: datetime | None, index: int) -> ListingRecord:
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    for key in ("id", "title"):
        if not row.get(key):
            raise ValueError(f"missing {key!r}")
    if row.get("published"):
        published = _parse_time(row["published"])
    elif day is not None:
        published = day + timedelta(seconds=index)
    else:
        raise ValueError("no 'published', and the file name is not YYYY-MM-DD.jsonl")
    return ListingRecord(
        id=str(row["id"]),
        title=str(row["title"]),
        published=published,
        updated=_parse_time(row["updated"]) if row.get("updated") else None,
        summary=str(row.get("summary") or ""),
        authors=tuple(str(a) for a in row.get("authors") or ()),
        categories=tuple(str(c) for c in row.get("categories") or ()),
        version=int(row.get("version") or 1),
        comment=_optional(row.get("comment")),
        journal_ref=_optional(row.get("journal_ref")),
        doi=_optional(row.get("doi")),
        primary_category=_optional(row.get("primary_category")),
        abs=_optional(row.get("abs")),
        pdf=_optional(row.get("pdf")),
    )


def _optional(value: Any) -> str | None:
    return str(value) if value else None


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- rendering -----------------------------------------------------------------------------

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_VERSION_SUFFIX = re.compile(r"v\d+$")


def _x(text: str) -> str:
    return escape(_NOT_XML.sub("", text))


def _attr(text: str) -> str:
    return quoteattr(_NOT_XML.sub("", text))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_entry(r: ListingRecord) -> str:
    """One ``<entry>`` in the shape arXiv returns."""
    v = f"v{r.version}"
    abs_url = _VERSION_SUFFIX.sub("", r.abs or f"https://arxiv.org/abs/{r.id}") + v
    pdf_url = _VERSION_SUFFIX.sub("", r.pdf or f"https://arxiv.org/pdf/{r.id}") + v
    primary = r.primary_category or (r.categories[0] if r.categories else "")
    lines = [
        f"<id>http://arxiv.org/abs/{_x(r.id)}{v}</id>",
        f"<updated>{_stamp(r.updated or r.published)}</updated>",
        f"<published>{_stamp(r.published)}</published>",
        f"<title>{_x(r.title)}</title>",
        f"<summary>{_x(r.summary)}</summary>",
        *(f"<author>\n      <name>{_x(name)}</name>\n    </author>" for name in r.authors),
    ]
    if r.doi:
        lines.append(f"<arxiv:doi>{_x(r.doi)}</arxiv:doi>")
        lines.append(
            f'<link title="doi" href={_attr("http://dx.doi.org/" + r.doi)} rel="related"/>'
        )
    lines.append(f'<link href={_attr(abs_url)} rel="alternate" type="text/html"/>')
    lines.append(f'<link title="pdf" href={_attr(pdf_url)} rel="related" type="application/pdf"/>')
    if r.comment:
        lines.append(f"<arxiv:comment>{_x(r.comment)}</arxiv:comment>")
    if r.journal_ref:
        lines.append(f"<arxiv:journal_ref>{_x(r.journal_ref)}</arxiv:journal_ref>")
    lines.append(f'<arxiv:primary_category term={_attr(primary)} scheme="{ARXIV_NS}"/>')
    lines.extend(f'<category term={_attr(c)} scheme="{ARXIV_NS}"/>' for c in r.categories)
    return "  <entry>\n    " + "\n    ".join(lines) + "\n  </entry>\n"


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


class _Entry:
    """A record with its pre-rendered XML and what queries look at."""

    def __init__(self, record: ListingRecord) -> None:
        self.record = record
        self.xml = render_entry(record).encode("utf-8", "replace")
        self.published = record.published
        self.updated = record.updated or record.published
        self.categories = frozenset(record.categories)

    @functools.cached_property
    def text(self) -> dict[str, str]:
        """Query field -> whitespace-collapsed lower-case text; built on first text query."""
        r = self.record
        text = {
            "ti": _norm(r.title),
            "abs": _norm(r.summary),
            "au": "\n".join(_norm(name) for name in r.authors),
            "co": _norm(r.comment or ""),
            "jr": _norm(r.journal_ref or ""),
        }
        text["all"] = "\n".join(text.values())
        return text


# -- queries -------------------------------------------------------------------------------


class QueryError(ValueError):
    """A malformed request; answered with HTTP 400 and an Atom error entry."""


_Predicate = Callable[[_Entry], bool]
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<paren>[()])
    | (?P<op>ANDNOT|AND|OR)(?=[\s()]|$)
    | (?P<field>\w+):(?:"(?P<phrase>[^"]*)"|\[(?P<range>[^\]]*)\]|(?P<word>[^\s()"]+))
    | "(?P<quoted>[^"]*)"
    | (?P<bare>[^\s()":]+)
    )""",
    re.VERBOSE,
)
_DATE_BOUND = r"(\d{14}|\d{12}|\d{8}|\*)"
_RANGE = re.compile(rf"\s*{_DATE_BOUND}\s+TO\s+{_DATE_BOUND}\s*", re.IGNORECASE)
_PRECISION = {  # digits -> (format, how far an inclusive upper bound reaches)
    8: ("%Y%m%d", timedelta(days=1)),
    12: ("%Y%m%d%H%M", timedelta(minutes=1)),
    14: ("%Y%m%d%H%M%S", timedelta(seconds=1)),
}
_ID = re.compile(r"(\d{4}\.\d{4,5}|[a-z-]+(\.[A-Z]{2})?/\d{7})(v\d+)?")


def parse_query(query: str) -> _Predicate:
    """Compile an arXiv ``search_query`` into a predicate; raises QueryError."""
    tokens: list[str | _Predicate] = []
    pos, query = 0, query.strip()
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if m is None or m.end() == pos:
            raise QueryError(f"malformed query near {query[pos:]!r}")
        pos = m.end()
        if m["paren"] or m["op"]:
            tokens.append(m["paren"] or m["op"])
        elif m["field"]:
            value = m["phrase"] if m["phrase"] is not None else m["word"]
            tokens.append(_term(m["field"], value, m["range"]))
        else:
            tokens.append(_term("all", m["quoted"] if m["quoted"] is not None else m["bare"], None))
    return _Parser(tokens).parse()


def _term(field: str, value: str | None, date_range: str | None) -> _Predicate:
    if field in ("submittedDate", "lastUpdatedDate"):
        if date_range is None:
            raise QueryError(f"{field} needs a range: {field}:[YYYYMMDDHHMM TO YYYYMMDDHHMM]")
        lo, hi = _date_range(date_range)
        if field == "submittedDate":
            return lambda e: lo <= e.published < hi
        return lambda e: lo <= e.updated < hi
    if date_range is not None or value is None:
        raise QueryError(f"{field}: takes a word or a quoted phrase, not a range")
    if field == "cat":
        if value.endswith("*"):
            prefix = value[:-1]
            return lambda e: any(c.startswith(prefix) for c in e.categories)
        return lambda e: value in e.categories
    if field == "id":
        versionless = _VERSION_SUFFIX.sub("", value)
        return lambda e: e.record.id == versionless
    if field not in ("ti", "abs", "au", "co", "jr", "all"):
        raise QueryError(f"unknown field {field!r}")
    needle = _norm(value.strip("*"))  # a trailing wildcard adds nothing to a substring match
    if field == "au":
        needle = needle.replace("_", " ")  # au:del_maestro
    if not needle:
        raise QueryError(f"{field}: empty search term")
    return lambda e: needle in e.text[field]


def _date_range(text: str) -> tuple[datetime, datetime]:
    m = _RANGE.fullmatch(text)
    if m is None:
        raise QueryError(f"bad date range [{text}]: use [YYYYMMDDHHMM TO YYYYMMDDHHMM]")
    return _date_bound(m[1], upper=False), _date_bound(m[2], upper=True)


def _date_bound(digits: str, *, upper: bool) -> datetime:
    if digits == "*":
        return (datetime.max if upper else datetime.min).replace(tzinfo=UTC)
    fmt, step = _PRECISION[len(digits)]
    try:
        start = datetime.strptime(digits, fmt).replace(tzinfo=UTC)
    except ValueError:
        raise QueryError(f"bad date {digits!r}") from None
    return start + step if upper else start


def _combine(op: str, a: _Predicate, b: _Predicate) -> _Predicate:
    if op == "OR":
        return lambda e: a(e) or b(e)
    if op == "ANDNOT":
        return lambda e: a(e) and not b(e)
    return lambda e: a(e) and b(e)


class _Parser:
    """or := and (OR and)* ; and := atom ((AND | ANDNOT)? atom)* ; atom := ( or ) | term"""

    def __init__(self, tokens: list[str | _Predicate]) -> None:
        self.tokens = tokens
        self.pos = 0

    def parse(self) -> _Predicate:
        predicate = self._or()
        if self.pos < len(self.tokens):
            raise QueryError(f"unexpected {self.tokens[self.pos]!r}")
        return predicate

    def _peek(self) -> str | _Predicate | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self) -> _Predicate:
        left = self._and()
        while self._peek() == "OR":
            self.pos += 1
            left = _combine("OR", left, self._and())
        return left

    def _and(self) -> _Predicate:
        left = self._atom()
        while (token := self._peek()) not in (None, "OR", ")"):
            op = "AND"
            if token in ("AND", "ANDNOT"):
                op, self.pos = str(token), self.pos + 1
            left = _combine(op, left, self._atom())
        return left

    def _atom(self) -> _Predicate:
        token = self._peek()
        self.pos += 1
        if token == "(":
            inner = self._or()
            if self._peek() != ")":
                raise QueryError("missing ')'")
            self.pos += 1
            return inner
        if token is None or isinstance(token, str):
            raise QueryError(f"expected a term, got {token or 'the end of the query'!r}")
        return token


# -- faults and recorded requests ----------------------------------------------------------

FaultKind = Literal[
    "500", "503", "429", "empty", "truncated", "badutf8", "short", "malformed", "timeout"
]


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by the next request to /api/query.

    ``500``/``503``: that status. ``429``: with ``Retry-After: retry_after``. ``empty``: a valid
    feed with the usual totalResults but no entries. ``short``: the last entry dropped.
    ``truncated``: the body cut in half. ``badutf8``: invalid UTF-8 bytes in an entry's title.
    ``malformed``: ``<html>oops``. ``timeout``: wait ``seconds``, then answer normally.
    """

    kind: FaultKind
    retry_after: int = 1
    seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault {self.kind!r}; one of {get_args(FaultKind)}")

    @classmethod
    def rate_limited(cls, retry_after: int = 1) -> Fault:
        return cls("429", retry_after=retry_after)

    @classmethod
    def timeout(cls, seconds: float) -> Fault:
        return cls("timeout", seconds=seconds)


class RecordedRequest(NamedTuple):
    params: dict[str, str]  # the query parameters, decoded (last value wins)
    at: float  # time.monotonic() when the request arrived
    fault: Fault | None  # the fault it consumed, if any


class Response(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


# -- the server ----------------------------------------------------------------------------


class ArxivAPIServer(BackgroundServer):
    """Serves ``records`` at ``http://HOST:PORT/api/query`` from a daemon thread."""

    def __init__(
        self, records: Iterable[ListingRecord], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        """Port 0 picks a free port; ``url`` is known once started."""
        super().__init__(host, port)
        self._entries = [_Entry(r) for r in records]
        self._by_id: dict[str, list[_Entry]] = {}
        for entry in self._entries:
            self._by_id.setdefault(entry.record.id, []).append(entry)
        latest = max((e.updated for e in self._entries), default=datetime(2000, 1, 1, tzinfo=UTC))
        self._feed_updated = _stamp(latest)
        self._select = functools.lru_cache(maxsize=64)(self._select_uncached)
        self.faults: queue.Queue[Fault] = queue.Queue()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def _server(self, address: tuple[str, int]) -> AppServer[ArxivAPIServer]:
        return AppServer(address, _Handler, self)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/api/query"

    def inject(self, *faults: Fault | FaultKind) -> None:
        """Queue faults; each is consumed, in order, by the next request."""
        for fault in faults:
            self.faults.put(fault if isinstance(fault, Fault) else Fault(fault))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def respond(self, query_string: str) -> Response:
        """The answer to ``GET /api/query?{query_string}``, faults applied."""
        params = {k: v[-1] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
        try:
            fault: Fault | None = self.faults.get_nowait()
        except queue.Empty:
            fault = None
        with self._lock:
            self._requests.append(RecordedRequest(params, time.monotonic(), fault))
        if fault is not None and fault.kind in ("500", "503", "429"):
            headers = {"Content-Type": "text/plain; charset=utf-8"}
            if fault.kind == "429":
                headers["Retry-After"] = str(fault.retry_after)
            return Response(int(fault.kind), headers, f"HTTP {fault.kind}\n".encode())
        if fault is not None and fault.kind == "timeout":
            self._stopping.wait(fault.seconds)
        kind = fault.kind if fault else None
        if kind == "malformed":
            return Response(200, {"Content-Type": "text/html"}, MALFORMED_BODY)
        try:
            body = self._page(params, empty=kind == "empty", short=kind == "short")
        except QueryError as error:
            return Response(400, {"Content-Type": CONTENT_TYPE}, self._error_feed(params, error))
        if kind == "truncated":
            body = body[: len(body) // 2]
        elif kind == "badutf8":
            at = body.find(b"<title>", max(body.find(b"<entry>"), 0)) + len(b"<title>")
            body = body[:at] + b"\xff\xfe\xc3(" + body[at:]
        return Response(200, {"Content-Type": CONTENT_TYPE}, body)

    def _page(self, params: dict[str, str], *, empty: bool, short: bool) -> bytes:
        start = _int_param(params, "start", 0)
        per_page = min(_int_param(params, "max_results", 10), MAX_RESULTS_CAP)
        sort_by = params.get("sortBy") or "relevance"
        sort_order = params.get("sortOrder") or "descending"
        if sort_by not in ("relevance", "lastUpdatedDate", "submittedDate"):
            raise QueryError("sortBy must be relevance, lastUpdatedDate or submittedDate")
        if sort_order not in ("ascending", "descending"):
            raise QueryError("sortOrder must be ascending or descending")
        selected = self._select(
            params.get("search_query", ""), params.get("id_list", ""), sort_by, sort_order
        )
        items = [] if empty else [e.xml for e in selected[start : start + per_page]]
        if short:
            items = items[:-1]
        head = self._feed_head(params, total=len(selected), start=start, per_page=per_page)
        return head + b"".join(items) + b"</feed>\n"

    def _select_uncached(
        self, search_query: str, id_list: str, sort_by: str, sort_order: str
    ) -> tuple[_Entry, ...]:
        entries = self._entries
        if id_list.strip():
            entries = [e for wanted in id_list.split(",") if (e := self._lookup(wanted.strip()))]
        if search_query.strip():
            predicate = parse_query(search_query)
            entries = [e for e in entries if predicate(e)]
        if sort_by == "relevance":
            return tuple(entries)
        key: Callable[[_Entry], tuple[datetime, str]] = (
            (lambda e: (e.published, e.record.id))
            if sort_by == "submittedDate"
            else (lambda e: (e.updated, e.record.id))
        )
        return tuple(sorted(entries, key=key, reverse=sort_order == "descending"))

    def _lookup(self, wanted: str) -> _Entry | None:
        """The last row for an id_list item (``2606.14173`` or ``2606.14173v2``)."""
        if not _ID.fullmatch(wanted):
            raise QueryError(f"incorrect id format for {wanted}")
        versionless = _VERSION_SUFFIX.sub("", wanted)
        rows = [
            e
            for e in self._by_id.get(versionless, [])
            if wanted in (versionless, f"{versionless}v{e.record.version}")
        ]
        return rows[-1] if rows else None

    def _feed_head(self, params: dict[str, str], *, total: int, start: int, per_page: int) -> bytes:
        title = (
            f"arXiv Query: search_query={params.get('search_query', '')}"
            f"&id_list={params.get('id_list', '')}&start={start}&max_results={per_page}"
        )
        digest = base64.urlsafe_b64encode(hashlib.sha1(title.encode()).digest()).decode()
        link = f"http://{self.host}:{self._port}/api/query?{urlencode(params)}"
        return (
            f"{_FEED_OPEN}"
            f'  <link href={_attr(link)} rel="self" type="application/atom+xml"/>\n'
            f'  <title type="html">{_x(title)}</title>\n'
            f"  <id>http://arxiv.org/api/{digest.rstrip('=')}</id>\n"
            f"  <updated>{self._feed_updated}</updated>\n"
            f"  <opensearch:totalResults>{total}</opensearch:totalResults>\n"
            f"  <opensearch:startIndex>{start}</opensearch:startIndex>\n"
            f"  <opensearch:itemsPerPage>{per_page}</opensearch:itemsPerPage>\n"
        ).encode()

    def _error_feed(self, params: dict[str, str], error: QueryError) -> bytes:
        anchor = "http://arxiv.org/api/errors#" + re.sub(r"\W+", "_", str(error)).strip("_")
        entry = (
            f"  <entry>\n    <id>{_x(anchor)}</id>\n    <title>Error</title>\n"
            f"    <summary>{_x(str(error))}</summary>\n"
            f"    <updated>{self._feed_updated}</updated>\n"
            f'    <link href={_attr(anchor)} rel="alternate" type="text/html"/>\n'
            f"    <author>\n      <name>arXiv api core</name>\n    </author>\n  </entry>\n"
        )
        head = self._feed_head(params, total=1, start=0, per_page=1)
        return head + entry.encode() + b"</feed>\n"


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    text = params.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise QueryError(f"{name} must be a non-negative integer, not {text!r}")
    return int(text)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer has a Content-Length
    disable_nagle_algorithm = True  # headers and body go out as two writes
    server: AppServer[ArxivAPIServer]

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.rstrip("/") != "/api/query":
            self.send_error(404, "only /api/query is served here")
            return
        status, headers, body = self.server.app.respond(url.query)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.devservers.arxiv_api",
        description="Serve arXiv listing rows through a local arXiv-compatible API until Ctrl-C.",
    )
    parser.add_argument("data", type=Path, help="a YYYY-MM-DD.jsonl file or a directory of them")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8088, help="port (0: any free one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        records = load_listing(args.data)
    except (OSError, ValueError) as error:
        logger.error(
            "Cannot load %s (%s) - give a .jsonl file or a directory of them", args.data, error
        )
        return 1
    server = ArxivAPIServer(records, host=args.host, port=args.port)
    try:
        server.start()
    except OSError as error:
        logger.error(
            "Cannot listen on %s:%s (%s) - pick another --port", args.host, args.port, error
        )
        return 1
    print(
        f"arXiv-compatible dev server: {len(records)} records at {server.url} (Ctrl-C to stop)",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` stops as cleanly as Ctrl-C
    server.serve_until_interrupted()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
