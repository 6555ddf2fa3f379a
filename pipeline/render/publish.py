"""One issue as the other renderings read it: its view, loaded from the store (`load_view`),
and its podcast audio with its cover image.

The audio is described by a sidecar `podcast.audio.json` that records the hash of the
script it was made from: when a later render changes the script without making new audio,
the stale audio (and its cover) is removed rather than published (`drop_stale_audio`). The
files are written by `pipeline.issue_files`, which puts the renderings and the podcast
together.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from pipeline.config import Settings
from pipeline.errors import NotFoundError
from pipeline.render.files import write_atomic
from pipeline.render.issue import IssueView, issue_view
from pipeline.store.editor import latest_revisions
from pipeline.store.issues import load_issue

log = logging.getLogger(__name__)
AUDIO = "podcast.mp3"
AUDIO_INFO = "podcast.audio.json"
COVER = "cover.png"


def load_view(engine: Engine, settings: Settings, week: str) -> IssueView:
    issue, items = load_issue(engine, week)
    if issue is None:
        raise NotFoundError(f"no issue {week} yet: run `newsletter run --week {week}` first")
    return issue_view(
        week,
        items,
        categories=list(issue.categories or settings.categories),  # as it was made
        model=issue.model or "",
        candidates=issue.candidates,
        published=issue.created,
        public_url=settings.site.public_url,
        title=settings.site.title,
        revisions=latest_revisions(engine, week),
    )


@dataclass(frozen=True)
class AudioInfo:
    """What the feed needs to know about an issue's audio."""

    path: Path
    size_bytes: int
    duration_seconds: float
    chapters: list[tuple[str, float]]
    cover: Path | None  # the episode's cover image, when it has one


def audio_info(issue_dir: Path) -> AudioInfo | None:
    """The issue's audio, if it has current audio."""
    info, audio, cover = issue_dir / AUDIO_INFO, issue_dir / AUDIO, issue_dir / COVER
    if not (info.exists() and audio.exists()):
        return None
    data = json.loads(info.read_text(encoding="utf-8"))
    return AudioInfo(
        audio,
        audio.stat().st_size,
        float(data["duration_seconds"]),
        [(c["title"], float(c["start_seconds"])) for c in data["chapters"]],
        cover if cover.exists() else None,
    )


def write_audio_info(
    issue_dir: Path,
    script_sha256: str,
    duration_seconds: float,
    chapters: Sequence[tuple[str, float]],
) -> None:
    """The sidecar of audio just made from the script with hash `script_sha256`."""
    doc = {
        "script_sha256": script_sha256,
        "duration_seconds": round(duration_seconds, 3),
        "chapters": [
            {"title": title, "start_seconds": round(start, 3)} for title, start in chapters
        ],
    }
    write_atomic(issue_dir / AUDIO_INFO, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def drop_stale_audio(issue_dir: Path, script_sha256: str) -> None:
    """Remove the audio (its sidecar and cover) unless it was made from this script."""
    info = issue_dir / AUDIO_INFO
    if not info.exists():
        return
    recorded = json.loads(info.read_text(encoding="utf-8")).get("script_sha256")
    if recorded != script_sha256:
        (issue_dir / AUDIO).unlink(missing_ok=True)
        (issue_dir / COVER).unlink(missing_ok=True)
        info.unlink()
        log.warning(
            "removed %s: the podcast script changed; render with --audio to make it again",
            issue_dir / AUDIO,
        )
