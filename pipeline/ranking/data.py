"""Plain data the learned ranker works on: no database, no files.

`Item` is a paper as the ranker sees it (the benchmark gives titles only: abstract and
authors may be empty); `LabelledItem` is one piece of reading history; `Profile` is what the
reader wrote down about their interests; `Scored` is the ranker's answer for one candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, kw_only=True)
class Item:
    id: str
    title: str
    abstract: str = ""
    date: date | None = None
    authors: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """What is embedded: the title, followed by the abstract when there is one."""
        abstract = self.abstract.strip()
        return f"{self.title.strip()}. {abstract}" if abstract else self.title.strip()


@dataclass(frozen=True, kw_only=True)
class LabelledItem(Item):
    """A paper the reader has seen: label 1 = picked (liked, downloaded, kept), 0 = shown and
    not picked.  `weight` says how strong the evidence is (e.g. 2 for kept, 1 for downloaded);
    `at` is when it was shown or labelled (calibration holds out the latest labels)."""

    label: int
    weight: float = 1.0
    at: date | None = None


@dataclass(frozen=True)
class Profile:
    """The reader's own words: a description (phrases separated by , ; or new lines), seed
    papers they named, authors they follow.  Used on its own at cold start."""

    description: str = ""
    seed_papers: tuple[Item, ...] = ()
    followed_authors: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.description.strip() or self.seed_papers or self.followed_authors)


@dataclass(frozen=True)
class Scored:
    id: str
    score: float
    """Calibrated probability that the reader picks the paper (0..1)."""
    explanation: str
    topic: str = ""
    """The phrase of the interest description (or the seed paper) it matches best."""


@dataclass(frozen=True)
class RankerConfig:
    """The few hyper-parameters, chosen on the benchmark's dev weeks (flat around them)."""

    c: float = 1.0
    """Inverse L2 strength of the logistic model over TF-IDF + embedding + title style."""
    embedding_scale: float = 1.0
    """Weight of the (unit-length) embedding next to the (unit-length) TF-IDF views."""
    k_pos: int = 10
    k_neg: int = 30
    """Neighbours: mean similarity to the k_pos closest picks minus to the k_neg closest
    skips (skips are ~15x as common, so a wider count covers a similar neighbourhood)."""
    prior_strength: float = 10.0
    """The profile counts like this many picks: its weight is n0 / (n0 + positives)."""
    author_bonus: float = 1.0
    """Added (in standard deviations of the combined score) for a followed author."""
    calibration_share: float = 0.15
    """Share of the latest history held out to fit the probability calibration."""
    base_rate: float = 0.05
    """Assumed share of interesting papers when there is nothing to calibrate on."""
    half_life_weeks: float = 8.0
    """Recency: a label this many weeks older than the latest counts half (0: all equal).
    Interests drift: on the dev weeks a half-life of 4 or 8 weeks raised P@10 in both
    replays (online and leave one week out) and both halves, with MAP flat; 16 did less
    (BENCHMARKS.md, issue 15)."""
    char_ngrams: bool = True
    """The char 3-5-gram TF-IDF view of titles beside the word view."""
    title_style: bool = True
    """Title style features (length, a question, a named method) in the learned model."""
