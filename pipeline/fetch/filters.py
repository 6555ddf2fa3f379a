"""Include / exclude terms, applied locally and recorded (never a silent drop)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TermFilter:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, include: Sequence[str], exclude: Sequence[str]) -> TermFilter:
        return cls(tuple(t for t in include if t.strip()), tuple(t for t in exclude if t.strip()))

    def reason(self, title: str, abstract: str) -> str | None:
        """Why a paper is excluded, or None when it passes."""
        if not self.exclude and not self.include:
            return None
        text = f"{title}\n{abstract}"
        lower = text.lower()
        for term in self.exclude:
            if _matches(term, text, lower):
                return f"matches exclude term '{term}'"
        if self.include and not any(_matches(term, text, lower) for term in self.include):
            return "matches no include term"
        return None


_CACHE: dict[str, re.Pattern[str]] = {}


def _matches(term: str, text: str, lower: str) -> bool:
    """Case-insensitive whole-word (or whole-phrase) match; `lower` is `text.lower()`."""
    if term.split()[0].lower() not in lower:
        return False  # cheap test first: most papers do not contain the word at all
    pattern = _CACHE.get(term)
    if pattern is None:
        words = [re.escape(w) for w in term.split()]
        pattern = re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)
        _CACHE[term] = pattern
    return pattern.search(text) is not None
