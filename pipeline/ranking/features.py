"""Features of a paper's text: TF-IDF views, title style, author names.

Word view: TF-IDF of word 1-2-grams over title + abstract (the settings of arxiv-sanity-lite's
recommender).  Char view: TF-IDF of character 3-5-grams inside words of the title, which
matches morphology and made-up names ("Mamba", "Mamba2", "KANs") that word tokens miss.  Both
rows are unit length; they are stacked with weight 1/sqrt(2) each so the stack is unit length.
Style: what a reader who screens titles reacts to besides the topic (length, a question, a
"NAME - subtitle" pattern); on the dev weeks short titles were picked 2.5x as often as long.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]  # no stubs: see Matrix

if TYPE_CHECKING:  # scikit-learn takes about a second to import: only when there is history
    from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline.ranking.data import Item

# A scipy.sparse.csr_matrix; scipy ships no type stubs, so to mypy it is Any.
Matrix: TypeAlias = Any
FloatArray = NDArray[np.float64]

_TOKEN = r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b"
_NAMED = re.compile(r"^[A-Za-z0-9]*[A-Z][A-Za-z0-9]*[A-Z0-9][A-Za-z0-9-]*\s*(?:-|:)\s")


def _df_limits(n_docs: int) -> tuple[int, float]:
    """min_df / max_df: arxiv-sanity-lite's 5 / 0.1 on a real history; on a small one every
    word counts and a word in a tenth of twenty papers is not yet a stop word."""
    if n_docs >= 2000:
        return 5, 0.1
    if n_docs >= 200:
        return 2, 0.3
    return 1, 1.0


def word_text(item: Item) -> str:
    return f"{item.title} {item.abstract}" if item.abstract else item.title


class TextViews:
    """The word and char TF-IDF views, fitted on the history (no labels involved)."""

    def __init__(self, *, char: bool = True) -> None:
        self.use_char = char
        self.word: TfidfVectorizer | None = None
        self.char: TfidfVectorizer | None = None
        self.terms: NDArray[np.str_] = np.array([], dtype=str)

    def fit_transform(self, items: Sequence[Item]) -> Matrix:
        """Fit the vocabularies and idf on `items`; return `transform(items)`."""
        if not items:  # nothing to learn a vocabulary from (a first week)
            self.word = self.char = None
            self.terms = np.array([], dtype=str)
            return _stack([], 0)
        from sklearn.feature_extraction.text import TfidfVectorizer

        min_df, max_df = _df_limits(len(items))
        word = TfidfVectorizer(
            strip_accents="unicode",
            stop_words="english",
            token_pattern=_TOKEN,
            ngram_range=(1, 2),
            max_features=20000,
            sublinear_tf=True,
            min_df=min_df,
            max_df=max_df,
        )
        char = TfidfVectorizer(
            strip_accents="unicode",
            analyzer="char_wb",
            ngram_range=(3, 5),
            sublinear_tf=True,
            min_df=min(3, min_df),
            max_df=max(0.2, max_df),
        )
        word_rows = _fit_transform(word, [word_text(i) for i in items])
        char_rows = _fit_transform(char, [i.title for i in items]) if self.use_char else None
        self.word = word if word_rows is not None else None
        self.char = char if char_rows is not None else None
        if self.word is not None:
            self.terms = np.asarray(self.word.get_feature_names_out())
        return _stack([m for m in (word_rows, char_rows) if m is not None], len(items))

    @property
    def n_word(self) -> int:
        return len(self.terms)

    def transform(self, items: Sequence[Item]) -> Matrix:
        """Rows: [word view | char view] / sqrt(number of views); word columns first."""
        parts = []
        if self.word is not None:
            parts.append(self.word.transform([word_text(i) for i in items]))
        if self.char is not None:
            parts.append(self.char.transform([i.title for i in items]))
        return _stack(parts, len(items))


def _fit_transform(vec: TfidfVectorizer, docs: list[str]) -> Matrix | None:
    try:
        return vec.fit_transform(docs)
    except ValueError:  # empty vocabulary: no history, or only stop words
        return None


def _stack(parts: list[Matrix], rows: int) -> Matrix:
    if not parts:
        return sparse.csr_matrix((rows, 0))
    return sparse.csr_matrix(sparse.hstack(parts) * (1.0 / math.sqrt(len(parts))))


STYLE_NAMES = ("log title words", "question", "named method")


def style(items: Sequence[Item]) -> FloatArray:
    rows = [
        [
            math.log1p(len(i.title.split())),
            float("?" in i.title),
            float(bool(_NAMED.match(i.title))),
        ]
        for i in items
    ]
    return np.asarray(rows, dtype=np.float64).reshape(len(items), len(STYLE_NAMES))


def author_key(name: str) -> str:
    """'Zoë  Müller' and 'Z. Muller' -> 'z muller': first initial + last name, no accents."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z]+", plain)
    if not words:
        return ""
    return f"{words[0][0]} {words[-1]}" if len(words) > 1 else words[0]


@dataclass(frozen=True)
class Phrase:
    """One interest the reader wrote: `label` as they wrote it (explanations quote it),
    `text` what is embedded (with its heading, so 'reasoning' under 'Large language models:'
    means reasoning of language models, not of anything)."""

    label: str
    text: str


def interest_phrases(description: str) -> list[Phrase]:
    """'LLMs: reasoning, alignment and safety; state space models' -> 'LLMs: reasoning',
    'LLMs: alignment and safety', 'state space models'.

    Clauses end at ';', a new line or a full stop; in a clause 'HEADING: a, b, c' each item
    is a phrase under its heading, else each comma-separated item is one. 'and' does not
    split ('alignment and safety' is one interest); parentheses are dropped."""
    phrases: list[Phrase] = []
    for clause in re.split(r"[;\n]+|\.(?:\s+|$)", description):
        head, colon, rest = clause.partition(":")
        heading = " ".join(head.split()) if colon else ""
        for part in re.split(r"[,()]+", rest if colon else head):
            label = " ".join(part.split())
            label = re.sub(r"^(?:and|or)\s+", "", label, flags=re.IGNORECASE)
            if len(label) > 2:
                phrases.append(Phrase(label, f"{heading}: {label}" if heading else label))
        if colon and len(heading) > 2 and not rest.strip():
            phrases.append(Phrase(heading, heading))
    return list(dict.fromkeys(phrases))
