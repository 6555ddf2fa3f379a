"""Checks on model output: formatting stripped, length bounded, degenerate output rejected,
and numbers that the source text does not contain flagged."""

from __future__ import annotations

import json
import re
from typing import Any

MIN_WORDS = {"summary": 25, "oneliner": 6, "podcast": 25}
MAX_WORDS = {"summary": 200, "oneliner": 45, "podcast": 260}


class BadOutput(ValueError):
    pass


_MARKDOWN = re.compile(r"(\*\*|__|`|^#+\s*|^\s*[-*•]\s+|^\s*\d+[.)]\s+)", re.MULTILINE)
# Formatting tags some models emit around prose (kept as text they would show as "<p>").
_HTML_TAGS = re.compile(
    r"</?(?:p|br|b|i|em|strong|u|div|span|ul|ol|li|h[1-6]|blockquote|code)(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)
_PREAMBLE = re.compile(
    r"^(summary|one[- ]?liner|narration|here is (a|the|your) [^:]{0,40})\s*:\s*", re.IGNORECASE
)
_ECHO = re.compile(r"\b(Title|Authors|Abstract|Full text)\s*:", re.IGNORECASE)
# A summary is one paragraph of prose: section labels mean the model wrote a report.
_LABELS = re.compile(
    r"\b(Introduction|Background|Method(?:ology|s)?|Key Results|Results|Conclusions?|"
    r"Critiques?|Limitations|Implications?)\s*:"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


_RATING = re.compile(r"(?<![\d.])(10|[0-9])(?![\d.])")

# The shape a relevance answer is asked in (structured output). An enum, not minimum and
# maximum: it is in the subset of JSON Schema that every strict implementation takes.
RATING_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "relevance",
        "schema": {
            "type": "object",
            "properties": {"rating": {"type": "integer", "enum": list(range(11))}},
            "required": ["rating"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


def _json_rating(text: str) -> str | None:
    """The rating of a `{"rating": n}` reply; None when the reply is no such JSON object."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except ValueError:
        return None
    if not isinstance(data, dict) or "rating" not in data:
        return None
    value = data["rating"]
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise BadOutput(f"rating {value!r} is not an integer from 0 to 10")
    return str(value)


def clean_output(kind: str, text: str, prompt_text: str, title: str = "") -> str:
    """Plain prose of the right length, or BadOutput saying why not. `title` is the paper's:
    output that opens by repeating it is an echo, not a summary. A `relevance` answer is
    reduced to its 0-10 rating: from `{"rating": n}` (the structured answer) or, in a free-text
    reply, the first integer from 0 to 10."""
    if kind == "relevance":
        rating = _json_rating(text)
        if rating is not None:
            return rating
        m = _RATING.search(text)
        if m is None:
            raise BadOutput(f"no 0-10 rating in {text[:40]!r}")
        return m.group(1)
    text = _HTML_TAGS.sub(" ", text)
    text = _PREAMBLE.sub("", _MARKDOWN.sub("", text).strip()).strip().strip('"').strip()
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if paragraphs and len(paragraphs[0].split()) >= MIN_WORDS[kind]:
        text = paragraphs[0]
    text = re.sub(r"\s+", " ", text).strip()
    if kind == "oneliner":
        text = _SENTENCE_END.split(text, maxsplit=1)[0]
    elif text and text[-1] not in ".!?":
        end = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
        if end > 0 and len(text[: end + 1].split()) >= MIN_WORDS[kind]:
            text = text[: end + 1]
    words = text.split()
    if len(words) < MIN_WORDS[kind]:
        raise BadOutput(f"too short ({len(words)} words)")
    if len(set(words)) < len(words) * 0.3 or repeated_ngrams(words) > 0.2:
        raise BadOutput("degenerate repetition")
    flat_prompt = re.sub(r"\s+", " ", prompt_text)
    if "<paper>" in text or _ECHO.search(text) or text[:80] in flat_prompt:
        raise BadOutput("prompt echoed back")
    if len(title) >= 20 and _letters(text).startswith(_letters(title)):
        text = _without_title_heading(text, title)
        if len(text.split()) < MIN_WORDS[kind]:
            raise BadOutput("title echoed back")
    if kind != "oneliner" and _LABELS.search(text):
        raise BadOutput("section labels instead of one paragraph")
    return at_most(text, MAX_WORDS[kind])


def _without_title_heading(text: str, title: str) -> str:
    """`text` less a leading copy of `title` that stands as a heading or a sentence of its
    own ("Title." / "Title:" then the summary); a title that is the subject of the first
    sentence ("Title proposes ...") stays."""
    target = _letters(title)
    for end in range(len(title) // 2, len(text)):
        if _letters(text[:end]) == target:
            rest = text[end:]
            if re.match(r"\s*[.:\u2014-]\s+\S|\s*$", rest):
                return re.sub(r"^\s*[.:\u2014-]\s*", "", rest)
            return text
    return text


def repeated_ngrams(words: list[str], n: int = 6) -> float:
    """The share of word n-grams that occur more than once (loops score high)."""
    grams = [tuple(w.lower() for w in words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    counts: dict[tuple[str, ...], int] = {}
    for g in grams:
        counts[g] = counts.get(g, 0) + 1
    return sum(c for c in counts.values() if c > 1) / len(grams)


def at_most(text: str, limit: int) -> str:
    """Whole sentences up to `limit` words."""
    words = text.split()
    if len(words) <= limit:
        return text
    head = " ".join(words[:limit])
    end = max(head.rfind(". "), head.rfind("! "), head.rfind("? "), head.rfind("."))
    return head[: end + 1] if end > 0 else head + "…"


_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(\s*%|x|×)?(?![\w])")


def _numbers(text: str) -> set[str]:
    return {m.group(1).replace(",", "") for m in _NUMBER.finditer(text)}


def unsupported_numbers(output: str, source: str) -> list[str]:
    """Numbers in `output` that `source` does not contain (bare counts 0-10 are allowed: a
    source often spells them out; "2x" or "5%" are claims and are checked)."""
    known = _numbers(source)
    flagged = []
    for m in _NUMBER.finditer(output):
        value = m.group(1).replace(",", "")
        bare_count = value.isdigit() and int(value) <= 10 and not m.group(2)
        if value in known or bare_count:
            continue
        if value.endswith(".0") and value[:-2] in known:
            continue
        flagged.append(m.group(0).strip())
    return sorted(set(flagged), key=flagged.index)


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())
