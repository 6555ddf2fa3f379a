"""Podcast engines benchmark (`python -m pipeline.bench.podcast`).

For each offline engine that is installed (espeak-ng; the Piper voice), the default issue's
podcast (5 highlights with summaries, as `newsletter run --audio` makes it) is spoken from an
empty cache, in a child process of its own so that its peak RSS is its own: the engine's
load time, the render's wall time (speech, loudness passes, MP3 with tags and cover), the
audio's length and the real-time factor, the peak RSS, and the MP3's measured loudness.
Prints the machine's load, since the timings depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.bench.render import _populate, _week
from pipeline.bench.sample import scratch_settings
from pipeline.issue_files import render_week
from pipeline.podcast.audio import measure
from pipeline.podcast.voices import DEFAULT_VOICE, is_installed, known
from pipeline.store.db import open_database
from pipeline.wiring import speech_for

ENGINES = ("espeak", "piper")


def installed() -> list[str]:
    """The offline engines this machine can run."""
    if not (shutil.which("ffmpeg") and shutil.which("espeak-ng")):
        return []
    return ["espeak", *(["piper"] if is_installed(known(DEFAULT_VOICE)) else [])]


def measure_engine(engine: str) -> dict[str, Any]:
    """One engine's figures (run in the child process)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = scratch_settings(Path(tmp), podcast_tts=engine)
        db = open_database(settings.database_url)
        _populate(db, 1, settings.highlights, 30)
        started = time.perf_counter()
        speech = speech_for(settings, "")
        load = time.perf_counter() - started
        started = time.perf_counter()
        result = render_week(db, settings, _week(0), speech=speech).audio
        took = time.perf_counter() - started
        db.dispose()
        assert result is not None
        level = measure(result.path)
    return {
        "engine": speech.name,
        "load_seconds": round(load, 2),
        "seconds": round(took, 2),
        "audio_seconds": round(result.duration_seconds, 1),
        "chunks": result.chunks,
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "lufs": level.integrated,
        "true_peak": level.true_peak,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=ENGINES, help="measure this engine here (child)")
    args = parser.parse_args(argv)
    if args.engine:
        print(json.dumps(measure_engine(args.engine)))
        return 0
    engines = installed()
    if not engines:
        print("podcast: skipped (needs ffmpeg and espeak-ng: make system-deps)")
        return 0
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"podcast: {os.cpu_count()} cores, load average {load} before the runs")
    for engine in engines:
        argv_child = [sys.executable, "-m", "pipeline.bench.podcast", "--engine", engine]
        done = subprocess.run(argv_child, capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"podcast: {r['engine']}: {r['audio_seconds'] / 60:.1f} min of audio "
            f"({r['chunks']} chunks) in {r['seconds']:.1f} s = "
            f"{r['audio_seconds'] / r['seconds']:.1f}x real time "
            f"(engine load {r['load_seconds']:.1f} s); peak RSS {r['rss_mb']} MB; "
            f"{r['lufs']:.1f} LUFS, true peak {r['true_peak']:.1f} dBTP"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
