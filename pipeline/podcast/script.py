"""The podcast script: the highlights read aloud, with an intro, transitions and an outro.

Every segment is spoken text (no URLs, markup, LaTeX or digits: see `pipeline.podcast.spoken`),
its start time estimated at the configured words per minute; the chapters of the audio
follow the segments.  Built from the issue view only, so it is as deterministic as the
newsletter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pipeline.podcast.spoken import duration_seconds, replacement_table, spoken, word_count
from pipeline.records import Script, Segment
from pipeline.render.issue import CATEGORY_NAMES, IssueView, RenderedItem
from pipeline.render.latex import readable

_MIDDLE = ("Next up:", "Our next paper:", "Moving on:", "Also worth your time:")


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _authors(names: list[str]) -> str:
    if not names:
        return "unnamed authors"
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]} and colleagues"


def _transition(index: int, count: int) -> str:
    if index == 0:
        return "First up:" if count > 1 else "This week's paper:"
    if index == count - 1:
        return "And finally:"
    return _MIDDLE[(index - 1) % len(_MIDDLE)]


def chapter_title(item: RenderedItem) -> str:
    return re.sub(r"\s+", " ", readable(item.title)).strip()


def _body(item: RenderedItem) -> str:
    if item.narration:
        return item.narration
    if item.summary:
        return item.summary
    return f"There is no summary this week, so here is the authors' abstract. {item.abstract}"


def _intro(view: IssueView, say: Mapping[str, str]) -> str:
    if view.intro is not None:
        return spoken(view.intro, say)
    fields = _join([CATEGORY_NAMES.get(c, c) for c in view.categories])
    count = len(view.highlights)
    picked = "the one paper" if count == 1 else f"the {count} papers"
    return spoken(
        f"Welcome to {view.title}, for the week of {view.week_label}. "
        f"Out of {view.candidates} new papers in {fields}, here are {picked} "
        "we think matter most this week.",
        say,
    )


def _outro(view: IssueView, say: Mapping[str, str]) -> str:
    if view.outro is not None:
        return spoken(view.outro, say)
    source = "full texts" if set(view.sources) - {"abstract"} else "abstracts"
    more = f", and {view.also_count} more worth a look," if view.also_count else ""
    return spoken(
        f"That's all for this week. Links to every paper{more} are in the newsletter. "
        f"The summaries were written by a language model from the papers' {source}, "
        "so check the paper before you cite it. Thanks for listening, and see you next week.",
        say,
    )


def podcast_script(
    view: IssueView,
    *,
    replacements: Mapping[str, str] | None = None,
    words_per_minute: int = 150,
) -> Script:
    say = replacement_table(replacements)
    parts: list[tuple[str, str]] = [("Introduction", _intro(view, say))]
    count = len(view.highlights)
    for index, item in enumerate(view.highlights):
        title = chapter_title(item)
        opening = f"{_transition(index, count)} {title}, by {_authors(item.authors)}."
        parts.append((title, spoken(opening, say) + " " + spoken(_body(item), say)))
    parts.append(("Until next week", _outro(view, say)))
    segments = []
    start = 0.0
    for title, text in parts:
        segments.append(Segment(title, text, round(start, 1)))
        start += duration_seconds(text, words_per_minute)
    words = sum(word_count(s.text) for s in segments)
    return Script(view.week, view.title, segments, words, round(start, 1), words_per_minute)
