"""Optional full text of a paper for highlight summaries (`summaries.full_text = true`).

The text comes from arXiv's HTML rendering (LaTeXML) at ``{html_base}/{id}v{version}``,
falling back to the PDF at ``{pdf_base}/{id}v{version}`` read with pypdf, and finally to the
abstract. It is never an error for a paper to have no full text: a 404, a failed retry loop or
an unreadable document moves on to the next source, with a warning in the log and the reason
in `FullText.note`. Requests go through `PoliteTransport`, which spaces them and retries
transient failures (429, 5xx, timeouts, dropped connections) a bounded number of times.

Extracted text is cached on disk per paper version (``{cache_dir}/{id}v{version}.json``) so a
rerun makes no request. The token budget is applied after the cache, so changing it needs no
refetch: whole paragraphs are kept from the start, and a cut is always recorded
(`truncated`, `original_tokens`, `note`). Tokens are an estimate, ``ceil(chars / 4)``.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Unpack

import httpx
import lxml.html
from lxml import etree

from pipeline.fetch.polite import ClientTransport, GaveUp, Politeness, PoliteTransport
from pipeline.records import is_arxiv_id

log = logging.getLogger(__name__)

Source = Literal["html", "pdf", "abstract"]
CHARS_PER_TOKEN = 4
EXTRACTOR_VERSION = 1  # bump when extraction changes: older cache files are then ignored


@dataclass(frozen=True)
class FullText:
    """The text to summarize and where it came from; `note` says what was done to it."""

    text: str
    source: Source
    tokens: int
    truncated: bool
    original_tokens: int
    note: str


def estimate_tokens(text: str) -> int:
    """A rough token count: one token per four characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _cut(paragraphs: list[str], budget_tokens: int) -> tuple[str, bool, int, str]:
    """`(text, truncated, original_tokens, boundary)`: whole paragraphs from the start,
    joined by blank lines, while the estimate stays within the budget; when even the first
    paragraph is over budget, it is cut at the last sentence (else word) boundary that fits."""
    if budget_tokens < 1:
        raise ValueError(f"budget_tokens must be at least 1, got {budget_tokens}")
    paragraphs = [p for p in paragraphs if p.strip()]
    full = "\n\n".join(paragraphs)
    original = estimate_tokens(full)
    if original <= budget_tokens:
        return full, False, original, ""
    max_chars = budget_tokens * CHARS_PER_TOKEN
    kept, size = 0, 0
    for para in paragraphs:
        grown = size + (2 if kept else 0) + len(para)
        if grown > max_chars:
            break
        kept, size = kept + 1, grown
    if kept:
        return "\n\n".join(paragraphs[:kept]), True, original, "a paragraph"
    head, boundary = _cut_paragraph(paragraphs[0], max_chars)
    return head, True, original, boundary


# A sentence ends with . ! or ? (and maybe a closing quote or bracket) before whitespace.
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s)")
_NOT_AN_END = ("e.g.", "i.e.", "et al.", "etc.", "cf.", "vs.", "Fig.", "Eq.", "Sec.", "Ref.")


def _cut_paragraph(para: str, max_chars: int) -> tuple[str, str]:
    ends = [
        m.end()
        for m in _SENTENCE_END.finditer(para, 0, max_chars + 1)
        if m.end() <= max_chars and not para[: m.end()].endswith(_NOT_AN_END)
    ]
    if ends:
        return para[: ends[-1]], "a sentence"
    space = para.rfind(" ", 0, max_chars + 1)
    if space > 0:
        return para[:space].rstrip(), "a word"
    return para[:max_chars], "a character"


class _Unavailable(Exception):
    """This source has nothing usable for the paper; try the next one."""


class FullTextFetcher:
    """Fetches, extracts and caches the full text of arXiv papers."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        html_base: str = "https://arxiv.org/html",
        pdf_base: str = "https://arxiv.org/pdf",
        cache_dir: Path,
        **polite: Unpack[Politeness],
    ) -> None:
        self._http = http
        self.html_base = html_base.rstrip("/")
        self.pdf_base = pdf_base.rstrip("/")
        self.cache_dir = cache_dir
        inner = ClientTransport(http, follow_redirects=True)
        bases = [self.html_base, self.pdf_base]
        self._transport = PoliteTransport(inner, bases=bases, **polite)
        self._cache_hits = 0

    @property
    def stats(self) -> dict[str, int]:
        return self._transport.stats(cache_hits=self._cache_hits)

    def fetch(self, paper_id: str, version: int, *, budget_tokens: int, fallback: str) -> FullText:
        """The paper's text cut to `budget_tokens`; the abstract `fallback` when there is none."""
        if not is_arxiv_id(paper_id) or version < 1:
            log.warning("full text: refusing malformed arXiv id %r v%r", paper_id, version)
            note = f"not an arXiv id ({paper_id!r}): abstract used"
            return _make([fallback], "abstract", budget_tokens, note)
        found = self._cached(paper_id, version)
        if found is None:
            found = self._download(paper_id, version)
            if found is not None:
                self._store(paper_id, version, *found)
        if found is None:
            return _make([fallback], "abstract", budget_tokens, "no HTML or PDF: abstract used")
        source, text = found
        return _make(text.split("\n\n"), source, budget_tokens, "")

    # -- network ---------------------------------------------------------------------------

    def _download(self, paper_id: str, version: int) -> tuple[Source, str] | None:
        steps: list[tuple[Source, str, Callable[[bytes, str], list[str]]]] = [
            ("html", f"{self.html_base}/{paper_id}v{version}", _html_paragraphs),
            ("pdf", f"{self.pdf_base}/{paper_id}v{version}", _pdf_paragraphs),
        ]
        reasons = []
        for source, url, extract in steps:
            try:
                content, encoding = self._get(url)
                paragraphs = extract(content, encoding)
            except _Unavailable as exc:
                reasons.append(f"{source}: {exc}")
                continue
            if paragraphs:
                return source, "\n\n".join(paragraphs)
            reasons.append(f"{source}: no text found")
        log.warning(
            "full text of %sv%d unavailable (%s); using the abstract",
            paper_id,
            version,
            "; ".join(reasons),
        )
        return None

    def _get(self, url: str) -> tuple[bytes, str]:
        try:
            return self._transport.send(self._http.build_request("GET", url), _content)
        except GaveUp as exc:
            raise _Unavailable(f"{exc.last} after {exc.tries} tries") from None

    # -- cache -----------------------------------------------------------------------------

    def _path(self, paper_id: str, version: int) -> Path:
        return self.cache_dir / f"{paper_id.replace('/', '_')}v{version}.json"

    def _cached(self, paper_id: str, version: int) -> tuple[Source, str] | None:
        path = self._path(paper_id, version)
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable full-text cache file %s: %s", path, exc)
            return None
        if (
            not isinstance(data, dict)
            or data.get("extractor") != EXTRACTOR_VERSION
            or data.get("source") not in ("html", "pdf")
            or not isinstance(data.get("text"), str)
        ):
            return None
        self._cache_hits += 1
        return data["source"], data["text"]

    def _store(self, paper_id: str, version: int, source: Source, text: str) -> None:
        path = self._path(paper_id, version)
        payload = {"extractor": EXTRACTOR_VERSION, "source": source, "text": text}
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(payload, fh, ensure_ascii=False)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as exc:
            log.warning("cannot write full-text cache file %s: %s", path, exc)


def _content(resp: httpx.Response) -> tuple[bytes, str]:
    if resp.status_code != 200:
        raise _Unavailable(f"HTTP {resp.status_code}")
    return resp.content, resp.charset_encoding or "utf-8"


def _make(paragraphs: list[str], source: Source, budget_tokens: int, note: str) -> FullText:
    text, truncated, original, boundary = _cut(paragraphs, budget_tokens)
    tokens = estimate_tokens(text)
    if truncated:
        cut = f"cut from {original:,} to {tokens:,} tokens at {boundary} boundary"
        note = f"{note}; {cut}" if note else cut
    return FullText(text, source, tokens, truncated, original, note)


# -- extraction ----------------------------------------------------------------------------

_DROP_TAGS = {"nav", "header", "footer", "script", "style", "img", "svg", "button", "form"}
_DROP_CLASSES = {
    "ltx_bibliography",
    "ltx_authors",
    "ltx_dates",
    "ltx_page_navbar",
    "ltx_page_footer",
    "ltx_page_header",
    "ltx_note",  # footnotes, inlined by LaTeXML mid-sentence
    "ltx_tabular",  # table cells; the caption is kept
    "ltx_ERROR",
}
_EQUATION_CLASSES = {"ltx_equation", "ltx_equationgroup"}  # display math tables
_TITLE_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_PARAGRAPH_TAGS = {"p", "figcaption", "li", "blockquote", "pre"}


def _classes(el: Any) -> set[str]:
    return set((el.get("class") or "").split())


def _dropped(el: Any) -> bool:
    return el.tag in _DROP_TAGS or bool(_classes(el) & _DROP_CLASSES)


def _math(el: Any) -> str:
    tex = " ".join((el.get("alttext") or "").split())
    if not tex:
        return ""
    return f"$${tex}$$" if el.get("display") == "block" else f"${tex}$"


def _inline(el: Any) -> str:
    """The text inside `el`, math as `$alttext$`, dropped parts left out (tails kept)."""
    if not isinstance(el.tag, str) or _dropped(el):
        return ""
    if el.tag == "math":
        return _math(el)
    parts = [el.text or ""]
    for child in el:
        parts.append(_inline(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _holds_paragraphs(el: Any) -> bool:
    return any(isinstance(c.tag, str) and c.tag in ("p", "div") for c in el.iterdescendants())


def _blocks(el: Any, out: list[str]) -> None:
    """Append the paragraphs under `el` to `out`, in document order."""
    if not isinstance(el.tag, str) or _dropped(el) or "ltx_tag" in _classes(el):
        return  # (a tag outside a paragraph or title is a list item's bullet or number)
    if _classes(el) & _EQUATION_CLASSES:
        text = " ".join(filter(None, (_math(m) for m in el.iter("math"))))
        if text:
            out.append(text)
        return
    if (
        el.tag in _TITLE_TAGS
        or el.tag == "math"
        or (el.tag in _PARAGRAPH_TAGS and not _holds_paragraphs(el))
    ):
        text = " ".join(_inline(el).split())
        if text:
            out.append(text)
        return
    if el.text and el.text.strip():
        out.append(" ".join(el.text.split()))
    for child in el:
        _blocks(child, out)
        if child.tail and child.tail.strip():
            out.append(" ".join(child.tail.split()))


def _html_paragraphs(content: bytes, encoding: str) -> list[str]:
    """Paragraphs of a LaTeXML page (arXiv's HTML), section titles as their own paragraphs."""
    try:
        parser = lxml.html.HTMLParser(encoding=encoding)
        doc = lxml.html.document_fromstring(content, parser=parser)
    except (etree.ParserError, ValueError, LookupError) as exc:
        raise _Unavailable(f"unreadable HTML ({exc})") from None
    roots = doc.xpath(
        "//article[contains(concat(' ', normalize-space(@class), ' '), ' ltx_document ')]"
    )
    root = roots[0] if roots else (doc.find("body") if doc.find("body") is not None else doc)
    out: list[str] = []
    _blocks(root, out)
    return out


_BLANK_LINE = re.compile(r"\n\s*\n")


def _pdf_paragraphs(content: bytes, encoding: str) -> list[str]:
    """Paragraphs of a PDF: page texts split on blank lines, lines inside joined by spaces."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if content.lstrip()[:5] != b"%PDF-":
        raise _Unavailable("not a PDF")
    try:
        reader = PdfReader(io.BytesIO(content))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, IndexError) as exc:
        raise _Unavailable(f"unreadable PDF ({type(exc).__name__}: {exc})") from None
    out: list[str] = []
    for page in pages:
        for block in _BLANK_LINE.split(page):
            text = " ".join(block.split())
            if text:
                out.append(text)
    return out
