"""What an issue shows, built once from stored data: the view every rendering reads.

`issue_view` turns the stored issue and its items into plain values (titles still raw:
each template escapes for its own format).  Nothing here looks at the clock; the only
dates are the issue's own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any

from pipeline.records import is_arxiv_id, week_window
from pipeline.store.issues import ALSO, HIGHLIGHT, UPDATED, LoadedItem
from pipeline.summarize.faithfulness import Flags

CATEGORY_NAMES = {
    "cs.AI": "Artificial Intelligence",
    "cs.CL": "Computation and Language",
    "cs.CV": "Computer Vision",
    "cs.LG": "Machine Learning",
    "cs.MA": "Multiagent Systems",
    "cs.NE": "Neural and Evolutionary Computing",
    "cs.RO": "Robotics",
    "cs.IR": "Information Retrieval",
    "stat.ML": "Machine Learning (Statistics)",
}

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9$])")
_ABBREVIATIONS = {
    "dr.",
    "mr.",
    "ms.",
    "prof.",
    "e.g.",
    "i.e.",
    "al.",
    "vs.",
    "fig.",
    "eq.",
    "cf.",
    "approx.",
    "sec.",
    "resp.",
    "no.",
    "st.",
}


def first_sentence(text: str, limit: int = 240) -> str:
    """The abstract's first sentence (abbreviations such as e.g., et al., Dr. do not end it)."""
    text = re.sub(r"\s+", " ", text).strip()
    sentence = text
    for m in _SENTENCE_END.finditer(text):
        last_word = text[: m.start()].rsplit(" ", 1)[-1].lower()
        if last_word not in _ABBREVIATIONS and not re.fullmatch(r"[a-z]\.", last_word):
            sentence = text[: m.start()]
            break
    if len(sentence) > limit:
        sentence = sentence[: limit - 1].rsplit(" ", 1)[0] + "…"
    return sentence


def week_label(week: str) -> str:
    window = week_window(week)
    start: date = window.since.date()
    end: date = (window.until - timedelta(days=1)).date()
    if start.month == end.month:
        return f"{start:%B} {start.day}–{end.day}, {end.year}"
    return f"{start:%B} {start.day} – {end:%B} {end.day}, {end.year}"


@dataclass(frozen=True)
class RenderedItem:
    id: str
    version: int
    title: str
    authors: list[str]
    categories: list[str]
    primary_category: str
    abs_url: str
    pdf_url: str
    score: float
    explanation: str
    summary: str | None
    abstract: str
    oneliner: str
    flags: Flags  # what the summary says that its source does not (pipeline.summarize.faithfulness)
    source: str  # what the summary was written from: abstract | html | pdf
    narration: str | None = None  # LLM-written spoken text for the podcast, if any

    @property
    def unverified(self) -> list[str]:
        """Numbers in the summary that its source does not contain."""
        return list(self.flags.numbers)

    @property
    def check_note(self) -> str:
        """One plain sentence on what to check in the summary before quoting it, or ""."""
        return check_note(self.flags, self.source) if self.summary else ""


def check_note(flags: Flags, source: str) -> str:
    """'Check before quoting: 81.5%, GPT-5 do not appear in the abstract; the abstract does
    not say “significantly”; the summary repeats itself.' ("" without flags)."""
    where = "abstract" if source == "abstract" else "paper text"
    parts = []
    missing = [*flags.numbers, *flags.names]
    if missing:
        verb = "does" if len(missing) == 1 else "do"
        parts.append(f"{', '.join(missing)} {verb} not appear in the {where}")
    if flags.overclaims:
        words = [f"“{w}”" for w in flags.overclaims]
        said = ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]
        parts.append(f"the {where} does not say {said}")
    if flags.loops:
        parts.append("the summary repeats itself")
    return f"Check before quoting: {'; '.join(parts)}." if parts else ""


def _item(loaded: LoadedItem, revisions: Mapping[str, str]) -> RenderedItem:
    """The item with the editor's revisions of its texts over the LLM's (an edited summary
    is the editor's: its faithfulness flags no longer apply)."""
    p = loaded.paper
    if not is_arxiv_id(p.id):
        raise ValueError(f"refusing to build links for a malformed arXiv id {p.id!r}")
    item = _llm_item(loaded)
    summary = revisions.get(f"summary:{p.id}")
    narration = revisions.get(f"narration:{p.id}")
    oneliner = revisions.get(f"oneliner:{p.id}")
    if summary is None and narration is None and oneliner is None:
        return item
    return replace(
        item,
        summary=summary if summary is not None else item.summary,
        flags=Flags() if summary is not None else item.flags,
        narration=narration if narration is not None else item.narration,
        oneliner=oneliner if oneliner is not None else item.oneliner,
    )


def _llm_item(loaded: LoadedItem) -> RenderedItem:
    p = loaded.paper
    return RenderedItem(
        id=p.id,
        version=loaded.item.version,
        title=p.title,
        authors=list(p.authors),
        categories=list(p.categories),
        primary_category=p.primary_category,
        abs_url=f"https://arxiv.org/abs/{p.id}v{loaded.item.version}",
        pdf_url=f"https://arxiv.org/pdf/{p.id}v{loaded.item.version}",
        score=loaded.item.score,
        explanation=loaded.item.explanation,
        summary=loaded.summary.text if loaded.summary else None,
        abstract=re.sub(r"\s+", " ", p.abstract).strip(),
        oneliner=loaded.oneliner.text if loaded.oneliner else first_sentence(p.abstract),
        flags=Flags.from_stored(loaded.summary.flags) if loaded.summary else Flags(),
        source=loaded.summary.source if loaded.summary else "abstract",
        narration=loaded.narration.text if loaded.narration else None,
    )


@dataclass(frozen=True)
class Group:
    category: str
    name: str
    items: list[RenderedItem]


@dataclass(frozen=True)
class IssueView:
    """One issue as every template sees it (`as_context()` is the Jinja context)."""

    week: str
    week_label: str
    published: date  # the issue's own date: when it was first ranked
    categories: list[str]
    model: str
    candidates: int
    highlights: list[RenderedItem]
    also_groups: list[Group]
    also: list[RenderedItem]  # in rank order (the groups hold the same items)
    updated: list[RenderedItem] = field(default_factory=list)  # new versions of past highlights
    public_url: str = ""  # base of the archive site, ends with "/" ("" = no links to it)
    title: str = "AI paper summaries"
    sources: list[str] = field(default_factory=list)  # what summaries were written from
    intro: str | None = None  # the editor's intro and outro (None: the built-in wording)
    outro: str | None = None

    @property
    def also_count(self) -> int:
        return len(self.also)

    @property
    def default_intro(self) -> str:
        """The newsletter's built-in intro (the templates write the same words)."""
        cats = ", ".join(self.categories)
        return (
            f"Welcome to this week's digest of new arXiv papers. Out of {self.candidates} new "
            f"submissions in {cats}, here are the {len(self.highlights)} we think matter most "
            f"to you, each with a dense summary, followed by {self.also_count} more worth a look."
        )

    @property
    def default_outro(self) -> str:
        """The newsletter's built-in closing words (the templates write the same words)."""
        read_from = "full texts" if set(self.sources) - {"abstract"} else "abstracts"
        return (
            f"Summaries were written by {self.model} from the papers' {read_from}; always "
            "check the paper before you cite it. See you next week."
        )

    @property
    def issue_url(self) -> str:
        return f"{self.public_url}issues/{self.week}/" if self.public_url else ""

    def as_context(self) -> dict[str, Any]:
        """Every field but `also` (templates show `also_groups`), plus the view itself, the
        count of `also` and the issue's URL."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "also"}
        return values | {"issue": self, "also_count": self.also_count, "issue_url": self.issue_url}


def issue_view(
    week: str,
    items: list[LoadedItem],
    *,
    categories: list[str],
    model: str,
    candidates: int,
    published: datetime | date | None = None,
    public_url: str = "",
    title: str = "AI paper summaries",
    revisions: Mapping[str, str] | None = None,
) -> IssueView:
    """`revisions`: the editor's texts by target ("intro", "summary:<id>", ...: see
    `pipeline.desk.compose`); they win over the LLM's."""
    rev = revisions or {}
    highlights = [_item(i, rev) for i in items if i.item.section == HIGHLIGHT]
    also = [_item(i, rev) for i in items if i.item.section == ALSO]
    updated = [_item(i, rev) for i in items if i.item.section == UPDATED]
    groups: dict[str, list[RenderedItem]] = {}
    for it in also:
        groups.setdefault(it.primary_category, []).append(it)
    also_groups = [
        Group(cat, CATEGORY_NAMES.get(cat, cat), groups[cat])
        for cat in sorted(groups, key=lambda c: (-len(groups[c]), c))
    ]
    if published is None:
        published = week_window(week).until.date()
    elif isinstance(published, datetime):
        published = published.date()
    if public_url and not public_url.endswith("/"):
        public_url += "/"
    sources = sorted({it.source for it in highlights if it.summary})
    return IssueView(
        week=week,
        week_label=week_label(week),
        published=published,
        categories=list(categories),
        model=model,
        candidates=candidates,
        highlights=highlights,
        also_groups=also_groups,
        also=also,
        updated=updated,
        public_url=public_url,
        title=title,
        sources=sources,
        intro=rev.get("intro"),
        outro=rev.get("outro"),
    )
