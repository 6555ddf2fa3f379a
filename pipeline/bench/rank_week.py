"""Ranking speed on a real week: `runner.rank` over every paper of `../shared/data/arxiv-week`.

    python -m pipeline.bench.rank_week            # ONNX (the default), cold then cached
    python -m pipeline.bench.rank_week --torch    # and torch at 256 word pieces (before)

The week is served by the local arXiv-compatible server (`pipeline.devservers.arxiv_api`) and
fetched into SQLite in a temp dir with every category it holds, as the ingest benchmark does.
Then the rank stage runs as `newsletter rank --week` would (default settings, no feedback,
no LLM rating) in a fresh process per row, so model loading counts and peak RSS
(VmHWM) is that process's own:

- cold: no embedding stored yet (title + abstract of every candidate embedded; the ONNX
  model file is in place, as after `make setup`; its one-off export is timed apart);
- cached: the same week ranked again, every vector read back from the database.

CPU seconds (all threads) are printed beside the wall time: on a shared machine they say
more about the work than the wall clock does.

Skipped, with a note, when `../shared` is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline.bench.ingest import real_data_dir, scan, serve
from pipeline.llm.embed_local import MAX_TOKENS, TRAINED_TOKENS
from pipeline.records import week_of

TARGET_COLD = 6.0  # seconds per 1,000 candidates, title + abstract
TARGET_CACHED = 1.0
TARGET_RSS_MB = 1024.0


class Counting:
    """An `Embedder` around another that counts the texts it was asked to embed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.texts = 0

    @property
    def dimensions(self) -> int:
        return int(self.inner.dimensions)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.texts += len(texts)
        return np.asarray(self.inner.embed(texts), dtype=np.float32)


def _settings(root: Path, categories: Sequence[str]) -> Any:
    from pipeline.config import load_settings

    return load_settings(
        None,
        {
            "database_url": f"sqlite:///{root / 'bench.sqlite3'}",
            "output_dir": str(root / "out"),
            "cache_dir": str(root / "cache"),
            "categories": list(categories),
            "arxiv_page_size": 2000,
            "arxiv_delay_seconds": 0,
        },
    )


def _no_chat() -> Any:
    raise RuntimeError("the ranking benchmark never calls a chat model")


def prepare(root: Path, *, export: bool = True) -> dict[str, Any]:
    """Fetch the real week into `root`; unless `make setup` did, export the ONNX model into
    its cache (timed)."""
    import httpx

    from pipeline import runner
    from pipeline.fetch.arxiv import ArxivSource
    from pipeline.store.db import open_database

    data = scan(real_data_dir())
    settings = _settings(root, data.categories)
    engine = open_database(settings.database_url)
    with serve(data.path) as url, httpx.Client(timeout=60) as http:
        p = runner.Pipeline(
            settings=settings,
            engine=engine,
            source=lambda: ArxivSource(url, http=http, page_size=2000, delay_seconds=0),
            chat=_no_chat,
        )
        runner.fetch(p, data.window)
    engine.dispose()
    export_s = None
    from pipeline.llm import embed_onnx
    from pipeline.llm.embed_local import weights_dir

    if export and embed_onnx.available():
        weights = weights_dir()
        dirs = embed_onnx.default_dirs(settings.cache_dir)
        if not any((d / embed_onnx.model_filename(weights)).is_file() for d in dirs):
            t0 = time.perf_counter()
            embed_onnx.find_or_export(weights, dirs)
            export_s = time.perf_counter() - t0
    return {
        "categories": data.categories,
        "week": week_of(data.window.since),
        "export_s": export_s,
    }


def run_one(
    root: Path, categories: list[str], week: str, backend: str, max_tokens: int
) -> dict[str, Any]:
    """Rank the week once in this process; the figures as a JSON-able dict."""
    from pipeline import runner
    from pipeline.llm.embed_local import LocalMiniLM
    from pipeline.store.db import open_database

    started = time.perf_counter()
    settings = _settings(root, categories)
    engine = open_database(settings.database_url)
    model = LocalMiniLM(
        cache_dir=settings.cache_dir,
        backend=backend,  # type: ignore[arg-type]
        max_tokens=max_tokens,
    )
    counting = Counting(model)
    p = runner.Pipeline(
        settings=settings,
        engine=engine,
        source=_no_source,
        chat=_no_chat,
        embedder=lambda: counting,
    )
    t0, cpu0 = time.perf_counter(), _cpu()
    result = runner.rank(p, week, llm=False)
    seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
    engine.dispose()
    return {
        "backend": model.backend or "(not loaded)",
        "max_tokens": max_tokens,
        "candidates": result.candidates,
        "seconds": seconds,
        "cpu_s": cpu,
        "setup_s": t0 - started,
        "embedded": counting.texts,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM): `ru_maxrss` would carry the parent's over fork."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    """CPU seconds of this process, every thread (on a shared machine wall time is not)."""
    t = os.times()
    return t.user + t.system


def _no_source() -> Any:
    raise RuntimeError("the ranking benchmark never fetches")


def _child(root: Path, prep: dict[str, Any], backend: str, max_tokens: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "pipeline.bench.rank_week", "--one", str(root)]
    argv += ["--week", prep["week"], "--backend", backend, "--max-tokens", str(max_tokens)]
    argv += ["--categories", ",".join(prep["categories"])]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"rank_week child failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def table(rows: list[tuple[str, dict[str, Any]]], prep: dict[str, Any]) -> str:
    lines = [
        f"\n**Ranking a real week** ({prep['week']}, `../shared/data/arxiv-week`, all "
        f"{len(prep['categories'])} categories; title + abstract; `runner.rank` in a fresh "
        "process, no feedback, no LLM rating; targets per 1,000 candidates: "
        f"≤ {TARGET_COLD:.0f} s cold, ≤ {TARGET_CACHED:.0f} s cached, "
        f"peak RSS ≤ {TARGET_RSS_MB:,.0f} MB)\n",
        "| embeddings | backend | cut (word pieces) | candidates | texts embedded | rank s "
        "| s per 1,000 | CPU s per 1,000 | peak RSS MB |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for state, r in rows:
        per_k = r["seconds"] / max(r["candidates"], 1) * 1000
        target = TARGET_COLD if state.startswith("cold") else TARGET_CACHED
        mark = "ok" if per_k <= target and r["peak_rss_mb"] <= TARGET_RSS_MB else "missed"
        lines.append(
            f"| {state} | {r['backend']} | {r['max_tokens']} | {r['candidates']:,} | "
            f"{r['embedded']:,} | {r['seconds']:.1f} | {per_k:.1f} ({mark}) | "
            f"{r['cpu_s'] / max(r['candidates'], 1) * 1000:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    if prep.get("export_s") is not None:
        lines.append(
            f"\nThe one-off ONNX export + int8 quantisation (what `make setup` does): "
            f"{prep['export_s']:.1f} s."
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--torch", action="store_true", help="also time the torch fallback")
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--week", help=argparse.SUPPRESS)
    ap.add_argument("--backend", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--max-tokens", type=int, default=TRAINED_TOKENS, help=argparse.SUPPRESS)
    ap.add_argument("--categories", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one is not None:
        cats = [c for c in args.categories.split(",") if c]
        print(json.dumps(run_one(args.one, cats, args.week, args.backend, args.max_tokens)))
        return 0
    print("## Ranking speed (issue 15)\n")
    if not real_data_dir().is_dir():
        print(f"(skipped: {real_data_dir()} not found — the data lives in ../shared)")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-rank-week-") as tmp:
        root = Path(tmp)
        prep = prepare(root)
        rows = [
            ("cold", _child(root, prep, "auto", TRAINED_TOKENS)),
            ("cached", _child(root, prep, "auto", TRAINED_TOKENS)),
        ]
        if args.torch:
            torch_root = Path(tmp) / "torch"
            torch_root.mkdir()
            torch_prep = prepare(torch_root, export=False)
            rows.append(("cold", _child(torch_root, torch_prep, "torch", MAX_TOKENS)))
            rows.append(("cached", _child(torch_root, torch_prep, "torch", MAX_TOKENS)))
        print(table(rows, prep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
