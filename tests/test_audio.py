"""Podcast audio: chunking, the TTS engines (local OpenAI-compatible server, real espeak-ng)
and the MP3 with chapters, built by the real ffmpeg."""

from __future__ import annotations

import io
import json
import math
import random
import re
import shutil
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from pipeline.devservers.openai_api import SPEECH_MAX_INPUT, Fault, OpenAIServer, speech_wav
from pipeline.errors import (
    ConfigError,
    LLMConfigError,
    LLMError,
    LLMUnreachable,
    NewsletterError,
    SpeechError,
)
from pipeline.podcast import loudness
from pipeline.podcast.audio import Chapter, Tags, build_podcast, chunk_text, measure
from pipeline.podcast.loudness import MAX_TRUE_PEAK, TARGET_LUFS
from pipeline.podcast.speech import EspeakSpeech, OpenAISpeech, _fix_wav_header

SECONDS_PER_WORD = 0.01  # the server's speech length; short keeps ffmpeg fast
KEY = "sk-test-secret-key"


@pytest.fixture
def openai_options() -> dict[str, Any]:
    return {"speech_seconds_per_word": SECONDS_PER_WORD}


@pytest.fixture
def tts(openai_server: OpenAIServer) -> Iterator[OpenAISpeech]:
    with OpenAISpeech(openai_server.base_url, KEY, retries=0) as speech:
        yield speech


def speech_inputs(openai_server: OpenAIServer) -> list[str]:
    return [r.body["input"] for r in openai_server.requests if r.path == "/v1/audio/speech"]


def server_seconds(text: str) -> float:
    return max(0.3, len(text.split()) * SECONDS_PER_WORD)


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        seconds: float = w.getnframes() / w.getframerate()
    return seconds


def probe(path: Path) -> dict[str, Any]:
    argv = ["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-of", "json", str(path)]
    out = subprocess.run(argv, capture_output=True, check=True, text=True).stdout
    result: dict[str, Any] = json.loads(out)
    return result


# -- chunking ------------------------------------------------------------------------------


def assert_lossless(text: str, chunks: list[str], limit: int) -> None:
    """Chunks cover the normalised text in order; they meet at spaces or inside a long word."""
    normal = " ".join(text.split())
    assert all(0 < len(c) <= limit and c == c.strip() for c in chunks)
    pos = 0
    for chunk in chunks:
        assert normal.startswith(chunk, pos), (chunk, normal[pos : pos + limit])
        pos += len(chunk)
        if pos < len(normal) and normal[pos] == " ":
            pos += 1
        elif pos < len(normal):  # a cut inside a word: only for words longer than the limit
            word_start = normal.rfind(" ", 0, pos) + 1
            word_end = normal.find(" ", pos) % (len(normal) + 1)
            assert word_end - word_start > limit
    assert pos == len(normal)
    if max((len(w) for w in text.split()), default=0) <= limit:
        assert " ".join(chunks) == normal


VOCAB = (
    "the a model gradient descent e.g. i.e. Dr. et al. Fig. U.S. results, however; thus: — "
    'improves. works! really? (see below). "quoted." 3.5 -flag x supercalifragilistic '
    "ünïcode 東京 arXiv:2401.00001"
).split()


def random_text(rng: random.Random) -> str:
    words = [rng.choice(VOCAB) for _ in range(rng.randint(0, 120))]
    if rng.random() < 0.3:
        words.append("y" * rng.randint(10, 60))  # a long token (URL-like)
    seps = [rng.choice([" ", " ", " ", "  ", "\n", "\t", " \n "]) for _ in words]
    return rng.choice(["", " ", "\n"]) + "".join(w + s for w, s in zip(words, seps, strict=True))


def test_chunking_never_loses_or_truncates_text() -> None:
    rng = random.Random(20240601)
    for _ in range(600):
        text = random_text(rng)
        for limit in (1, 5, rng.randint(6, 30), rng.randint(31, 300), 4096):
            assert_lossless(text, chunk_text(text, limit), limit)


def test_chunks_end_at_sentence_boundaries_and_pack_whole_sentences() -> None:
    text = "First one here. Second one!  Third one?\nFourth is the last."
    assert chunk_text(text, 4096) == [" ".join(text.split())]
    assert chunk_text(text, 28) == [
        "First one here. Second one!",
        "Third one?",
        "Fourth is the last.",
    ]
    assert chunk_text(text, 22) == [
        "First one here.",
        "Second one! Third one?",
        "Fourth is the last.",
    ]
    assert chunk_text(text, 15) == [
        "First one here.",
        "Second one!",
        "Third one?",
        "Fourth is the",
        "last.",
    ]


def test_no_split_after_abbreviations() -> None:
    text = "Dr. Smith et al. improve e.g. Fig. 2 by 3.5 points. Then J. Doe replies."
    assert chunk_text(text, 55) == [
        "Dr. Smith et al. improve e.g. Fig. 2 by 3.5 points.",
        "Then J. Doe replies.",
    ]


def test_long_sentence_splits_at_clauses_then_spaces() -> None:
    sentence = "one two three, four five six; seven eight: nine ten — eleven twelve thirteen."
    assert chunk_text(sentence, 30) == [
        "one two three, four five six;",
        "seven eight: nine ten —",
        "eleven twelve thirteen.",
    ]
    clause = "alpha beta gamma delta epsilon zeta eta theta."
    assert chunk_text(clause, 17) == ["alpha beta gamma", "delta epsilon", "zeta eta theta."]


def test_a_word_longer_than_the_limit_is_cut_into_limit_sized_pieces() -> None:
    chunks = chunk_text("see https://example.org/very/long/path now.", 10)
    assert chunks == ["see", "https://ex", "ample.org/", "very/long/", "path now."]


def test_empty_text_and_bad_limit() -> None:
    assert chunk_text(" \n\t ", 10) == []
    with pytest.raises(ValueError, match="positive"):
        chunk_text("text", 0)


# -- the local speech endpoint and OpenAISpeech --------------------------------------------


def test_server_speaks_wav_sized_by_word_count(
    openai_server: OpenAIServer, tts: OpenAISpeech
) -> None:
    data = tts.synthesize("one two three four five six seven eight nine ten " * 5)
    short = tts.synthesize("hi")

    assert data[:4] == b"RIFF"
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24_000)
    assert wav_seconds(data) == pytest.approx(50 * SECONDS_PER_WORD)
    assert wav_seconds(short) == pytest.approx(0.3)
    assert openai_server.speech_calls == 2 and openai_server.chat_calls == 0
    assert (tts.name, tts.max_chars, tts.suffix) == ("openai:tts-1:alloy", 4096, ".wav")
    body = openai_server.requests[0].body
    assert (body["model"], body["voice"], body["response_format"]) == ("tts-1", "alloy", "wav")


def test_server_rejects_long_input_other_formats_and_unknown_models(
    openai_server: OpenAIServer,
) -> None:
    with openai.OpenAI(base_url=openai_server.base_url, api_key="k", max_retries=0) as client:
        speak = client.audio.speech.create
        with pytest.raises(openai.BadRequestError, match="string too long"):
            speak(model="tts-1", voice="alloy", input="x" * (SPEECH_MAX_INPUT + 1))
        with pytest.raises(openai.BadRequestError, match="'mp3'"):
            speak(model="tts-1", voice="alloy", input="hi", response_format="mp3")
        speak(model="tts-1", voice="alloy", input="x" * SPEECH_MAX_INPUT, response_format="wav")
    assert openai_server.speech_calls == 3
    openai_server.reset()
    assert openai_server.speech_calls == 0

    with (
        OpenAIServer(models=["gpt-4o-mini"]) as strict,
        OpenAISpeech(strict.base_url, KEY, retries=0) as tts,
        pytest.raises(LLMConfigError, match="does not know model 'tts-1'"),
    ):
        tts.synthesize("hi")


def test_too_long_input_is_an_llm_error(tts: OpenAISpeech) -> None:
    with pytest.raises(LLMError, match="HTTP 400: Invalid 'input': string too long"):
        tts.synthesize("y" * 5000)


def test_401_is_a_one_line_config_error_without_the_key(
    openai_server: OpenAIServer, tts: OpenAISpeech
) -> None:
    openai_server.inject(Fault.status(401, message=f"Incorrect API key provided: {KEY}"))
    with pytest.raises(LLMConfigError, match="refused the API key") as caught:
        tts.synthesize("hello")
    message = str(caught.value)
    assert "\n" not in message and KEY not in message and openai_server.base_url in message


def test_error_details_never_show_the_key(openai_server: OpenAIServer, tts: OpenAISpeech) -> None:
    openai_server.inject(Fault.status(400, message=f"bad request from {KEY}\nsecond line"))
    with pytest.raises(LLMError) as caught:
        tts.synthesize("hello")
    assert str(caught.value) == "the speech call failed with HTTP 400: bad request from ***"


def test_a_json_body_instead_of_audio_is_an_error(
    openai_server: OpenAIServer, tts: OpenAISpeech
) -> None:
    openai_server.inject(Fault.invalid_json())
    with pytest.raises(LLMError, match="returned no audio"):
        tts.synthesize("hello")


def test_unreachable_endpoint() -> None:
    with OpenAIServer() as gone:
        url = gone.base_url
    with (
        OpenAISpeech(url, KEY, retries=0) as tts,
        pytest.raises(LLMUnreachable, match="cannot reach the speech endpoint"),
    ):
        tts.synthesize("hello")


# -- build_podcast ---------------------------------------------------------------------------


def long_text(sentences: int) -> str:
    return " ".join(
        f"Paper {i} shows, e.g., that gradient\nmethods converge in {i} steps."
        for i in range(sentences)
    )


def test_podcast_from_the_local_server(
    openai_server: OpenAIServer, tts: OpenAISpeech, tmp_path: Path
) -> None:
    chapters = [
        Chapter("Intro", "Welcome to the weekly arXiv digest."),
        Chapter("Long papers", long_text(160)),  # about 10,000 characters
        Chapter("Outro", "That is all for this week. Goodbye!"),
    ]
    assert len(chapters[1].text) > 2 * 4096
    out = tmp_path / "site" / "podcast.mp3"

    result = build_podcast(
        chapters, tts, out, cache_dir=tmp_path / "cache", tags=Tags(title="Weekly #1")
    )

    inputs = speech_inputs(openai_server)
    assert len(inputs) == result.chunks == result.synthesized >= 5
    assert all(len(text) <= 4096 for text in inputs)
    assert " ".join(inputs) == " ".join(" ".join(c.text for c in chapters).split())
    expected = sum(server_seconds(text) for text in inputs)
    assert result.duration_seconds == pytest.approx(expected)
    assert result.path == out and result.size_bytes == out.stat().st_size > 0
    info = probe(out)
    assert float(info["format"]["duration"]) == pytest.approx(expected, abs=0.2)
    assert info["format"]["tags"]["title"] == "Weekly #1"
    titles = [c["tags"]["title"] for c in info["chapters"]]
    starts = [float(c["start_time"]) for c in info["chapters"]]
    assert titles == ["Intro", "Long papers", "Outro"]
    assert starts == sorted(set(starts)) and starts[0] == 0.0
    assert starts == pytest.approx([s for _, s in result.chapters], abs=0.001)
    assert starts[1] == pytest.approx(server_seconds(inputs[0]), abs=0.001)
    assert sorted(p.name for p in out.parent.iterdir()) == ["podcast.mp3"]  # no temp files left
    first = out.read_bytes()

    again = build_podcast(
        chapters, tts, out, cache_dir=tmp_path / "cache", tags=Tags(title="Weekly #1")
    )

    assert openai_server.speech_calls == len(inputs)  # nothing new: every chunk came from the cache
    assert (again.synthesized, again.chunks) == (0, result.chunks)
    assert out.read_bytes() == first


def test_special_characters_in_titles_survive(tts: OpenAISpeech, tmp_path: Path) -> None:
    title = "Bounds: a=b; #1 \\ back\nslash"
    chapters = [Chapter(title, "One sentence."), Chapter("Next", "Two."), Chapter("Empty", " ")]
    result = build_podcast(chapters, tts, tmp_path / "p.mp3", tags=Tags(title="x=1;#"))

    info = probe(result.path)
    assert [c["tags"]["title"] for c in info["chapters"]] == [title, "Next"]
    assert info["format"]["tags"]["title"] == "x=1;#"


class GarbageSpeech:
    """An engine whose "audio" nothing can decode."""

    name, max_chars, suffix = "garbage", 100, ".wav"

    def synthesize(self, text: str) -> bytes:
        return b"not audio at all " + text.encode()


def test_undecodable_audio_fails_in_one_line_and_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "podcast.mp3"
    out.write_bytes(b"old episode")
    with pytest.raises(NewsletterError, match=r"^ffprobe failed \(exit 1\): .*Invalid data") as e:
        build_podcast([Chapter("A", "text")], GarbageSpeech(), out)
    assert "\n" not in str(e.value)
    assert out.read_bytes() == b"old episode"
    assert [p.name for p in tmp_path.iterdir()] == ["podcast.mp3"]


def streamed_wav(seconds: float) -> bytes:
    """A WAV as streaming servers send it: RIFF and data sizes are 0xFFFFFFFF."""
    data = speech_wav(seconds)
    assert data[36:40] == b"data"
    return data[:4] + b"\xff" * 4 + data[8:40] + b"\xff" * 4 + data[44:]


class StreamedWavSpeech:
    """An engine answering WAVs with placeholder sizes in the header."""

    name, max_chars, suffix = "streamed", 100, ".wav"

    def synthesize(self, text: str) -> bytes:
        return streamed_wav(0.5 * len(text.split()))


def test_wav_headers_with_placeholder_sizes(tmp_path: Path) -> None:
    assert _fix_wav_header(streamed_wav(0.7)) == speech_wav(0.7)
    result = build_podcast(
        [Chapter("A", "one two"), Chapter("B", "three")], StreamedWavSpeech(), tmp_path / "s.mp3"
    )
    assert result.duration_seconds == pytest.approx(1.5)
    assert result.chapters == [("A", 0.0), ("B", 1.0)]
    assert float(probe(result.path)["format"]["duration"]) == pytest.approx(1.5, abs=0.2)


def test_missing_ffmpeg_is_a_config_error(tts: OpenAISpeech, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^ffmpeg is not installed: `sudo apt-get install"):
        build_podcast([Chapter("A", "Hi.")], tts, tmp_path / "p.mp3", ffmpeg="/nonexistent/ffmpeg")


def test_nothing_to_speak(tts: OpenAISpeech, tmp_path: Path) -> None:
    with pytest.raises(NewsletterError, match="no text"):
        build_podcast([Chapter("A", "  ")], tts, tmp_path / "p.mp3")


# -- espeak-ng ---------------------------------------------------------------------------------


def test_missing_espeak_binary_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        EspeakSpeech(binary="/nonexistent/espeak-ng")
    assert str(caught.value).startswith("espeak-ng is not installed: `sudo apt-get install")
    assert "tts_base_url" in str(caught.value) and "\n" not in str(caught.value)


espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)


@espeak
def test_espeak_speaks_text_starting_with_a_dash(tmp_path: Path) -> None:
    speech = EspeakSpeech()
    data = speech.synthesize("-v is not an option here. Hello, world!")

    with wave.open(io.BytesIO(data)) as w:
        frames = w.readframes(w.getnframes())
        assert w.getsampwidth() == 2 and w.getnframes() / w.getframerate() > 1.0
    samples = memoryview(frames).cast("h")
    rms = math.sqrt(sum(s * s for s in samples) / len(samples))
    assert rms > 300  # not silence
    assert speech.name == "espeak-ng:en-us:160wpm"

    result = build_podcast(
        [Chapter("One", "Hello there."), Chapter("Two", "Goodbye.")], speech, tmp_path / "e.mp3"
    )
    info = probe(result.path)
    assert float(info["format"]["duration"]) == pytest.approx(result.duration_seconds, abs=0.2)
    assert [c["tags"]["title"] for c in info["chapters"]] == ["One", "Two"]


@espeak
def test_espeak_failure_reports_its_stderr() -> None:
    with pytest.raises(SpeechError, match="voice does not exist"):
        EspeakSpeech(voice="xx-no-such-voice").synthesize("hello")


# -- broadcast loudness, ID3 tags and the cover ------------------------------------------------


def silent_wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24_000)
        w.writeframes(b"\0\0" * round(seconds * 24_000))
    return out.getvalue()


class SilentSpeech:
    name, max_chars, suffix = "silent", 100, ".wav"

    def synthesize(self, text: str) -> bytes:
        return silent_wav(1.0)


def attached_picture(path: Path) -> bytes:
    argv = ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v", "-c", "copy", "-f", "image2"]
    return subprocess.run([*argv, "-"], capture_output=True, check=True).stdout


def png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def test_the_tone_is_brought_to_broadcast_loudness_with_tags_and_cover(
    tts: OpenAISpeech, tmp_path: Path
) -> None:
    chapters = [Chapter("A", long_text(20)), Chapter("B", long_text(10))]
    tags = Tags(title="Week 25 — AI", artist="AI paper summaries", album="AI", date="2026-06-17")
    cover = png(1400, 1400)
    result = build_podcast(chapters, tts, tmp_path / "p.mp3", tags=tags, cover=cover)

    level = measure(result.path)
    assert result.normalized
    assert abs(level.integrated - TARGET_LUFS) <= 1.0 and level.true_peak <= MAX_TRUE_PEAK, level
    info = probe(result.path)
    assert {k: info["format"]["tags"][k] for k in ("title", "artist", "album", "date")} == {
        "title": "Week 25 — AI",
        "artist": "AI paper summaries",
        "album": "AI",
        "date": "2026-06-17",
    }
    assert [c["tags"]["title"] for c in info["chapters"]] == ["A", "B"]
    assert float(info["format"]["duration"]) == pytest.approx(result.duration_seconds, abs=0.2)
    assert attached_picture(result.path) == cover  # the APIC frame holds the PNG as given
    again = build_podcast(chapters, tts, tmp_path / "q.mp3", tags=tags, cover=cover)
    assert again.path.read_bytes() == result.path.read_bytes()  # normalising is deterministic


def test_the_loudness_filters_are_cached_with_the_chunks(tts: OpenAISpeech, tmp_path: Path) -> None:
    chapters = [Chapter("A", long_text(12))]
    first = build_podcast(chapters, tts, tmp_path / "a.mp3", cache_dir=tmp_path / "cache")
    (kept,) = (tmp_path / "cache" / "tts").glob("loudness-*.txt")
    assert kept.read_text().startswith("aresample=") and ":linear=true" in kept.read_text()
    assert abs(measure(first.path).integrated - TARGET_LUFS) <= 1.0
    kept.write_text("volume=-10dB")  # a rebuild takes the kept filters: it measures nothing
    again = build_podcast(chapters, tts, tmp_path / "b.mp3", cache_dir=tmp_path / "cache")
    assert again.synthesized == 0 and measure(again.path).integrated < TARGET_LUFS - 5


def test_silence_is_left_as_it_is(tmp_path: Path) -> None:
    result = build_podcast([Chapter("A", "one two")], SilentSpeech(), tmp_path / "s.mp3")
    assert not result.normalized
    level = measure(result.path)
    assert level.integrated <= -70 and level.true_peak == -math.inf  # ebur128: "-70", "-inf"


def test_loudness_measurements_are_parsed() -> None:
    first = 'noise\n[Parsed_loudnorm_0 @ 0x1]\n{\n\t"input_i" : "-27.79",\n\t"input_tp" : "-6.37",'
    first += (
        '\n\t"input_lra" : "4.90",\n\t"input_thresh" : "-37.83",\n\t"target_offset" : "1.19"\n}\n'
    )
    values = loudness.measured(first)
    assert values == {
        "input_i": -27.79,
        "input_tp": -6.37,
        "input_lra": 4.9,
        "input_thresh": -37.83,
        "target_offset": 1.19,
    }
    second = loudness.loudnorm(values)
    assert "measured_I=-27.79:measured_TP=-6.37" in second and second.endswith(":linear=true")
    assert loudness.measured(first.replace('"-27.79"', '"-inf"')) is None
    with pytest.raises(ValueError, match="no measurements"):
        loudness.measured("no json here")
    assert (
        loudness.leveller(-20.5)
        == "aresample=192000,volume=4.50dB,alimiter=limit=0.56:attack=5:release=50:level=false"
    )


class BurstSpeech:
    """A quiet tone with loud bursts of noise: peaks far above the loudness, which the MP3
    encoder pushes over the true-peak limit on a first try."""

    name, max_chars, suffix = "bursts", 100, ".wav"

    def synthesize(self, text: str) -> bytes:
        rng, rate = random.Random(1), 22_050
        samples = [
            round(rng.uniform(-32_000, 32_000))
            if (i // 1000) % 7 == 0
            else round(300 * math.sin(2 * math.pi * 200 * i / rate))
            for i in range(3 * rate)
        ]
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
        return out.getvalue()


def test_a_file_over_the_true_peak_limit_is_made_again_with_more_headroom(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    result = build_podcast(
        [Chapter("A", "one two")], BurstSpeech(), tmp_path / "b.mp3", cache_dir=cache
    )
    assert measure(result.path).true_peak <= MAX_TRUE_PEAK
    (kept,) = (cache / "tts").glob("loudness-*.txt")
    found = re.search(r"loudnorm=I=-16:TP=(-[\d.]+)", kept.read_text())
    assert found is not None
    target = float(found[1])
    assert target < loudness.TARGET_TRUE_PEAK  # the second try's, with more headroom
