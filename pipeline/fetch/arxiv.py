"""arXiv query API, read strictly and politely.

The query is an `arxiv.Search` (the `arxiv` package's public query model: terms and sort
order); the pages are walked here, each requested through `PoliteTransport` (spacing, at
least 3 s against arxiv.org, bounded retries with backoff, `Retry-After`), and each parsed
strictly with lxml: a truncated, malformed or unexpectedly empty page is retried, never
half-read, and an entry that cannot be read is skipped, keeping its place in the paging.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Unpack
from urllib.parse import urlencode

import arxiv
import httpx
from lxml import etree

from pipeline.errors import SourceError, SourceUnreachable
from pipeline.fetch.polite import ClientTransport, GaveUp, Politeness, PoliteTransport, Transient
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


def build_query(categories: Sequence[str], window: Window) -> str:
    """Categories OR-ed, inside a submittedDate window (arXiv bounds are inclusive)."""
    cats = " OR ".join(f"cat:{c}" for c in categories)
    last = window.until - timedelta(minutes=1)
    return f"({cats}) AND submittedDate:[{window.since:%Y%m%d%H%M} TO {last:%Y%m%d%H%M}]"


def query_args(search: arxiv.Search, start: int, page_size: int) -> dict[str, str]:
    """The API's parameters for one page of `search`, from its public attributes."""
    return {
        "search_query": search.query,
        "id_list": ",".join(search.id_list),
        "sortBy": search.sort_by.value,
        "sortOrder": search.sort_order.value,
        "start": str(start),
        "max_results": str(page_size),
    }


@dataclass(frozen=True)
class _Page:
    total: int  # opensearch:totalResults
    served: int  # entries on the page, skipped ones included: paging counts them
    records: list[PaperRecord]


class ArxivSource:
    """`PaperSource` for the arXiv query API (or any server speaking it)."""

    def __init__(
        self, url: str, *, http: httpx.Client, page_size: int = 1000, **polite: Unpack[Politeness]
    ) -> None:
        self.url = url
        self.page_size = page_size
        self._http = http
        polite.setdefault("delay_seconds", 3.0)
        polite.setdefault("retries", 5)
        inner = ClientTransport(http)
        self._transport = PoliteTransport(inner, bases=[url], connect_tries=3, **polite)
        self._skipped = 0

    @property
    def delay_seconds(self) -> float:
        return self._transport.delay_seconds

    @property
    def stats(self) -> dict[str, int]:
        return self._transport.stats(skipped_entries=self._skipped)

    def fetch(self, categories: Sequence[str], window: Window) -> Iterator[PaperRecord]:
        """Every paper submitted in `window` in any of `categories`, oldest first."""
        search = arxiv.Search(
            query=build_query(categories, window),
            max_results=None,
            sort_by=arxiv.SortCriterion.SubmittedDate,
            sort_order=arxiv.SortOrder.Ascending,
        )
        page = self._page(search, 0)
        total, start = page.total, 0
        while page.served:
            yield from page.records
            start += page.served
            if start >= total:
                break
            page = self._page(search, start)

    def _page(self, search: arxiv.Search, start: int) -> _Page:
        url = f"{self.url}?{urlencode(query_args(search, start, self.page_size))}"
        read = functools.partial(self._read, url=url, first=start == 0)
        try:
            return self._transport.send(self._http.build_request("GET", url), read)
        except GaveUp as exc:
            if exc.unreachable:
                raise SourceUnreachable(
                    f"cannot reach the arXiv API at {self.url} ({exc.last}); "
                    "check the network or NEWSLETTER_ARXIV_URL, or run `make demo` offline"
                ) from None
            raise SourceError(
                f"arXiv API failed after {exc.tries} tries: {exc.last}; nothing from this page "
                "was stored, run the fetch again later"
            ) from None

    def _read(self, resp: httpx.Response, *, url: str, first: bool) -> _Page:
        if resp.status_code != 200:
            detail = _error_summary(resp.content)
            raise SourceError(f"arXiv API answered HTTP {resp.status_code} for {url}{detail}")
        page = self._parse(resp.content)
        if not page.served and not first:
            raise Transient("unexpectedly empty page")
        return page

    def _parse(self, content: bytes) -> _Page:
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
            raise Transient(f"malformed or truncated Atom ({exc})") from None
        if root.tag != f"{_A}feed":
            raise Transient(f"not an Atom feed (root element {root.tag})")
        served, records = 0, []
        for entry in root.iterfind(f"{_A}entry"):
            served += 1
            record, reason = _record(entry)
            if record is not None and bad_utf8 and _has_replacement(record):
                record, reason = None, "invalid UTF-8 bytes in the entry"
            if record is None:
                self._skipped += 1
                log.warning("skipped arXiv entry %s: %s", _text(entry, f"{_A}id") or "?", reason)
            else:
                records.append(record)
        return _Page(_int(root, "opensearch:totalResults"), served, records)


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


# The children read as text, by tag, and the name each is read into.
_TEXTS = {
    f"{_A}id": "id",
    f"{_A}title": "title",
    f"{_A}summary": "abstract",
    f"{_A}published": "published",
    f"{_A}updated": "updated",
    f"{_X}comment": "comment",
    f"{_X}journal_ref": "journal_ref",
    f"{_X}doi": "doi",
}
_TAG_AUTHOR, _TAG_NAME, _TAG_CATEGORY = f"{_A}author", f"{_A}name", f"{_A}category"
_TAG_PRIMARY = f"{_X}primary_category"


def _fold(text: str | None) -> str:
    return " ".join(text.split()) if text else ""


def _record(entry: Any) -> tuple[PaperRecord | None, str]:
    """One <entry> as a record, reading its children in a single pass (this is the hot loop
    of a fetch), or None with the reason it cannot be used."""
    texts: dict[str, str | None] = {}
    primary_cat: str | None = None
    authors: list[str] = []
    categories: list[str] = []
    for child in entry:
        tag = child.tag
        name = _TEXTS.get(tag)
        if name is not None:
            texts[name] = child.text
        elif tag == _TAG_AUTHOR:
            for part in child:
                if part.tag == _TAG_NAME and part.text:
                    folded = _fold(part.text)
                    if folded:
                        authors.append(folded)
        elif tag == _TAG_CATEGORY:
            term = child.get("term")
            if term:
                categories.append(term)
        elif tag == _TAG_PRIMARY:
            primary_cat = child.get("term")
    raw_id = texts.get("id")
    if not raw_id:
        return None, "no <id>"
    m = _ID_RE.search(raw_id.strip())
    if not m:
        return None, f"unrecognised id {raw_id!r}"
    title = _fold(texts.get("title"))
    if not title:
        return None, "no <title>"
    published = _when(texts.get("published"))
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
            abstract=_fold(texts.get("abstract")),
            authors=tuple(authors),
            categories=tuple(categories),
            primary_category=primary_cat,
            comment=_fold(texts.get("comment")) or None,
            journal_ref=_fold(texts.get("journal_ref")) or None,
            doi=_fold(texts.get("doi")) or None,
            published=published,
            updated=_when(texts.get("updated")) or published,
        ),
        "",
    )


def _has_replacement(record: PaperRecord) -> bool:
    fields = (record.title, record.abstract, record.comment or "", *record.authors)
    return any("\ufffd" in f for f in fields)
