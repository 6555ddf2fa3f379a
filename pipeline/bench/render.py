"""Rendering benchmarks (`python -m pipeline.bench.render`).

(a) One issue (10 highlights with summaries, 100 also-this-week items, real titles and
    abstracts from the bundled sample): every rendering, then a regeneration that must be
    byte-identical.
(b) The archive site with a year of issues (52): index, pages, Atom and podcast feeds.
(c) Podcast audio offline (espeak-ng + ffmpeg, when installed) for a 10-highlight script:
    wall time, audio length, real-time factor; then the cached rebuild (0 TTS calls).
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from pipeline.bench.sample import sample_paper, scratch_settings
from pipeline.issue_files import render_week
from pipeline.podcast.speech import EspeakSpeech
from pipeline.render.site import build_site
from pipeline.store.db import add_all, open_database
from pipeline.store.issues import ALSO, HIGHLIGHT, Placement, save_issue, set_status
from pipeline.store.models import Paper, Summary

SUMMARY_TEXT = (
    "The authors propose a method and evaluate it on twelve public benchmarks, reporting "
    "consistent gains over strong baselines with a fraction of the compute. Ablations isolate "
    "the contribution of each component. The evaluation is limited to English data and the "
    "gains shrink at the largest scale, so the claims about generality need more evidence."
)


def _week(i: int) -> str:
    return f"2025-W{i + 1:02d}"


def _populate(engine: Engine, weeks: int, highlights: int, also: int) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    n = 0
    for w in range(weeks):
        week = _week(w)
        placements = []
        rows: list[Paper | Summary] = []
        for pos in range(highlights + also):
            pid = f"2501.{n:05d}"
            when = start + timedelta(days=7 * w)
            rows.append(sample_paper(n, pid, when))
            section = HIGHLIGHT if pos < highlights else ALSO
            if section == HIGHLIGHT:
                rows.append(
                    Summary(
                        paper_id=pid,
                        version=1,
                        kind="summary",
                        prompt_hash="bench",
                        model="bench-model",
                        params_hash="bench",
                        text=SUMMARY_TEXT,
                        created=when,
                    )
                )
            placements.append(
                Placement(
                    pid,
                    1,
                    section,
                    pos if section == HIGHLIGHT else pos - highlights,
                    1.0 - pos / 1000,
                    "matches your interest in 'benchmarks'",
                )
            )
            n += 1
        add_all(engine, rows)  # the week's papers and summaries: one transaction
        save_issue(
            engine, week, placements, created=start + timedelta(days=7 * w + 7), candidates=800
        )
        set_status(engine, week, "rendered", model="bench-model")


def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(directory.rglob("*")):
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-audio", action="store_true", help="skip (c)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = scratch_settings(root)
        engine = open_database(settings.database_url)
        _populate(engine, 52, 10, 100)

        started = time.perf_counter()
        render_week(engine, settings, _week(51))
        one = time.perf_counter() - started
        issue_dir = settings.output_dir / "issues" / _week(51)
        before = _digest(issue_dir)
        started = time.perf_counter()
        render_week(engine, settings, _week(51))
        again = time.perf_counter() - started
        same = _digest(issue_dir) == before
        print(
            f"render: 1 issue (10 highlights, 100 more): {one * 1000:.0f} ms; "
            f"regenerate {again * 1000:.0f} ms, byte-identical: {same}"
        )

        started = time.perf_counter()
        site = build_site(engine, settings)
        took = time.perf_counter() - started
        pages = sum(1 for _ in site.rglob("*.html"))
        print(f"render: archive site, 52 issues ({pages} pages + 2 feeds): {took:.2f} s")

        if args.no_audio or not (shutil.which("espeak-ng") and shutil.which("ffmpeg")):
            print("render: podcast audio skipped (needs espeak-ng and ffmpeg: make system-deps)")
        else:
            started = time.perf_counter()
            result = render_week(engine, settings, _week(0), speech=EspeakSpeech())
            took = time.perf_counter() - started
            assert result.audio is not None
            started = time.perf_counter()
            cached = render_week(engine, settings, _week(0), speech=EspeakSpeech())
            rebuild = time.perf_counter() - started
            assert cached.audio is not None
            print(
                f"render: podcast audio (espeak-ng, 10 highlights): {took:.1f} s for "
                f"{result.audio.duration_seconds / 60:.1f} min of audio "
                f"({result.audio.duration_seconds / took:.0f}x real time, "
                f"{result.audio.chunks} chunks, {result.audio.size_bytes / 1e6:.1f} MB); "
                f"cached rebuild {rebuild:.1f} s with {cached.audio.synthesized} TTS calls"
            )
        engine.dispose()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"render: peak RSS {rss:.0f} MB")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
