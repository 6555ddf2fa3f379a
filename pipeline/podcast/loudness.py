"""Broadcast loudness: ffmpeg's loudnorm in two passes, and the EBU R128 measurement.

The podcast is normalised to -16 LUFS integrated (what Apple Podcasts and most players
expect of spoken word) with the true peak at most -1 dBTP. Neural speech has peaks some
20 dB above its loudness, too many for a linear gain to reach -16 LUFS under the peak
limit (loudnorm would fall back to its dynamic mode, which misses the target on short
files), so the speech is first levelled: its loudness is measured (`ebur128_argv` without
the costly true-peak scan, `integrated`), a gain brings it near the target and a limiter
holds the peaks at -5 dBFS (`leveller`), working at 192 kHz so that it limits the true
peak (at the voice's 22 kHz the peaks between samples rose 1 to 3 dB above the limit).
Then loudnorm's two passes: the first measures the levelled speech (`measure_filter`,
`measured`), the second applies those measurements linearly (`loudnorm`; ffmpeg falls back
to dynamic only when linear cannot meet the targets). loudnorm aims at -2 dBTP: the
resampling to 24 kHz and the 64 kbit/s MP3 encoding raise peaks again (by up to 0.4 dB in
our runs), as AES TD1008 warns for low bit rates; a file still above -1 dBTP (once, +2.3,
for one sampling of the Piper voice) is made again with that much more headroom
(`audio.build_podcast`). `ebur128` reads a finished file's measurement (the benchmark, the
tests, that check).
`VERSION` names these settings, for caches of the filters computed with them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

TARGET_LUFS = -16.0
MAX_TRUE_PEAK = -1.0  # dBTP, for the published file
TARGET_TRUE_PEAK = -2.0  # what loudnorm aims at: headroom for the MP3 encoder (AES TD1008)
TARGET_LRA = 11.0
LIMIT = 0.56  # the leveller's peak limit (-5 dBFS), at OVERSAMPLE Hz: a true-peak limit
OVERSAMPLE = 192_000  # loudnorm works at this rate too
SILENCE = -70.0  # LUFS: ebur128's floor, for audio with nothing to normalise
_MEASURED = ("input_i", "input_tp", "input_lra", "input_thresh", "target_offset")


@dataclass(frozen=True)
class Loudness:
    integrated: float  # LUFS
    true_peak: float  # dBTP
    lra: float  # LU


def _targets(headroom: float = 0.0) -> str:
    peak = TARGET_TRUE_PEAK - headroom
    return f"I={TARGET_LUFS:g}:TP={peak:g}:LRA={TARGET_LRA:g}"


def measure_filter(before: str = "", headroom: float = 0.0) -> str:
    """A measuring pass (after the filters ``before``, if any): JSON on stderr."""
    return f"{before},loudnorm={_targets(headroom)}:print_format=json".lstrip(",")


def leveller(integrated: float, headroom: float = 0.0) -> str:
    """Gain to the target from the measured ``integrated`` loudness, then a peak limiter
    (``headroom`` dB lower than `LIMIT`, for a second try at the true-peak target)."""
    gain = TARGET_LUFS - integrated
    limit = LIMIT * 10 ** (-headroom / 20)
    return (
        f"aresample={OVERSAMPLE},volume={gain:.2f}dB,"
        f"alimiter=limit={limit:.4g}:attack=5:release=50:level=false"
    )


def measured(stderr: str) -> dict[str, float] | None:
    """The first pass's measurements from ffmpeg's stderr; None for silence (nothing to
    normalise). A stderr without them is a bug (ffmpeg's output changed)."""
    start = stderr.rfind("{")
    end = stderr.rfind("}")
    if start < 0 or end < start:
        raise ValueError("ffmpeg's loudnorm printed no measurements")
    data = json.loads(stderr[start : end + 1])
    values = {key: float(data[key]) for key in _MEASURED}
    return values if all(math.isfinite(v) for v in values.values()) else None


def loudnorm(values: dict[str, float], headroom: float = 0.0) -> str:
    """The second pass: normalise with the first pass's measurements."""
    return (
        f"loudnorm={_targets(headroom)}:measured_I={values['input_i']:g}"
        f":measured_TP={values['input_tp']:g}:measured_LRA={values['input_lra']:g}"
        f":measured_thresh={values['input_thresh']:g}:offset={values['target_offset']:g}"
        ":linear=true"
    )


_SUMMARY = re.compile(
    r"Summary:.*?I:\s+(-?[\d.]+|-inf) LUFS.*?LRA:\s+(-?[\d.]+) LU.*?Peak:\s+(-?[\d.]+|-inf) dBFS",
    re.S,
)


VERSION = f"{_targets()}:limit={LIMIT}@{OVERSAMPLE}:max={MAX_TRUE_PEAK}:v4"


def analysis_argv(ffmpeg: str, inputs: list[str], filters: str) -> list[str]:
    """ffmpeg running ``inputs`` (input options and file) through ``filters``, output
    discarded: the measuring filters print on stderr."""
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-nostats", *inputs,
        "-af", filters, "-f", "null", "-",
    ]  # fmt: skip


def ebur128_argv(ffmpeg: str, inputs: list[str], *, peak: bool = True) -> list[str]:
    """ffmpeg measuring ``inputs`` with the ebur128 filter (``peak``: true peak too)."""
    return analysis_argv(ffmpeg, inputs, "ebur128=peak=true" if peak else "ebur128")


def integrated(stderr: str) -> float | None:
    """The integrated loudness from ebur128's Summary; None for silence."""
    m = re.search(r"Summary:.*?I:\s+(-?[\d.]+|-inf) LUFS", stderr, re.S)
    if m is None:
        raise ValueError("ffmpeg's ebur128 printed no summary")
    value = float(m[1])
    return value if value > SILENCE else None


def ebur128(stderr: str) -> Loudness:
    """The Summary that ffmpeg's ebur128 filter prints at the end (see `ebur128_argv`)."""
    m = _SUMMARY.search(stderr)
    if m is None:
        raise ValueError("ffmpeg's ebur128 printed no summary")
    return Loudness(float(m[1]), float(m[3]), float(m[2]))
