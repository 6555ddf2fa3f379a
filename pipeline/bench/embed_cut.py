"""How much does the word-piece cut change what the ranker sees?  The reader benchmark has
titles only (all shorter than any cut), so it cannot tell; this compares, on titles with
abstracts of the real week (`../shared/data/arxiv-week`), the vectors and two rankings made
from them at each cut against the shipped cut (128), with the encoder's CPU seconds.

    python -m pipeline.bench.embed_cut [--papers 300] [--cuts 256,96,64]

Rankings: the default description's profile score over the sample, and each paper's
similarity to its closest of 20 "picks" (the sample's first 20 papers); Spearman's rho and
how many of the top 30 stay the same.  Agreement, not quality: no labels exist for abstracts.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pipeline.bench.rank import shared_dir
from pipeline.config import Settings
from pipeline.llm.embed_local import TRAINED_TOKENS, LocalMiniLM
from pipeline.ranking.data import Item
from pipeline.ranking.signals import ProfileSignal

PICKS = 20
TOP = 30
Vectors = NDArray[np.float32]


def sample(n: int) -> list[Item]:
    rows = []
    for path in sorted((shared_dir() / "data" / "arxiv-week").glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    random.Random(0).shuffle(rows)
    return [Item(id=r["id"], title=r["title"], abstract=r["summary"]) for r in rows[:n]]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _spearman(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def _top(values: NDArray[np.float64]) -> set[int]:
    return set(np.argsort(-values)[:TOP].tolist())


def rankings(items: list[Item], vectors: Vectors, model: LocalMiniLM) -> list[NDArray[np.float64]]:
    profile = ProfileSignal.build(Settings().interest_description, [], model.embed)
    assert profile is not None  # the default description has phrases
    near = (vectors[PICKS:] @ vectors[:PICKS].T).max(axis=1).astype(np.float64)
    return [profile.score(items, vectors).values, near]


def compare(items: list[Item], cuts: Sequence[int], cache: Path) -> str:
    texts = [i.text for i in items]
    out: dict[int, tuple[Vectors, float, list[NDArray[np.float64]]]] = {}
    for cut in [TRAINED_TOKENS, *cuts]:
        model = LocalMiniLM(cache_dir=cache, max_tokens=cut)
        model.embed(texts[:2])  # load the model outside the timing
        c0 = _cpu()
        vectors = model.embed(texts)
        cpu = (_cpu() - c0) / len(texts) * 1000
        out[cut] = (vectors, cpu, rankings(items, vectors, model))
    ref_vectors, ref_cpu, ref_rank = out[TRAINED_TOKENS]
    lines = [
        f"\n**Word-piece cut against {TRAINED_TOKENS}** ({len(items)} titles + abstracts of "
        "the real week; agreement, not quality)\n",
        "| cut | CPU s per 1,000 | cosine mean, min | profile: rho, top 30 kept "
        "| closest pick: rho, top 30 kept |",
        "|--:|--:|--:|--:|--:|",
        f"| {TRAINED_TOKENS} (shipped) | {ref_cpu:.1f} | 1, 1 | 1, {TOP} | 1, {TOP} |",
    ]
    for cut in cuts:
        vectors, cpu, ranks = out[cut]
        cos = (vectors * ref_vectors).sum(axis=1)
        cells = [
            f"{_spearman(r, ref):.3f}, {len(_top(r) & _top(ref))}"
            for r, ref in zip(ranks, ref_rank, strict=True)
        ]
        lines.append(
            f"| {cut} | {cpu:.1f} | {cos.mean():.3f}, {cos.min():.3f} | {cells[0]} | {cells[1]} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--papers", type=int, default=300)
    parser.add_argument("--cuts", default="256,96,64")
    parser.add_argument("--cache-dir", type=Path, help="where the exported ONNX model is")
    args = parser.parse_args(argv)
    if not (shared_dir() / "data" / "arxiv-week").is_dir():
        print("(skipped: ../shared/data/arxiv-week not found)")
        return 0
    cuts = [int(c) for c in args.cuts.split(",") if c.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-cut-") as tmp:
        print(compare(sample(args.papers), cuts, args.cache_dir or Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
