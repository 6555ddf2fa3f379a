"""Papers for benchmarks, with real-looking text from the bundled demo sample."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.config import Settings, load_settings
from pipeline.demo import sample_path
from pipeline.devservers.arxiv_api import ListingRecord, load_listing
from pipeline.store.models import Paper


@cache
def records() -> tuple[ListingRecord, ...]:
    return tuple(load_listing(sample_path()))


def sample_paper(i: int, pid: str, when: datetime) -> Paper:
    """Paper `pid` with the text of the sample's i-th record (cycling), dated `when`."""
    r = records()[i % len(records())]
    dates: dict[str, Any] = dict.fromkeys(
        ("published", "updated", "first_seen", "last_changed"), when
    )
    keys: dict[str, Any] = dict.fromkeys(("title_key", "content_hash"), pid)  # unique per paper
    return Paper(
        id=pid,
        version=1,
        title=r.title,
        abstract=r.summary,
        authors=list(r.authors),
        categories=list(r.categories),
        primary_category=r.categories[0],
        **dates,
        **keys,
    )


def scratch_settings(root: Path, **extra: str) -> Settings:
    """Settings for a benchmark's scratch directory: its own database, output and cache."""
    return load_settings(
        None,
        {
            "database_url": f"sqlite:///{root / 'bench.sqlite3'}",
            "output_dir": str(root / "out"),
            "cache_dir": str(root / "cache"),
            **extra,
        },
    )
