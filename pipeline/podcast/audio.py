"""The podcast audio: chunk each chapter's text under the engine's limit (never truncating),
synthesize the chunks (cached per chunk), and join them with ffmpeg into one MP3 at broadcast
loudness (`loudness`: two loudnorm passes) whose ID3v2 tags hold the title, artist, album,
date, the cover image (APIC) and the chapters (CHAP frames). The same cached chunks always give
the same MP3 bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import tempfile
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ConfigError, NewsletterError
from pipeline.podcast import loudness
from pipeline.podcast.speech import Speech
from pipeline.render.files import write_atomic

FFMPEG_MISSING = "ffmpeg is not installed: `sudo apt-get install ffmpeg`"
SAMPLE_RATE = 24_000
BITRATE = "64k"

# Words ending in "." that rarely end a sentence (compared lower-cased).
ABBREVIATIONS = frozenset(
    "e.g. i.e. cf. vs. etc. al. dr. mr. mrs. ms. prof. st. jr. sr. fig. figs. eq. eqs. sec. "
    "no. vol. pp. approx. ca. resp. ref. refs. thm. lem. def. prop. cor.".split()
)
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*$")
_CLAUSE_END = re.compile(r"([,;:—–]|--)[\"'”’)\]]*$|^[-—–]+$")
_INITIALS = re.compile(r"^(?:[A-Za-z]\.)+$")  # "J." "U.S."


@dataclass
class Chapter:
    title: str
    text: str


@dataclass(frozen=True)
class Tags:
    """The episode's ID3 text tags ("" leaves a tag out)."""

    title: str = ""
    artist: str = ""
    album: str = ""
    date: str = ""  # YYYY-MM-DD


@dataclass
class AudioResult:
    path: Path
    duration_seconds: float
    chapters: list[tuple[str, float]]  # (title, start seconds)
    size_bytes: int
    chunks: int
    synthesized: int  # chunks sent to the engine (not found in the cache)
    normalized: bool  # loudness normalised (False only for silence)


# -- chunking ------------------------------------------------------------------------------


def chunk_text(text: str, limit: int) -> list[str]:
    """Whitespace-normalised ``text`` in chunks of at most ``limit`` characters.

    Whole sentences are packed together; a longer sentence is split at clause punctuation,
    then between words; only a single word longer than ``limit`` is cut, into ``limit``-sized
    pieces. Joining the chunks with a space (without one at a cut word) gives the text back.
    """
    if limit < 1:
        raise ValueError(f"chunk limit must be positive, got {limit}")
    units: list[str] = []
    for sentence in _sentences(text.split()):
        units += [sentence] if len(sentence) <= limit else _split_long(sentence, limit)
    return _pack(units, limit)


def _sentences(words: list[str]) -> list[str]:
    sentences: list[str] = []
    current: list[str] = []
    for index, word in enumerate(words):
        current.append(word)
        previous = words[index - 1] if index else ""
        if _ends_sentence(word, previous):
            sentences.append(" ".join(current))
            current = []
    if current:
        sentences.append(" ".join(current))
    return sentences


def _ends_sentence(word: str, previous: str) -> bool:
    if not _SENTENCE_END.search(word):
        return False
    bare = word.rstrip("\"'”’)]").lstrip("\"'“‘([")
    if not bare.endswith("."):
        return True  # ! or ?
    if bare.lower() in ABBREVIATIONS or _INITIALS.match(bare):
        return False
    return not (bare.lower() == "al." and previous.lower() == "et")


def _split_long(sentence: str, limit: int) -> list[str]:
    """Units of at most ``limit`` characters: clauses, else words, else word pieces."""
    clauses: list[str] = []
    current: list[str] = []
    for word in sentence.split(" "):
        current.append(word)
        if _CLAUSE_END.search(word):
            clauses.append(" ".join(current))
            current = []
    if current:
        clauses.append(" ".join(current))
    units: list[str] = []
    for clause in clauses:
        if len(clause) <= limit:
            units.append(clause)
            continue
        for word in clause.split(" "):
            # All pieces but the last are exactly `limit` long, so packing never joins them.
            units += [word[i : i + limit] for i in range(0, len(word), limit)]
    return _pack(units, limit)


def _pack(units: list[str], limit: int) -> list[str]:
    chunks: list[str] = []
    for unit in units:
        if chunks and len(chunks[-1]) + 1 + len(unit) <= limit:
            chunks[-1] += " " + unit
        else:
            chunks.append(unit)
    return chunks


# -- building ------------------------------------------------------------------------------


def build_podcast(
    chapters: list[Chapter],
    speech: Speech,
    out_path: Path,
    *,
    cache_dir: Path | None = None,
    tags: Tags | None = None,
    cover: bytes | None = None,
    ffmpeg: str = "ffmpeg",
    ffprobe: str = "ffprobe",
    on_chunk: Callable[[int], None] | None = None,
) -> AudioResult:
    """Speak ``chapters`` with ``speech`` into the MP3 ``out_path``, one chapter mark each.

    Chunk audio is cached under ``cache_dir/tts`` (keyed by engine name and text), so a
    re-render makes no TTS calls and writes identical bytes. Chapters without text are left
    out. ``cover`` (PNG bytes) is embedded as the front cover. The MP3 is written to a temp
    file beside ``out_path`` and then moved into place. ``on_chunk`` is told of each chunk
    spoken (progress bars).
    """
    spoken = [(c.title, chunk_text(c.text, speech.max_chars)) for c in chapters]
    spoken = [(name, chunks) for name, chunks in spoken if chunks]
    if not spoken:
        raise NewsletterError("the podcast has no text to speak")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="podcast-", dir=out_path.parent) as tmp:
        work = Path(tmp)
        store = cache_dir / "tts" if cache_dir is not None else work / "tts"
        store.mkdir(parents=True, exist_ok=True)
        files: list[Path] = []
        marks: list[tuple[str, float]] = []
        start = 0.0
        synthesized = 0
        for name, chunks in spoken:
            marks.append((name, start))
            for chunk in chunks:
                path, fresh = _chunk_audio(speech, chunk, store)
                synthesized += fresh
                files.append(path)
                start += _duration(path, ffprobe)
                if on_chunk is not None:
                    on_chunk(1)
        concat = work / "concat.txt"
        concat.write_text("ffconcat version 1.0\n" + "".join(_concat_line(f) for f in files))
        metadata = work / "chapters.txt"
        metadata.write_text(_ffmetadata(marks, start, tags or Tags()), encoding="utf-8")
        picture = None
        if cover is not None:
            picture = work / "cover.png"
            picture.write_bytes(cover)
        names = "\n".join([loudness.VERSION, *(f.name for f in files)])
        kept = store / f"loudness-{hashlib.sha256(names.encode()).hexdigest()}.txt"
        partial = work / "podcast.mp3"
        if kept.exists():  # the filters found for these chunks before: the same bytes
            chain = kept.read_text(encoding="utf-8") or None
            _ffmpeg(_ffmpeg_argv(ffmpeg, concat, metadata, picture, chain, partial))
        else:
            chain = _normalised(ffmpeg, concat, metadata, picture, partial)
            write_atomic(kept, chain or "")
        os.replace(partial, out_path)
    return AudioResult(
        path=out_path,
        duration_seconds=start,
        chapters=marks,
        size_bytes=out_path.stat().st_size,
        chunks=len(files),
        synthesized=synthesized,
        normalized=chain is not None,
    )


def measure(path: Path, ffmpeg: str = "ffmpeg") -> loudness.Loudness:
    """The file's integrated loudness, true peak and loudness range (EBU R128)."""
    stderr = _ffmpeg(loudness.ebur128_argv(ffmpeg, ["-i", str(path)]))
    return loudness.ebur128(stderr)


def _chunk_audio(speech: Speech, text: str, store: Path) -> tuple[Path, bool]:
    """The cached audio file for ``text``, and whether it had to be synthesized now."""
    key = hashlib.sha256(f"{speech.name}\0{text}".encode()).hexdigest()
    path = store / f"{key}{speech.suffix}"
    if path.exists():
        return path, False
    write_atomic(path, speech.synthesize(text))
    return path, True


def _duration(path: Path, ffprobe: str) -> float:
    """Seconds of audio in ``path``: from the WAV header, else from ffprobe."""
    data = path.read_bytes()
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(data), "rb") as src:
                frames = len(src.readframes(src.getnframes())) // src.getsampwidth()
                return frames / src.getnchannels() / src.getframerate()
        except (wave.Error, EOFError):
            pass  # e.g. float samples: ask ffprobe
    argv = [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)]
    out = _run(argv, FFMPEG_MISSING, "ffprobe")
    try:
        return float(json.loads(out)["format"]["duration"])
    except (ValueError, KeyError, TypeError):
        raise NewsletterError(f"ffprobe could not measure the audio in {path}") from None


def _normalised(
    ffmpeg: str, concat: Path, metadata: Path, cover: Path | None, out: Path
) -> str | None:
    """Encode ``out`` at broadcast loudness; the filters used (None for silence). A file
    whose true peak is still above `loudness.MAX_TRUE_PEAK` is encoded again with that
    excess (and 0.5 dB more) of headroom, at most twice."""
    headroom = 0.0
    for _ in range(3):
        chain = _loudness_chain(ffmpeg, concat, headroom)
        _ffmpeg(_ffmpeg_argv(ffmpeg, concat, metadata, cover, chain, out))
        if chain is None:
            return None
        excess = measure(out, ffmpeg).true_peak - loudness.MAX_TRUE_PEAK
        if excess <= 0:
            break
        headroom += excess + 0.5
    return chain


def _loudness_chain(ffmpeg: str, concat: Path, headroom: float) -> str | None:
    """The filters that bring the joined audio to broadcast loudness (see `loudness`): the
    leveller, then loudnorm with its own first pass's measurements; None for silence."""
    inputs = ["-f", "concat", "-safe", "0", "-i", str(concat)]
    raw = loudness.integrated(_ffmpeg(loudness.ebur128_argv(ffmpeg, inputs, peak=False)))
    if raw is None:
        return None
    level = loudness.leveller(raw, headroom)
    argv = loudness.analysis_argv(ffmpeg, inputs, loudness.measure_filter(level, headroom))
    levelled = loudness.measured(_ffmpeg(argv))
    return None if levelled is None else f"{level},{loudness.loudnorm(levelled, headroom)}"


def _ffmpeg_argv(
    ffmpeg: str,
    concat: Path,
    metadata: Path,
    cover: Path | None,
    chain: str | None,
    out: Path,
) -> list[str]:
    argv = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "concat", "-safe", "0", "-i", str(concat),
        "-f", "ffmetadata", "-i", str(metadata),
    ]  # fmt: skip
    if cover is not None:
        argv += ["-i", str(cover)]
    argv += ["-map", "0:a", "-map_metadata", "1", "-map_chapters", "1"]
    if cover is not None:
        argv += [
            "-map", "2:v", "-c:v", "copy", "-disposition:v", "attached_pic",
            "-metadata:s:v", "title=Cover", "-metadata:s:v", "comment=Cover (front)",
        ]  # fmt: skip
    if chain is not None:
        argv += ["-af", chain]
    return argv + [
        "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "libmp3lame", "-b:a", BITRATE,
        "-id3v2_version", "3", "-fflags", "+bitexact", "-flags:a", "+bitexact",
        "-f", "mp3", str(out),
    ]  # fmt: skip


def _concat_line(path: Path) -> str:
    quoted = str(path.resolve()).replace("'", "'\\''")
    return f"file '{quoted}'\n"


def _ffmetadata(marks: list[tuple[str, float]], total: float, tags: Tags) -> str:
    lines = [";FFMETADATA1"]
    for key in ("title", "artist", "album", "date"):
        if value := getattr(tags, key):
            lines.append(f"{key}={_escape(value)}")
    lines.append("genre=Podcast")
    bounds = [round(start * 1000) for _, start in marks] + [round(total * 1000)]
    for index, (name, _) in enumerate(marks):
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={bounds[index]}"]
        lines += [f"END={bounds[index + 1]}", f"title={_escape(name)}"]
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    """A metadata value in ffmetadata syntax: \\ = ; # and newlines escaped by a backslash."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"([\\=;#\n])", r"\\\1", value)


def _ffmpeg(argv: list[str]) -> str:
    """Run ffmpeg; its stderr (where its measuring filters print)."""
    return _run(argv, FFMPEG_MISSING, "ffmpeg", stderr=True)


def _run(argv: list[str], missing: str, what: str, *, stderr: bool = False) -> str:
    """Run ``argv`` (no shell); its stdout (or with ``stderr``, its stderr), or one-line
    errors for a missing or failing tool."""
    try:
        done = subprocess.run(argv, capture_output=True, check=False)
    except FileNotFoundError:
        raise ConfigError(missing) from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"]
        raise NewsletterError(f"{what} failed (exit {done.returncode}): {lines[-1].strip()}")
    return (done.stderr if stderr else done.stdout).decode("utf-8", "replace")
