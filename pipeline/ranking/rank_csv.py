"""The benchmark contract: `rank-csv TRAIN.csv CANDIDATES.csv OUT.csv`.

TRAIN has the header `id,title,date,added,week,downloaded,kept,manual,label` (`label` is the
target, 0/1); CANDIDATES has `id,title,date,added,week`; OUT gets `id,score`, one finite float
per candidate, in candidate order.  Ids stay text (`2410.01230` is not a number).

Training rows: a paper is a pick when any of `label`, `downloaded`, `kept` is 1 (kept papers
are a subset of downloaded ones), and a kept pick counts twice (`KEPT_WEIGHT`): the same rule
the newsletter applies to its own feedback, whatever label the benchmark asks for.
`added`, the day a batch was shown, is not used (batches were shown newest first, so it
carries position bias rather than interest).

    python -m pipeline.ranking.rank_csv TRAIN CAND OUT [--cache-dir DIR] [--description TEXT]

Embeddings are cached in `<cache dir>/embeddings/<model>.sqlite` (cache dir: --cache-dir, else
env NEWSLETTER_CACHE_DIR, else db/cache), so the weekly replays embed each title once.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path

from pipeline.env import CACHE_DIR, env
from pipeline.llm.base import Embedder
from pipeline.ranking.data import Item, LabelledItem, Profile
from pipeline.ranking.embed_cache import CachedEmbedder
from pipeline.ranking.scorer import InterestScorer

KEPT_WEIGHT = 2.0
TRAIN_COLUMNS = ("id", "title")
DEFAULT_CACHE_DIR = Path("db/cache")


class CsvError(ValueError):
    """A TRAIN or CANDIDATES file that does not follow the contract."""


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat((text or "").strip()[:10])
    except ValueError:
        return None


def _flag(row: Mapping[str, str], key: str) -> int:
    value = (row.get(key) or "").strip()
    try:
        return 1 if value and float(value) > 0 else 0
    except ValueError:
        raise CsvError(f"column {key!r}: not 0/1: {value!r}") from None


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in TRAIN_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CsvError(f"{path}: missing column(s) {', '.join(missing)}")
        return list(reader)


def row_item(row: Mapping[str, str]) -> Item:
    """Optional columns `abstract` and `authors` (separated by ';') are used when present."""
    return Item(
        id=row["id"].strip(),
        title=row.get("title") or "",
        abstract=row.get("abstract") or "",
        date=_date(row.get("date")),
        authors=tuple(a.strip() for a in (row.get("authors") or "").split(";") if a.strip()),
    )


def read_train(path: Path) -> list[LabelledItem]:
    return train_items(_rows(path))


def train_items(rows: Iterable[Mapping[str, str]]) -> list[LabelledItem]:
    """TRAIN rows (as read from the CSV, values text) as the ranker's history."""
    out = []
    for row in rows:
        label = max(_flag(row, "label"), _flag(row, "downloaded"), _flag(row, "kept"))
        weight = KEPT_WEIGHT if _flag(row, "kept") else 1.0
        at = _date(row.get("week")) or _date(row.get("added"))
        item = row_item(row)
        out.append(
            LabelledItem(
                id=item.id,
                title=item.title,
                abstract=item.abstract,
                date=item.date,
                authors=item.authors,
                label=label,
                weight=weight,
                at=at,
            )
        )
    return out


def read_candidates(path: Path) -> list[Item]:
    return [row_item(row) for row in _rows(path)]


def write_scores(path: Path, ids: Sequence[str], scores: Sequence[float]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "score"])
        for id_, score in zip(ids, scores, strict=True):
            writer.writerow([id_, repr(score if math.isfinite(score) else 0.0)])
    os.replace(tmp, path)


def rank_files(
    train: Path, candidates: Path, out: Path, embedder: Embedder, profile: Profile | None = None
) -> int:
    """Read, train, score, write; returns the number of candidates scored."""
    history = read_train(train)
    cands = read_candidates(candidates)
    scored = InterestScorer(embedder, profile).train(history).score(cands)
    write_scores(out, [c.id for c in cands], [s.score for s in scored])
    return len(cands)


def default_cache_dir() -> Path:
    folder = env(CACHE_DIR)
    return Path(folder) if folder else DEFAULT_CACHE_DIR


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="rank-csv", description="Score CANDIDATES from the labelled history in TRAIN."
    )
    ap.add_argument("train", type=Path)
    ap.add_argument("candidates", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--cache-dir", type=Path, default=None, help="default: db/cache")
    ap.add_argument("--description", default="", help="interest description (cold start)")
    args = ap.parse_args(argv)
    from pipeline.llm.embed_local import LocalMiniLM

    cache_dir = args.cache_dir or default_cache_dir()
    embedder = CachedEmbedder(LocalMiniLM(cache_dir=cache_dir), cache_dir / "embeddings")
    try:
        rank_files(args.train, args.candidates, args.out, embedder, Profile(args.description))
    except (OSError, CsvError) as exc:
        print(f"rank-csv: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
