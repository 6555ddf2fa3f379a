"""Text to IPA phonemes for the Piper voices, by the espeak-ng program.

Piper voices were trained on espeak-ng's IPA with the clause's punctuation kept as a
"phoneme" (`,` `.` `?` ... shape the pauses and the intonation). The espeak-ng program prints
one line of IPA per clause but drops the punctuation, so the text is cut into clauses here,
at the same marks espeak-ng cuts at, and each clause's mark is put back after its IPA.
espeak-ng runs as a separate program (as for the espeak engine), once per chunk of text;
when it cuts a chunk's clauses differently (a dash, a parenthesis), each clause is asked
for on its own.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass

from pipeline.errors import ConfigError, SpeechError

TERMINATORS = ".,;:!?"
ESPEAK_FOR_PIPER = (
    "espeak-ng is not installed, and Piper voices need it for their phonemes: "
    '`sudo apt-get install espeak-ng`, or set podcast_tts = "openai" with a tts_base_url'
)
_CLAUSE = re.compile(r"\S.*?(?:[.,;:!?]+(?=\s|$)|$)", re.S)
_LANGUAGE_FLAG = re.compile(r"\([a-z]{2,3}(?:-[a-z0-9]+)?\)")  # "(fr)" around foreign words


@dataclass(frozen=True)
class Clause:
    text: str  # with its punctuation
    terminator: str  # the last mark ("" for text that ends without one)

    @property
    def ends_sentence(self) -> bool:
        return self.terminator in (".", "!", "?")


def clauses(text: str) -> list[Clause]:
    """``text`` cut after each run of clause punctuation followed by a space or the end.

    A piece with no letter or digit ("...", "—") adds its mark to the clause before it.
    """
    found: list[Clause] = []
    for m in _CLAUSE.finditer(text):
        piece = " ".join(m[0].split())
        mark = piece[-1] if piece[-1] in TERMINATORS else ""
        if any(c.isalnum() for c in piece):
            found.append(Clause(piece, mark))
        elif found and mark:
            found[-1] = Clause(found[-1].text, mark)
    return found


class EspeakPhonemizer:
    """IPA from the espeak-ng program, one string per clause."""

    def __init__(self, voice: str = "en-us", binary: str = "espeak-ng") -> None:
        found = shutil.which(binary)
        if found is None:
            raise ConfigError(ESPEAK_FOR_PIPER)
        self.binary = found
        self.voice = voice

    def ipa(self, texts: list[str]) -> list[str]:
        """The IPA of each clause in ``texts`` (each ends with its punctuation, if any)."""
        if not texts:
            return []
        lines = self._run("\n".join(texts))
        if len(lines) == len(texts):
            return lines
        return [" ".join(self._run(text)) for text in texts]

    def _run(self, text: str) -> list[str]:
        argv = [self.binary, "-q", "--ipa", "-v", self.voice, "--stdin"]
        try:
            done = subprocess.run(argv, input=text.encode("utf-8"), capture_output=True)
        except FileNotFoundError:
            raise ConfigError(ESPEAK_FOR_PIPER) from None
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"]
            raise SpeechError(f"espeak-ng failed (exit {done.returncode}): {lines[-1].strip()}")
        out = done.stdout.decode("utf-8", "replace")
        return [" ".join(line.split()) for line in out.splitlines() if line.strip()]


def sentence_phonemes(clause_ipa: list[tuple[str, str]]) -> list[str]:
    """Piper's phoneme sequence for (IPA, terminator) clauses: each clause's IPA, then its
    mark (and a space after a mark inside a sentence), decomposed into code points."""
    text = ""
    for ipa, mark in clause_ipa:
        text += _LANGUAGE_FLAG.sub("", ipa) + mark
        if mark in (",", ":", ";", ""):
            text += " "
    return list(unicodedata.normalize("NFD", text.rstrip(" ")))
