"""Ingestion benchmark: arXiv-compatible server -> `ArxivSource` -> `runner.fetch` -> SQLite.

    python -m pipeline.bench.ingest                  # both datasets, a Markdown table
    python -m pipeline.bench.ingest --one synthetic  # one dataset, one JSON line

Datasets: (a) the real week in `../shared/data/arxiv-week` (2,362 rows; every category in it
is queried so every row is served), skipped with a note when absent; (b) 20,000 generated
papers (~1 KB abstracts) spread over one week.

Each dataset runs in a fresh process, so peak RSS (`ru_maxrss`) is per dataset; the local
server runs in a child process of its own, so its memory and CPU are not counted. Zero delay,
page size 2000, a fresh SQLite file in a temp dir; each dataset is ingested twice (first
ingest, then re-ingest of the same window). papers/s = rows the source yielded / wall seconds
of `runner.fetch`.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pipeline
from pipeline.procs import stop_process
from pipeline.records import Window

PAGE_SIZE = 2000
SYNTHETIC_SIZE = 20_000
EXCLUDE_TERMS = ["survey"]  # exercises the term filter; excluded rows are still stored
TARGET_FIRST = 2_000.0  # papers/s
TARGET_AGAIN = 10_000.0  # papers/s
TARGET_RSS_MB = 300.0
DATASETS = ("real", "synthetic")
SYNTHETIC_WEEK = Window(datetime(2026, 6, 15, tzinfo=UTC), datetime(2026, 6, 22, tzinfo=UTC))


def real_data_dir() -> Path:
    return Path(pipeline.__file__).resolve().parents[2] / "shared" / "data" / "arxiv-week"


# -- datasets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    path: Path  # a .jsonl file or a directory of YYYY-MM-DD.jsonl files
    rows: int
    categories: list[str]
    window: Window


def scan(path: Path) -> Dataset:
    """Row count, every category and a window covering every row (read line by line)."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    rows, categories = 0, set[str]()
    first = last = None
    for file in files:
        try:
            day: datetime | None = datetime.strptime(file.stem, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            day = None
        with file.open(encoding="utf-8") as lines:
            for index, line in enumerate(lines):
                if not line.strip():
                    continue
                row = json.loads(line)
                rows += 1
                categories.update(row.get("categories") or ())
                if row.get("published"):
                    moment = datetime.fromisoformat(row["published"]).astimezone(UTC)
                elif day is not None:
                    moment = day + timedelta(seconds=index)
                else:
                    raise ValueError(f"{file}:{index + 1}: no 'published' and no dated file name")
                first = moment if first is None else min(first, moment)
                last = moment if last is None else max(last, moment)
    if first is None or last is None:
        raise ValueError(f"{path}: no rows")
    since = first.replace(hour=0, minute=0, second=0, microsecond=0)
    until = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return Dataset(path, rows, sorted(categories), Window(since, until))


_TOPICS = (
    "language models",
    "diffusion models",
    "graph neural networks",
    "reinforcement learning",
    "sparse autoencoders",
    "vision transformers",
    "federated learning",
    "speech recognition",
    "retrieval-augmented generation",
    "protein folding",
    "causal inference",
    "robot control",
    "time series forecasting",
    "mixture of experts",
    "in-context learning",
    "code generation",
)
_VERBS = (
    "Scaling",
    "Revisiting",
    "Understanding",
    "Accelerating",
    "Aligning",
    "Benchmarking",
    "Compressing",
    "Steering",
    "Evaluating",
    "Distilling",
    "Probing",
    "Regularizing",
)
_HOW = (
    "with Curriculum Sampling",
    "via Low-Rank Adapters",
    "under Distribution Shift",
    "at Scale",
    "without Labels",
    "through Synthetic Data",
    "for Edge Devices",
    "with Provable Guarantees",
    "in the Wild",
    "from Human Feedback",
)
_WORDS = (
    "we",
    "propose",
    "a",
    "method",
    "that",
    "improves",
    "accuracy",
    "across",
    "benchmarks",
    "while",
    "reducing",
    "compute",
    "our",
    "analysis",
    "shows",
    "the",
    "model",
    "learns",
    "robust",
    "features",
    "experiments",
    "on",
    "datasets",
    "demonstrate",
    "gains",
    "of",
    "over",
    "strong",
    "baselines",
    "and",
    "ablations",
    "confirm",
    "each",
    "component",
    "matters",
    "$O(n \\log n)$",
    "training",
    "inference",
    "latency",
    "<",
    "&",
    "Schrödinger",
    "naïve",
    "résumé",
    "tokens",
    "parameters",
    "theory",
    "empirical",
    "scaling",
    "law",
)
_FIRST = (
    "Ada",
    "Bo",
    "Chen",
    "Dmitri",
    "Eve",
    "Fatima",
    "Gábor",
    "Hiro",
    "Ines",
    "Jun",
    "Kerli",
    "Lars",
    "Mei",
    "Noor",
    "Olu",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Zoë",
)
_LAST = (
    "Andersen",
    "Bianchi",
    "Costa",
    "Dubois",
    "Eriksson",
    "Fischer",
    "García",
    "Huang",
    "Ivanova",
    "Jones",
    "Kim",
    "López",
    "Müller",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quispe",
    "Rossi",
    "Singh",
    "Yıldız",
)
_CATEGORIES = ("cs.LG", "cs.CL", "cs.AI", "cs.CV", "stat.ML", "cs.RO", "cs.IR", "math.OC")


def synthetic_rows(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`n` varied papers (titles, ~1 KB abstracts, authors, cross-lists) over one week."""
    rng = random.Random(seed)
    span = int((SYNTHETIC_WEEK.until - SYNTHETIC_WEEK.since).total_seconds())
    for i in range(n):
        topic = rng.choice(_TOPICS)
        title = f"{rng.choice(_VERBS)} {topic.title()} {rng.choice(_HOW)} ({i})"
        if rng.random() < 0.05:
            title = f"A Survey of {topic.title()} ({i})"
        words: list[str] = []
        size = 0
        while size < 1000:
            word = rng.choice(_WORDS)
            words.append(word)
            size += len(word) + 1
        primary = rng.choice(_CATEGORIES)
        cross = rng.sample([c for c in _CATEGORIES if c != primary], rng.randint(0, 2))
        published = SYNTHETIC_WEEK.since + timedelta(seconds=rng.randrange(span))
        yield {
            "id": f"2606.{10000 + i:05d}",
            "version": 1 if rng.random() < 0.9 else 2,
            "title": title,
            "summary": f"We study {topic}. " + " ".join(words),
            "authors": [
                f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" for _ in range(rng.randint(1, 8))
            ],
            "categories": [primary, *cross],
            "published": published.isoformat(),
            "comment": f"{rng.randint(4, 40)} pages" if rng.random() < 0.5 else None,
            "doi": f"10.1234/bench.{i}" if rng.random() < 0.1 else None,
        }


def write_synthetic(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for row in synthetic_rows(n):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


# -- one dataset ---------------------------------------------------------------------------


@contextmanager
def serve(path: Path) -> Iterator[str]:
    """The local arXiv-compatible server in a child process; yields its URL."""
    cmd = [sys.executable, "-m", "pipeline.devservers.arxiv_api", str(path), "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r" at (http://\S+) ", line)
        if found is None:
            raise RuntimeError(f"the arXiv dev server did not start (said {line.strip()!r})")
        yield found.group(1)
    finally:
        stop_process(proc, signal.SIGINT)
        if proc.stdout is not None:
            proc.stdout.close()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _no_chat() -> Any:
    raise RuntimeError("the ingest benchmark never calls a model")


def run_one(name: str, synthetic_size: int = SYNTHETIC_SIZE) -> dict[str, Any]:
    """Ingest one dataset twice in this process; the figures as a JSON-able dict."""
    # Imported here: the parent process only starts children and prints the table.
    import httpx

    from pipeline import runner
    from pipeline.config import load_settings
    from pipeline.fetch.arxiv import ArxivSource
    from pipeline.store.db import open_database

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        if name == "real":
            path = real_data_dir()
            if not path.is_dir():
                return {"dataset": name, "skipped": f"{path} not found"}
        else:
            path = write_synthetic(Path(tmp) / "synthetic.jsonl", synthetic_size)
        data = scan(path)
        db_url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        settings = load_settings(
            None,
            {
                "database_url": db_url,
                "output_dir": str(Path(tmp) / "out"),
                "categories": data.categories,
                "exclude_terms": EXCLUDE_TERMS,
                "arxiv_page_size": PAGE_SIZE,
                "arxiv_delay_seconds": 0,
            },
        )
        engine = open_database(db_url)
        passes: list[dict[str, Any]] = []
        with serve(path) as url, httpx.Client(timeout=60) as http:
            p = runner.Pipeline(
                settings=settings,
                engine=engine,
                source=lambda: ArxivSource(
                    url, http=http, page_size=PAGE_SIZE, delay_seconds=0, retries=2
                ),
                chat=_no_chat,
            )
            rss_before = peak_rss_mb()
            for label in ("first", "again"):
                started = time.perf_counter()
                counts = runner.fetch(p, data.window).counts
                seconds = time.perf_counter() - started
                served = counts.new + counts.updated + counts.unchanged
                passes.append(
                    {
                        "pass": label,
                        "served": served,
                        "seconds": seconds,
                        "rate": served / seconds,
                        **counts.as_dict(),
                        "peak_rss_mb": peak_rss_mb(),
                    }
                )
        engine.dispose()
    return {
        "dataset": name,
        "rows": data.rows,
        "categories": len(data.categories),
        "rss_before_mb": rss_before,
        "passes": passes,
    }


# -- the report ----------------------------------------------------------------------------


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def table(results: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| dataset | pass | papers | seconds | papers/s | new | updated | unchanged | excluded "
        "| peak RSS MB |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    notes: list[str] = []
    for result in results:
        if "skipped" in result:
            notes.append(f"- {result['dataset']}: skipped ({result['skipped']})")
            continue
        for row in result["passes"]:
            target = TARGET_FIRST if row["pass"] == "first" else TARGET_AGAIN
            lines.append(
                f"| {result['dataset']} | {row['pass']} | {row['served']:,} "
                f"| {row['seconds']:.2f} | {row['rate']:,.0f} ({_mark(row['rate'] >= target)}) "
                f"| {row['new']:,} | {row['updated']:,} | {row['unchanged']:,} "
                f"| {row['excluded']:,} "
                f"| {row['peak_rss_mb']:.0f} ({_mark(row['peak_rss_mb'] <= TARGET_RSS_MB)}) |"
            )
        if result["passes"] and result["passes"][0]["served"] != result["rows"]:
            notes.append(
                f"- {result['dataset']}: the source yielded {result['passes'][0]['served']:,} "
                f"of {result['rows']:,} rows served"
            )
        notes.append(
            f"- {result['dataset']}: {result['rows']:,} rows, {result['categories']} categories "
            f"queried; RSS before fetching {result['rss_before_mb']:.0f} MB"
        )
    notes.append(
        f"- targets: first ingest >= {TARGET_FIRST:,.0f} papers/s, re-ingest >= "
        f"{TARGET_AGAIN:,.0f} papers/s, peak RSS <= {TARGET_RSS_MB:.0f} MB; page size "
        f"{PAGE_SIZE}, zero delay, server in its own process, exclude terms {EXCLUDE_TERMS}"
    )
    return "\n".join(["## Ingest", "", *lines, "", *notes])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.bench.ingest", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--one", choices=DATASETS, help="run one dataset here; print JSON")
    parser.add_argument("--synthetic-size", type=int, default=SYNTHETIC_SIZE, metavar="N")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.one:
        print(json.dumps(run_one(args.one, args.synthetic_size)), flush=True)
        return 0
    results: list[dict[str, Any]] = []
    status = 0
    for name in DATASETS:
        cmd = [sys.executable, "-m", "pipeline.bench.ingest", "--one", name]
        cmd += ["--synthetic-size", str(args.synthetic_size)]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0:
            print(f"ingest benchmark {name!r} failed (exit {done.returncode})", file=sys.stderr)
            status = 1
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(table(results), flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
