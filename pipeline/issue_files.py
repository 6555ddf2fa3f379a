"""One issue's files: `render/`'s renderings, the podcast script and (optionally) its audio.

This sits above both packages so that dependencies point one way: `podcast/` reads
`render/`'s issue view, and `render/` knows nothing of `podcast/` (the script is a plain value,
`records.Script`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from pipeline.config import Settings
from pipeline.ops.progress import Quiet, Reporter
from pipeline.podcast.audio import AudioResult, Chapter, Tags, build_podcast
from pipeline.podcast.cover import cover_png
from pipeline.podcast.script import podcast_script
from pipeline.podcast.speech import Speech
from pipeline.records import Script
from pipeline.render.files import render_issue, write_atomic
from pipeline.render.issue import IssueView
from pipeline.render.publish import AUDIO, COVER, drop_stale_audio, load_view, write_audio_info


def script_for(view: IssueView, settings: Settings) -> Script:
    return podcast_script(
        view,
        replacements=settings.podcast.replacements,
        words_per_minute=settings.podcast.words_per_minute,
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
    """Write the issue's renderings; with `speech`, also its podcast audio and cover."""
    view = load_view(engine, settings, week)
    script = script_for(view, settings)
    paths = render_issue(view, script, settings.output_dir, user_templates=templates)
    issue_dir = settings.output_dir / "issues" / week
    if speech is None:
        drop_stale_audio(issue_dir, script.sha256)
        return Rendered(paths, None)
    chapters = [Chapter(s.title, s.text) for s in script.segments]
    cover = cover_png(view)
    tags = Tags(
        title=f"{view.title} — week of {view.week_label}",
        artist=view.title,
        album=view.title,
        date=view.published.isoformat(),
    )
    with (progress or Quiet()).task("speaking the podcast") as bar:
        result = build_podcast(
            chapters,
            speech,
            issue_dir / AUDIO,
            cache_dir=settings.cache_dir,
            tags=tags,
            cover=cover,
            on_chunk=bar.advance,
        )
    write_atomic(issue_dir / COVER, cover)
    write_audio_info(issue_dir, script.sha256, result.duration_seconds, result.chapters)
    return Rendered([*paths, issue_dir / AUDIO, issue_dir / COVER], result)
