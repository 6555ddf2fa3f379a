"""The source seam: anything that yields a window's papers for some categories."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from pipeline.records import PaperRecord, Window


class PaperSource(Protocol):
    def fetch(self, categories: list[str], window: Window) -> Iterator[PaperRecord]: ...
