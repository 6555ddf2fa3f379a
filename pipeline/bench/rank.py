"""Interest-ranking benchmark: the learned ranker through the `rank-csv` contract.

    python -m pipeline.bench.rank                 # replay + timings, a Markdown section
    python -m pipeline.bench.rank --skip-replay   # timings only
    python -m pipeline.bench.rank --cold-start-only

1. Quality: `../shared/bench/interest/evaluate.py` replays the dev split of one reader's
   screening log week by week (both labels, `downloaded` and `kept`), running
   `python -m pipeline.ranking.rank_csv` once per week and label; MAP, P@10, nDCG@20, R@50
   with their random expectation, the spread of AP over weeks, and the replay's wall time.
   The embedding cache starts empty (a temp dir) unless --cache-dir is given, so the wall time
   includes embedding every title once.  evaluate.py needs pandas.
   Then the cold start: the same weeks replayed with the default description alone, with
   10 seed papers, and with the first week's labels only (`pipeline.bench.coldstart`), and
   the generalisation check (`pipeline.bench.generalise`: halves, leave one week out).
2. Speed: the latest 5,000 screened titles of the dev split are ranked after training on
   every earlier row: once with the candidates' embeddings still to compute (MiniLM loaded
   from disk too), once with every embedding cached (a fresh process would see the same).
Skipped, with a note, when `../shared` is absent.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pipeline
from pipeline.ranking.data import RankerConfig

LABELS = ("downloaded", "kept")
METRICS = ("AP", "P@10", "nDCG@20", "R@50")
SPEED_CANDIDATES = 5000
# The README's baselines on the same split (label downloaded), for comparison.
BASELINES = {
    "TF-IDF + linear SVM (arxiv-sanity-lite)": (0.260, 0.408, 0.400),
    "logistic regression on MiniLM": (0.289, 0.417, 0.419),
    "z-score ensemble (tfidf, emb logreg, kNN)": (0.327, 0.542, 0.498),
}
TARGETS = {  # issue 15 (issue 4's were MAP ≥ .36, P@10 ≥ .55 and kept MAP ≥ .28)
    "downloaded": "MAP ≥ 0.40",
    "kept": "P@10 above the z-score ensemble's 0.317",
}


def shared_dir() -> Path:
    return Path(pipeline.__file__).resolve().parents[2] / "shared"


def replay(
    evaluate: Path, data: Path, cache_dir: Path, out_dir: Path
) -> tuple[dict[str, Any], float]:
    cmd = (
        f"{sys.executable} -m pipeline.ranking.rank_csv {{train}} {{candidates}} {{out}}"
        f" --cache-dir {cache_dir}"
    )
    argv = [sys.executable, str(evaluate), "--data", str(data), "--name", "learned"]
    argv += ["--out-dir", str(out_dir), "--cmd", cmd]
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise RuntimeError(f"evaluate.py failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads((out_dir / "learned.json").read_text())
    return result, wall


COLD_STARTS = {
    "description": "default description only, no feedback",
    "seeds": "description + 10 seed papers (first week's first picks)",
    "first_week": "description + the first week's labels only",
}


def cold_start(
    evaluate: Path, data: Path, cache_dir: Path, out_dir: Path, full: dict[str, Any] | None
) -> str:
    """Replay the same weeks with less history (`pipeline.bench.coldstart`), beside the full
    replay's row when there is one."""
    results: dict[str, dict[str, Any]] = {}
    for name in COLD_STARTS:
        argv = [sys.executable, str(evaluate), "--data", str(data), "--name", name, "-q"]
        argv += ["--ranker", f"pipeline.bench.coldstart:{name}"]
        argv += ["--opt", f"cache_dir={cache_dir}", "--out-dir", str(out_dir)]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"evaluate.py ({name}) failed: {done.stderr[-2000:]}")
        results[name] = json.loads((out_dir / f"{name}.json").read_text())
    lines = [
        "\n**Cold start** (same weeks and metrics as the replay above; the ranker is given "
        "less than the whole history)\n",
        "| start | downloaded MAP | P@10 | nDCG@20 | kept MAP | P@10 |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    rows = [(COLD_STARTS[n], r) for n, r in results.items()]
    if full is not None:
        rows.append(("full history (the replay above)", full))
    for title, r in rows:
        d, k = r["summary"]["downloaded/dev"], r["summary"]["kept/dev"]
        lines.append(
            f"| {title} | {d['AP']:.3f} | {d['P@10']:.3f} | {d['nDCG@20']:.3f} "
            f"| {k['AP']:.3f} | {k['P@10']:.3f} |"
        )
    return "\n".join(lines)


def weekly_ap(weeks_csv: Path, label: str) -> list[float]:
    with weeks_csv.open(newline="") as fh:
        return [float(r["AP"]) for r in csv.DictReader(fh) if r["label"] == label]


def quality_table(result: dict[str, Any], weeks_csv: Path, wall: float, cold: bool) -> str:
    lines = []
    for label in LABELS:
        s = result["summary"].get(f"{label}/dev")
        if s is None:
            continue
        aps = weekly_ap(weeks_csv, label)
        lines += [
            f"\n**{label}** ({s['n_weeks']} weeks, {s['n_pos']} positives in {s['n']} "
            f"candidates; target {TARGETS[label]})\n",
            "| ranker | MAP | P@10 | nDCG@20 | R@50 |",
            "|---|---|---|---|---|",
            "| *random expectation* | "
            + " | ".join(f"{s['rand_' + m]:.3f}" for m in METRICS)
            + " |",
        ]
        if label == "downloaded":
            for name, (ap, p10, ndcg) in BASELINES.items():
                lines.append(f"| {name} | {ap:.3f} | {p10:.3f} | {ndcg:.3f} | |")
        lines.append("| **learned ranker** | " + " | ".join(f"{s[m]:.3f}" for m in METRICS) + " |")
        if len(aps) > 1:
            lines.append(
                f"\nAP over weeks: sd {statistics.stdev(aps):.3f}, min {min(aps):.3f}, "
                f"max {max(aps):.3f}; first half {statistics.mean(aps[: len(aps) // 2]):.3f}, "
                f"second half {statistics.mean(aps[len(aps) // 2 :]):.3f}"
            )
    runs = sum(result["summary"][f"{lab}/dev"]["n_weeks"] for lab in LABELS)
    lines.append(
        f"\nReplay: {runs} `rank-csv` runs in {wall:.0f} s wall "
        f"({'embedding cache empty at start' if cold else 'embedding cache given'}); "
        "target ≤ 600 s."
    )
    return "\n".join(lines)


def speed(data: Path, tmp: Path, n: int) -> str:
    """Train on every row before the latest `n` screened ones, then score those `n` (files
    and a fresh embedding cache in `tmp`)."""
    from pipeline.llm.embed_local import LocalMiniLM
    from pipeline.ranking.embed_cache import CachedEmbedder
    from pipeline.ranking.rank_csv import read_candidates, read_train
    from pipeline.ranking.scorer import InterestScorer

    with data.open(newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: (r["added"], r["id"]))
    screened = [i for i, r in enumerate(rows) if r["manual"] == "0"]
    cut = screened[-n] if len(screened) >= n else 0
    train_csv, cand_csv = tmp / "train.csv", tmp / "cand.csv"
    with train_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        columns = ["id", "title", "date", "added", "week", "downloaded", "kept"]
        w.writerow([*columns, "label"])
        for r in rows[:cut]:
            w.writerow([r[k] for k in columns] + [r["downloaded"]])
    with cand_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "title", "date"])
        for r in rows[cut:]:
            if r["manual"] == "0":
                w.writerow([r["id"], r["title"], r["date"]])
    history, cands = read_train(train_csv), read_candidates(cand_csv)
    emb_dir = tmp / "embeddings"
    CachedEmbedder(LocalMiniLM(), emb_dir).embed([h.text for h in history])  # not timed

    out = []
    for state in ("computed", "cached"):
        embedder = CachedEmbedder(LocalMiniLM(), emb_dir)  # a model not yet loaded
        t0 = time.perf_counter()
        scorer = InterestScorer(embedder).train(history)
        t1 = time.perf_counter()
        scorer.score(cands)
        t2 = time.perf_counter()
        out.append((state, t1 - t0, t2 - t1, embedder.misses))
    lines = [
        f"\n**Ranking {len(cands):,} candidates** after training on {len(history):,} rows "
        "(titles only; 2 cores; score = embed + score, target ≤ 30 s computed, ≤ 3 s cached)\n",
        "| candidate embeddings | train s | score s | texts embedded |",
        "|---|---|---|---|",
    ]
    for state, train_s, score_s, misses in out:
        lines.append(f"| {state} | {train_s:.1f} | {score_s:.1f} | {misses:,} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--skip-replay", action="store_true", help="timings only")
    parser.add_argument("--cold-start-only", action="store_true", help="only the cold-start table")
    parser.add_argument("--cache-dir", type=Path, help="reuse this embedding cache directory")
    parser.add_argument("--candidates", type=int, default=SPEED_CANDIDATES)
    args = parser.parse_args(argv)
    print("## Interest ranking\n")
    bench = shared_dir() / "bench" / "interest" / "evaluate.py"
    data = shared_dir() / "data" / "reader-history" / "dev.csv"
    if not bench.is_file() or not data.is_file():
        print(f"(skipped: {bench} or {data} not found — the benchmark lives in ../shared)")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-rank-") as tmp:
        cache = args.cache_dir or Path(tmp) / "cache"
        if args.cold_start_only:
            print(cold_start(bench, data, cache, Path(tmp) / "results", None))
            return 0
        if args.skip_replay:
            pass
        elif importlib.util.find_spec("pandas") is None:
            print("(replay skipped: evaluate.py needs pandas — `pip install pandas`)")
        else:
            out_dir = Path(tmp) / "results"
            result, wall = replay(bench, data, cache, out_dir)
            weeks = out_dir / "learned.weeks.csv"
            print(quality_table(result, weeks, wall, cold=args.cache_dir is None))
            print(cold_start(bench, data, cache, out_dir, result))
            from pipeline.bench.generalise import generalise  # it imports this module

            print(generalise(cache, RankerConfig()))
        speed_dir = Path(tmp) / "speed"
        speed_dir.mkdir()
        print(speed(data, speed_dir, args.candidates))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
