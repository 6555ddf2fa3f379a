"""Piper: a neural (VITS) voice run on the CPU with ONNX Runtime, offline.

The text is cut into clauses, phonemized by espeak-ng (`phonemes`), and each sentence (or a
run of clauses of at most ``RUN_PHONEMES`` phonemes, which bounds memory) is one inference;
the runs are joined into one WAV. The model and its config come from an installed voice
package (`voices`), checked against their pinned hashes. The sampling noise makes two
renderings of a text differ slightly: the chunk cache (`audio`) keeps a podcast's bytes
stable across re-renders.
"""

from __future__ import annotations

import io
import json
import wave
from collections.abc import Iterator
from typing import Any

import numpy as np
import onnxruntime

from pipeline.errors import SpeechError
from pipeline.podcast.phonemes import Clause, EspeakPhonemizer, clauses, sentence_phonemes
from pipeline.podcast.voices import Voice, verified_files

RUN_PHONEMES = 400  # a sentence longer than this is spoken in runs of whole clauses
PAD, BOS, EOS = "_", "^", "$"


class PiperSpeech:
    """A Piper voice; one ONNX Runtime session, ``threads`` threads for each inference."""

    max_chars = 1000
    suffix = ".wav"

    def __init__(
        self,
        voice: Voice,
        *,
        length_scale: float | None = None,
        threads: int = 1,
        espeak_binary: str = "espeak-ng",
    ) -> None:
        model, config_path = verified_files(voice)
        config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
        inference = config.get("inference", {})
        self.sample_rate = int(config["audio"]["sample_rate"])
        self._ids: dict[str, list[int]] = config["phoneme_id_map"]
        scale = float(inference.get("length_scale", 1.0) if length_scale is None else length_scale)
        self._scales = np.array(
            [inference.get("noise_scale", 0.667), scale, inference.get("noise_w", 0.8)],
            dtype=np.float32,
        )
        self._phonemizer = EspeakPhonemizer(config["espeak"]["voice"], espeak_binary)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = False  # the arena keeps the longest run's peak memory
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.voice = voice
        self.name = f"piper:{voice.name}:{voice.model_sha256[:12]}:x{scale:g}"

    def synthesize(self, text: str) -> bytes:
        found = clauses(text)
        ipa = self._phonemizer.ipa([c.text for c in found])
        pieces = [self._speak(run) for run in _runs(found, ipa)]
        pieces = [p for p in pieces if p.size]
        if found and not pieces:
            raise SpeechError(f"the Piper voice {self.voice.name} made no audio for {text[:40]!r}")
        pause = np.zeros(self.sample_rate // 4, dtype=np.float32)  # text with no word: a pause
        samples = np.clip(np.concatenate(pieces or [pause]), -1.0, 1.0)
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.sample_rate)
            wav.writeframes((samples * 32767).astype("<i2").tobytes())
        return out.getvalue()

    def _speak(self, phonemes: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        ids = [*self._ids[BOS], *self._ids[PAD]]
        for phoneme in phonemes:
            if phoneme in self._ids:  # as Piper does: a sound the voice lacks is skipped
                ids += [*self._ids[phoneme], *self._ids[PAD]]
        ids += self._ids[EOS]
        if len(ids) <= 3:
            return np.zeros(0, dtype=np.float32)
        inputs = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": self._scales,
        }
        audio = self._session.run(None, inputs)[0]
        return np.asarray(audio, dtype=np.float32).reshape(-1)


def _runs(found: list[Clause], ipa: list[str]) -> Iterator[list[str]]:
    """Phoneme sequences, one per sentence, or per run of clauses for a long sentence; a
    clause longer than ``RUN_PHONEMES`` (no punctuation for many words) is cut between
    words, since memory grows with the length of a run."""
    run: list[tuple[str, str]] = []
    size = 0
    for clause, sounds in zip(found, ipa, strict=True):
        *pieces, last = _pieces(sounds)
        for piece in pieces:
            yield from ([sentence_phonemes(run)] if run else [])
            yield sentence_phonemes([(piece, "")])
            run, size = [], 0
        if run and size + len(last) > RUN_PHONEMES:
            yield sentence_phonemes(run)
            run, size = [], 0
        run.append((last, clause.terminator))
        size += len(last) + 1
        if clause.ends_sentence:
            yield sentence_phonemes(run)
            run, size = [], 0
    if run:
        yield sentence_phonemes(run)


def _pieces(sounds: str) -> list[str]:
    """``sounds`` cut between words into pieces of at most ``RUN_PHONEMES`` characters (a
    single longer word stays whole)."""
    pieces = [""]
    for word in sounds.split(" "):
        if pieces[-1] and len(pieces[-1]) + 1 + len(word) > RUN_PHONEMES:
            pieces.append(word)
        else:
            pieces[-1] = f"{pieces[-1]} {word}".lstrip(" ")
    return pieces
