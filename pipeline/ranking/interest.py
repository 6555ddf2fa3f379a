"""First ranker: similarity of each paper to the interest description (TF-IDF cosine).

Title words count double.  The explanation names the description's words that
the paper matches most.  (Later signals: embeddings, feedback, authors.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

# Words that say nothing about a paper's topic.
STOP_WORDS = sorted(
    ENGLISH_STOP_WORDS
    | {
        "new",
        "novel",
        "method",
        "methods",
        "approach",
        "paper",
        "propose",
        "proposed",
        "using",
        "based",
        "results",
        "show",
        "large",
        "study",
        "task",
        "tasks",
    }
)


@dataclass(frozen=True)
class Candidate:
    id: str
    title: str
    abstract: str


@dataclass(frozen=True)
class Scored:
    id: str
    score: float
    explanation: str


class InterestRanker:
    def __init__(self, description: str, *, top_terms: int = 3) -> None:
        self.description = description
        self.top_terms = top_terms

    def score(self, candidates: Sequence[Candidate]) -> list[Scored]:
        """Scores in [0, 1] in candidate order; deterministic."""
        if not candidates:
            return []
        docs = [f"{c.title} {c.title} {c.abstract}" for c in candidates]
        vec = TfidfVectorizer(
            stop_words=STOP_WORDS,
            ngram_range=(1, 2),
            sublinear_tf=True,
            min_df=1,
            token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9-]+\b",
        )
        matrix = vec.fit_transform([*docs, self.description])
        papers, query = matrix[:-1], matrix[-1]
        sims = np.asarray((papers @ query.T).todense()).ravel()
        terms = vec.get_feature_names_out()
        q_idx = query.indices
        out: list[Scored] = []
        for row, cand in enumerate(candidates):
            contrib = papers[row, q_idx].toarray().ravel() * query.data
            matched = {str(terms[q_idx[i]]): float(contrib[i]) for i in np.flatnonzero(contrib)}
            words = _distinct(_phrases_first(matched), self.top_terms)
            why = (
                "matches " + ", ".join(f"'{w}'" for w in words) + " in your interests"
                if words
                else "in your categories; no direct match with your interests"
            )
            out.append(Scored(cand.id, float(sims[row]), why))
        return out


def _distinct(terms: list[str], limit: int) -> list[str]:
    """The first `limit` terms, skipping any that overlaps a word of one already taken."""
    taken: list[str] = []
    words: set[str] = set()
    for term in terms:
        parts = set(term.split())
        if parts & words:
            continue
        taken.append(term)
        words |= parts
        if len(taken) == limit:
            break
    return taken


def _phrases_first(matched: dict[str, float]) -> list[str]:
    """Matched terms, best first; a phrase counts with its words, so it leads them."""

    def weight(term: str) -> float:
        parts = term.split()
        extra = sum(matched.get(p, 0.0) for p in parts) if len(parts) > 1 else 0.0
        return matched[term] + extra

    return sorted(matched, key=lambda t: (-weight(t), t))
