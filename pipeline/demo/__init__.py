"""The bundled demo sample: fictional papers written for this project (week 2026-W25)."""

from __future__ import annotations

from pathlib import Path

DEMO_WEEK = "2026-W25"


def sample_path() -> Path:
    return Path(__file__).resolve().parent / "sample.jsonl"
