"""Plain value objects passed between stages (no database, no I/O)."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pipeline.errors import ConfigError


@dataclass(frozen=True, slots=True)
class PaperRecord:
    """One paper as a source reports it."""

    id: str  # versionless, e.g. "2606.14173" or "hep-th/9901001"
    version: int
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    primary_category: str
    comment: str | None
    journal_ref: str | None
    doi: str | None
    published: datetime
    updated: datetime


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time range [since, until) in UTC."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("Window bounds must be timezone-aware")
        if self.until <= self.since:
            raise ConfigError(
                f"empty time window: {self.since:%Y-%m-%d %H:%M} is not before "
                f"{self.until:%Y-%m-%d %H:%M}"
            )


# A versionless arXiv id: new style 2606.14173, old style hep-th/9901001 or math.AG/0101001.
ARXIV_ID = r"(?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})"
_ARXIV_ID_RE = re.compile(f"^{ARXIV_ID}$")


def is_arxiv_id(text: str) -> bool:
    return _ARXIV_ID_RE.match(text) is not None


_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(text: str) -> str:
    """Validate an ISO week name like 2026-W25 and return it."""
    m = _WEEK_RE.match(text.strip())
    if not m:
        raise ConfigError(f"bad week {text!r}: use the ISO form YYYY-Www, e.g. 2026-W25")
    year, week = int(m.group(1)), int(m.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ConfigError(f"bad week {text!r}: {year} has no ISO week {week}") from None
    return f"{year:04d}-W{week:02d}"


def week_window(week: str) -> Window:
    """Monday 00:00 UTC of the ISO week to the next Monday 00:00 UTC."""
    name = parse_week(week)
    year, num = int(name[:4]), int(name[6:])
    monday = date.fromisocalendar(year, num, 1)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return Window(start, start + timedelta(days=7))


def week_of(moment: datetime) -> str:
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year:04d}-W{week:02d}"


def last_complete_week(now: datetime) -> str:
    """The ISO week before the one `now` falls in."""
    return week_of(now - timedelta(days=7))


def parse_day(text: str, *, key: str) -> datetime:
    """A --since/--until value: YYYY-MM-DD or an ISO timestamp, read as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"bad {key} {text!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_NON_WORD = re.compile(r"[^0-9a-z]+")


def title_key(title: str) -> str:
    """Normalised title for near-duplicate detection: case, accents, punctuation folded."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return _NON_WORD.sub(" ", folded).strip()


@dataclass(frozen=True)
class Segment:
    """One chapter of a podcast script (`pipeline.podcast.script`)."""

    title: str  # the chapter title, as written (readable Unicode, not spoken form)
    text: str  # what the host says
    start_seconds: float  # estimated from the words before it


@dataclass(frozen=True)
class Script:
    """A podcast script: built by `pipeline.podcast.script`, rendered by `pipeline.render`."""

    week: str
    title: str
    segments: list[Segment]
    words: int
    duration_seconds: float
    words_per_minute: int

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.segments)

    @property
    def sha256(self) -> str:
        """The hash of the chapters and their text: what the audio made from it was made of."""
        raw = json.dumps([[s.title, s.text] for s in self.segments], ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()
