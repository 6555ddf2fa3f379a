"""Does the ranker's quality hold on weeks it was not chosen on?  Two replays of the shared
reader data, in process (the same code and vectors as `rank-csv`, without a process per week):

- online: the benchmark's protocol (`evaluate.py`): each week after the first four scored from
  every earlier week; reported over all 12 weeks and over each half (first six, last six);
- leave one week out: each of the 16 weeks scored from all the other weeks, earlier and later
  (recency then counts distance in time from the week left out).

Both labels (`downloaded`, `kept`), MAP and P@10 with the spread of AP over weeks (sd, min).
The ranker's history does not depend on which label is the target (`rank_csv.train_items`:
a pick is any of label, downloaded, kept), so each week is scored once for both.

    python -m pipeline.bench.generalise [--set half_life_weeks=8] [--cache-dir DIR]

`--set` changes a `RankerConfig` field (repeatable), to compare a choice with the default.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline.bench.rank import LABELS, shared_dir
from pipeline.ranking.data import RankerConfig
from pipeline.ranking.embed_cache import CachedEmbedder
from pipeline.ranking.rank_csv import row_item, train_items
from pipeline.ranking.scorer import InterestScorer

WARMUP = 4  # evaluate.py's default: the first weeks are training only
Scores = NDArray[np.float64]
Ranker = Callable[[Any, Any], Scores]


def load_evaluate(path: Path) -> ModuleType:
    """The shared benchmark's evaluate.py (its metrics and tie-breaking), imported by path."""
    spec = importlib.util.spec_from_file_location("interest_evaluate", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shipped(embedder: CachedEmbedder, config: RankerConfig) -> Ranker:
    """The newsletter's ranker as `rank-csv` runs it, on DataFrames of the CSV contract."""

    def rank(train: Any, cand: Any) -> Scores:
        history = train_items(train.astype(str).to_dict("records"))
        items = [row_item(r) for r in cand.astype(str).to_dict("records")]
        scorer = InterestScorer(embedder, config=config).train(history)
        return np.asarray([s.score for s in scorer.score(items)], dtype=np.float64)

    return rank


def _towards(week: str, other: str) -> str:
    """`other` moved to the same distance from `week`, but before it."""
    w = date.fromisoformat(week)
    return (w - abs(w - date.fromisoformat(other))).isoformat()


def replay(ev: ModuleType, df: Any, rank: Ranker, scheme: str) -> list[dict[str, Any]]:
    weeks = sorted(df["week"].unique())
    records: list[dict[str, Any]] = []
    for week in weeks[WARMUP:] if scheme == "online" else weeks:
        if scheme == "online":
            train = df[df["week"] < week].copy()
        else:
            train = df[df["week"] != week].copy()
            train["week"] = [_towards(week, w) for w in train["week"]]
        cand = df[(df["week"] == week) & (df["manual"] == 0)].reset_index(drop=True)
        train["label"] = train["downloaded"]
        scores = rank(train[ev.TRAIN_COLS].reset_index(drop=True), cand[ev.CAND_COLS].copy())
        for label in LABELS:
            y = cand[label].to_numpy()
            if y.sum():
                metrics = ev.week_metrics(y[ev.ranking(scores, week)])
                records.append({"week": week, "label": label, **metrics})
    return records


def summary(records: list[dict[str, Any]], label: str) -> dict[str, float]:
    rows = sorted((r for r in records if r["label"] == label), key=lambda r: r["week"])
    ap, p10 = [r["AP"] for r in rows], [r["P@10"] for r in rows]
    half = len(rows) // 2
    return {
        "weeks": len(rows),
        "MAP": statistics.mean(ap),
        "MAP1": statistics.mean(ap[:half]),
        "MAP2": statistics.mean(ap[half:]),
        "P10": statistics.mean(p10),
        "P101": statistics.mean(p10[:half]),
        "P102": statistics.mean(p10[half:]),
        "sd": statistics.stdev(ap),
        "min": min(ap),
    }


def table(results: dict[str, list[dict[str, Any]]], title: str) -> str:
    lines = [
        f"\n**Generalisation: {title}** (MAP and P@10 over the weeks, then over the first / "
        "second half of them; AP's spread over weeks)\n",
        "| label | replay | weeks | MAP | halves | P@10 | halves | AP sd | AP min |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    names = {"online": "online (evaluate.py)", "lwo": "leave one week out"}
    for label in LABELS:
        for scheme, records in results.items():
            s = summary(records, label)
            lines.append(
                f"| {label} | {names[scheme]} | {s['weeks']} | {s['MAP']:.3f} "
                f"| {s['MAP1']:.3f} / {s['MAP2']:.3f} | {s['P10']:.3f} "
                f"| {s['P101']:.3f} / {s['P102']:.3f} | {s['sd']:.3f} | {s['min']:.3f} |"
            )
    return "\n".join(lines)


def _config(pairs: Sequence[str]) -> RankerConfig:
    fields = {f.name: f for f in dataclasses.fields(RankerConfig)}
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in fields:
            raise SystemExit(f"--set {pair}: no RankerConfig field {key!r} ({', '.join(fields)})")
        default = getattr(RankerConfig(), key)
        if isinstance(default, bool):
            changes[key] = value.lower() in ("1", "true", "yes", "on")
        else:
            changes[key] = type(default)(value)
    return dataclasses.replace(RankerConfig(), **changes)


def generalise(cache_dir: Path, config: RankerConfig) -> str:
    from pipeline.llm.embed_local import LocalMiniLM

    bench = shared_dir() / "bench" / "interest" / "evaluate.py"
    data = shared_dir() / "data" / "reader-history" / "dev.csv"
    if not bench.is_file() or not data.is_file():
        return f"(generalisation skipped: {bench} or {data} not found)"
    ev = load_evaluate(bench)
    df = ev.load_tidy(str(data))
    embedder = CachedEmbedder(LocalMiniLM(cache_dir=cache_dir), cache_dir / "embeddings")
    rank = shipped(embedder, config)
    t0 = time.perf_counter()
    results = {scheme: replay(ev, df, rank, scheme) for scheme in ("online", "lwo")}
    changed = {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != getattr(RankerConfig(), f.name)
    }
    title = "the shipped ranker" + (f", changed: {changed}" if changed else "")
    return table(results, title) + f"\n\n{time.perf_counter() - t0:.0f} s wall for both replays."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--cache-dir", type=Path, help="reuse this embedding cache directory")
    args = parser.parse_args(argv)
    config = _config(args.set)
    with tempfile.TemporaryDirectory(prefix="bench-generalise-") as tmp:
        print(generalise(args.cache_dir or Path(tmp) / "cache", config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
