"""arXiv query API through the `arxiv` package, made polite and robust.

`arxiv.Client` builds the query URLs and walks the pages; this subclass replaces
its request step (`_parse_feed`) with one that uses httpx with timeouts, keeps
at least `delay_seconds` between requests (3 s minimum against arxiv.org),
retries transient failures (429, 5xx, timeouts, dropped connections, arXiv's
empty or cut-off pages) a bounded number of times with exponential backoff and
jitter, honours `Retry-After`, and parses every page strictly: a truncated or
malformed page is retried, never half-read.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import arxiv
import httpx
from arxiv._feed import FeedHeader, ParsedFeed
from lxml import etree

from pipeline.backoff import backoff_delay, retry_after_seconds
from pipeline.errors import SourceError, SourceUnreachable
from pipeline.records import ARXIV_ID, PaperRecord, Window

log = logging.getLogger(__name__)

_NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}
_A = "{http://www.w3.org/2005/Atom}"
_X = "{http://arxiv.org/schemas/atom}"
# New-style 2606.14173 and old-style hep-th/9901001 ids; anything else is skipped.
_ID_RE = re.compile(rf"abs/(?P<id>{ARXIV_ID})(?:v(?P<version>\d+))?$")
_TRANSIENT_STATUS = {429, 500, 502, 503, 504}
PUBLIC_MIN_DELAY = 3.0
USER_AGENT = "arxiv-newsletter/0.1 (+https://github.com/; polite weekly fetch)"


SKIPPED = object()
"""Stands in the page for an entry that could not be read."""


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def build_query(categories: Sequence[str], window: Window) -> str:
    """Categories OR-ed, inside a submittedDate window (arXiv bounds are inclusive)."""
    cats = " OR ".join(f"cat:{c}" for c in categories)
    last = window.until - timedelta(minutes=1)
    return f"({cats}) AND submittedDate:[{window.since:%Y%m%d%H%M} TO {last:%Y%m%d%H%M}]"


def is_public_arxiv(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == "arxiv.org" or host.endswith(".arxiv.org")


class ArxivSource:
    """`PaperSource` for the arXiv query API (or any server speaking it)."""

    def __init__(
        self,
        url: str,
        *,
        http: httpx.Client,
        page_size: int = 1000,
        delay_seconds: float = 3.0,
        retries: int = 5,
        retry_base_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        if is_public_arxiv(url):
            delay_seconds = max(delay_seconds, PUBLIC_MIN_DELAY)
        self._client = _PoliteClient(
            url,
            http=http,
            page_size=page_size,
            delay_seconds=delay_seconds,
            retries=retries,
            retry_base_seconds=retry_base_seconds,
            sleep=sleep,
            rng=rng or random.Random(),
        )

    @property
    def stats(self) -> dict[str, int]:
        return dict(self._client.stats)

    def fetch(self, categories: Sequence[str], window: Window) -> Iterator[PaperRecord]:
        """Every paper submitted in `window` in any of `categories`, oldest first."""
        search = arxiv.Search(
            query=build_query(categories, window),
            max_results=None,
            sort_by=arxiv.SortCriterion.SubmittedDate,
            sort_order=arxiv.SortOrder.Ascending,
        )
        for item in self._client.results(search):
            if isinstance(item, PaperRecord):
                yield item


class _PoliteClient(arxiv.Client):  # type: ignore[misc]
    def __init__(
        self,
        url: str,
        *,
        http: httpx.Client,
        page_size: int,
        delay_seconds: float,
        retries: int,
        retry_base_seconds: float,
        sleep: Callable[[float], None],
        rng: random.Random,
    ) -> None:
        super().__init__(page_size=page_size, delay_seconds=delay_seconds, num_retries=retries)
        self.query_url_format = url + "?{}"
        self._http = http
        self._sleep = sleep
        self._rng = rng
        self._base = retry_base_seconds
        self._last_request: float | None = None
        self.stats = {"requests": 0, "retries": 0, "skipped_entries": 0}

    def _parse_feed(self, url: str, first_page: bool = True, _try_index: int = 0) -> ParsedFeed:
        connect_failures = 0
        last: _Transient | None = None
        for attempt in range(self.num_retries + 1):
            if attempt:
                self.stats["retries"] += 1
                self._sleep(self._backoff(attempt, last.retry_after if last else None))
            try:
                return self._request(url, first_page)
            except httpx.ConnectError as exc:
                connect_failures += 1
                last = _Transient(f"cannot connect: {exc}")
                if connect_failures > 2:
                    break
            except _Transient as exc:
                last = exc
            log.info("arXiv request failed (try %d): %s", attempt + 1, last)
        assert last is not None
        if connect_failures and connect_failures == attempt + 1:
            raise SourceUnreachable(
                f"cannot reach the arXiv API at {self.query_url_format[:-3]} ({last}); "
                "check the network or NEWSLETTER_ARXIV_URL, or run `make demo` offline"
            )
        raise SourceError(
            f"arXiv API failed after {attempt + 1} tries: {last}; nothing from this page "
            "was stored, run the fetch again later"
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        return backoff_delay(attempt, retry_after, base=self._base, rng=self._rng)

    def _request(self, url: str, first_page: bool) -> ParsedFeed:
        if self._last_request is not None:
            wait = self.delay_seconds - (time.monotonic() - self._last_request)
            if wait > 0:
                self._sleep(wait)
        self.stats["requests"] += 1
        try:
            resp = self._http.get(url, headers={"user-agent": USER_AGENT})
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out ({type(exc).__name__})") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise _Transient(f"connection dropped ({exc})") from None
        finally:
            self._last_request = time.monotonic()
        if resp.status_code in _TRANSIENT_STATUS:
            raise _Transient(f"HTTP {resp.status_code}", _retry_after(resp))
        if resp.status_code != 200:
            detail = _error_summary(resp.content)
            raise SourceError(f"arXiv API answered HTTP {resp.status_code} for {url}{detail}")
        feed = self._parse(resp.content)
        if not feed.results and not first_page:
            raise _Transient("unexpectedly empty page")
        return feed

    def _parse(self, content: bytes) -> ParsedFeed:
        bad_utf8 = False
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            bad_utf8 = True
            content = content.decode("utf-8", errors="replace").encode("utf-8")
        parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
        try:
            root = etree.fromstring(content, parser=parser)
        except etree.XMLSyntaxError as exc:
            raise _Transient(f"malformed or truncated Atom ({exc})") from None
        if root.tag != f"{_A}feed":
            raise _Transient(f"not an Atom feed (root element {root.tag})")
        header = FeedHeader(
            total_results=_int(root, "opensearch:totalResults"),
            items_per_page=_int(root, "opensearch:itemsPerPage"),
            start_index=_int(root, "opensearch:startIndex"),
        )
        # A skipped entry keeps its place in the page (as SKIPPED), so the arxiv client's
        # paging arithmetic, which counts results, still matches the entries served.
        results: list[Any] = []
        for entry in root.iterfind(f"{_A}entry"):
            record, reason = _record(entry)
            if record is not None and bad_utf8 and _has_replacement(record):
                record, reason = None, "invalid UTF-8 bytes in the entry"
            if record is None:
                self.stats["skipped_entries"] += 1
                log.warning("skipped arXiv entry %s: %s", _text(entry, f"{_A}id") or "?", reason)
            results.append(record or SKIPPED)
        return ParsedFeed(header=header, results=results)


def _retry_after(resp: httpx.Response) -> float | None:
    return retry_after_seconds(resp.headers.get("retry-after"))


def _error_summary(content: bytes) -> str:
    try:
        root = etree.fromstring(content, parser=etree.XMLParser(no_network=True))
    except etree.XMLSyntaxError:
        return ""
    summary = root.findtext(f"{_A}entry/{_A}summary")
    return f": {summary.strip()}" if summary else ""


def _text(elem: Any, tag: str) -> str | None:
    found = elem.find(tag)
    if found is None or found.text is None:
        return None
    return str(found.text)


def _int(root: Any, path: str) -> int:
    text = root.findtext(path, namespaces=_NS)
    try:
        return int(text.strip()) if text else 0
    except ValueError:
        return 0


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_TAG_ID, _TAG_TITLE, _TAG_SUMMARY = f"{_A}id", f"{_A}title", f"{_A}summary"
_TAG_PUBLISHED, _TAG_UPDATED = f"{_A}published", f"{_A}updated"
_TAG_AUTHOR, _TAG_NAME, _TAG_CATEGORY = f"{_A}author", f"{_A}name", f"{_A}category"
_TAG_PRIMARY, _TAG_COMMENT = f"{_X}primary_category", f"{_X}comment"
_TAG_JOURNAL, _TAG_DOI = f"{_X}journal_ref", f"{_X}doi"


def _fold(text: str | None) -> str:
    return " ".join(text.split()) if text else ""


def _record(entry: Any) -> tuple[PaperRecord | None, str]:
    """One <entry> as a record, reading its children in a single pass (this is the hot loop
    of a fetch), or None with the reason it cannot be used."""
    raw_id = title = abstract = published_text = updated_text = None
    comment = journal_ref = doi = primary_cat = None
    authors: list[str] = []
    categories: list[str] = []
    for child in entry:
        tag = child.tag
        if tag == _TAG_TITLE:
            title = child.text
        elif tag == _TAG_SUMMARY:
            abstract = child.text
        elif tag == _TAG_AUTHOR:
            for name in child:
                if name.tag == _TAG_NAME and name.text:
                    folded = _fold(name.text)
                    if folded:
                        authors.append(folded)
        elif tag == _TAG_CATEGORY:
            term = child.get("term")
            if term:
                categories.append(term)
        elif tag == _TAG_ID:
            raw_id = child.text
        elif tag == _TAG_PUBLISHED:
            published_text = child.text
        elif tag == _TAG_UPDATED:
            updated_text = child.text
        elif tag == _TAG_PRIMARY:
            primary_cat = child.get("term")
        elif tag == _TAG_COMMENT:
            comment = child.text
        elif tag == _TAG_JOURNAL:
            journal_ref = child.text
        elif tag == _TAG_DOI:
            doi = child.text
    if not raw_id:
        return None, "no <id>"
    m = _ID_RE.search(raw_id.strip())
    if not m:
        return None, f"unrecognised id {raw_id!r}"
    title = _fold(title)
    if not title:
        return None, "no <title>"
    published = _when(published_text)
    if published is None:
        return None, "missing or bad <published>"
    primary_cat = primary_cat or (categories[0] if categories else "")
    if not primary_cat:
        return None, "no category"
    if primary_cat not in categories:
        categories.insert(0, primary_cat)
    return (
        PaperRecord(
            id=m.group("id"),
            version=int(m.group("version") or 1),
            title=title,
            abstract=_fold(abstract),
            authors=tuple(authors),
            categories=tuple(categories),
            primary_category=primary_cat,
            comment=_fold(comment) or None,
            journal_ref=_fold(journal_ref) or None,
            doi=_fold(doi) or None,
            published=published,
            updated=_when(updated_text) or published,
        ),
        "",
    )


def _has_replacement(record: PaperRecord) -> bool:
    fields = (record.title, record.abstract, record.comment or "", *record.authors)
    return any("\ufffd" in f for f in fields)
