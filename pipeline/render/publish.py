"""One issue's files: the renderings, the podcast script and (optionally) its audio.

The audio is described by a sidecar `podcast.audio.json` that records the hash of the
script it was made from: when a later render changes the script without making new audio,
the stale audio is removed rather than published.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from pipeline.config import Settings
from pipeline.errors import NotFoundError
from pipeline.ops.progress import Quiet, Reporter
from pipeline.podcast.audio import AudioResult, Chapter, build_podcast
from pipeline.podcast.script import Script, podcast_script
from pipeline.podcast.speech import Speech
from pipeline.render.files import render_issue, write_atomic
from pipeline.render.issue import IssueView, issue_view
from pipeline.store.editor import latest_revisions
from pipeline.store.issues import load_issue

log = logging.getLogger(__name__)
AUDIO = "podcast.mp3"
AUDIO_INFO = "podcast.audio.json"


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
        public_url=settings.public_url,
        title=settings.newsletter_title,
        revisions=latest_revisions(engine, week),
    )


def script_for(view: IssueView, settings: Settings) -> Script:
    return podcast_script(
        view,
        replacements=settings.podcast_replacements,
        words_per_minute=settings.podcast_words_per_minute,
    )


@dataclass(frozen=True)
class AudioInfo:
    """What the feed needs to know about an issue's audio."""

    path: Path
    size_bytes: int
    duration_seconds: float
    chapters: list[tuple[str, float]]


def _script_hash(script: Script) -> str:
    raw = json.dumps([[s.title, s.text] for s in script.segments], ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def audio_info(issue_dir: Path) -> AudioInfo | None:
    """The issue's audio, if it has current audio."""
    info, audio = issue_dir / AUDIO_INFO, issue_dir / AUDIO
    if not (info.exists() and audio.exists()):
        return None
    data = json.loads(info.read_text(encoding="utf-8"))
    return AudioInfo(
        audio,
        audio.stat().st_size,
        float(data["duration_seconds"]),
        [(c["title"], float(c["start_seconds"])) for c in data["chapters"]],
    )


def _write_audio_info(issue_dir: Path, script: Script, result: AudioResult) -> None:
    doc = {
        "script_sha256": _script_hash(script),
        "duration_seconds": round(result.duration_seconds, 3),
        "chapters": [
            {"title": title, "start_seconds": round(start, 3)} for title, start in result.chapters
        ],
    }
    write_atomic(issue_dir / AUDIO_INFO, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def _drop_stale_audio(issue_dir: Path, script: Script) -> None:
    info = issue_dir / AUDIO_INFO
    if not info.exists():
        return
    recorded = json.loads(info.read_text(encoding="utf-8")).get("script_sha256")
    if recorded != _script_hash(script):
        (issue_dir / AUDIO).unlink(missing_ok=True)
        info.unlink()
        log.warning(
            "removed %s: the podcast script changed; render with --audio to make it again",
            issue_dir / AUDIO,
        )


@dataclass(frozen=True)
class Rendered:
    paths: list[Path]
    audio: AudioResult | None


def render_week(
    engine: Engine,
    settings: Settings,
    week: str,
    *,
    templates: Path | None = None,
    speech: Speech | None = None,
    progress: Reporter | None = None,
) -> Rendered:
    """Write the issue's renderings; with `speech`, also its podcast audio."""
    view = load_view(engine, settings, week)
    script = script_for(view, settings)
    paths = render_issue(view, script, settings.output_dir, user_templates=templates)
    issue_dir = settings.output_dir / "issues" / week
    if speech is None:
        _drop_stale_audio(issue_dir, script)
        return Rendered(paths, None)
    chapters = [Chapter(s.title, s.text) for s in script.segments]
    with (progress or Quiet()).task("speaking the podcast") as bar:
        result = build_podcast(
            chapters,
            speech,
            issue_dir / AUDIO,
            cache_dir=settings.cache_dir,
            title=f"{view.title} — week of {view.week_label}",
            on_chunk=bar.advance,
        )
    _write_audio_info(issue_dir, script, result)
    return Rendered([*paths, issue_dir / AUDIO], result)
