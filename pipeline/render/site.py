"""The archive site under `out/site/`: an index of issues, one page per issue, an Atom
feed of issues and a podcast RSS feed (RSS 2.0 with iTunes tags) of the issues with audio.

Built from the database (rendered issues) and the audio next to each issue; its only dates
are the issues' own, so rebuilding it with nothing changed gives the same bytes.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import Engine

from pipeline.config import Settings
from pipeline.render.email_html import finish
from pipeline.render.files import environment, write_atomic
from pipeline.render.issue import IssueView
from pipeline.render.publish import AUDIO, COVER, AudioInfo, audio_info, load_view
from pipeline.store.issues import list_issues


@dataclass(frozen=True)
class Entry:
    view: IssueView
    audio: AudioInfo | None
    page_url: str  # absolute
    audio_url: str  # absolute, "" without audio
    cover_url: str  # absolute, "" without a cover

    @property
    def updated(self) -> str:  # Atom (RFC 3339)
        return f"{self.view.published.isoformat()}T00:00:00Z"

    @property
    def pub_date(self) -> str:  # RSS (RFC 822)
        return format_datetime(datetime.combine(self.view.published, time(0), UTC))


def _copy_if_changed(src: Path, dst: Path) -> None:
    """Copy with its modification time; a copy of the same size and time is current (so a
    site rebuild does not read every issue's audio again)."""
    if dst.exists():
        a, b = src.stat(), dst.stat()
        if (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns):
            return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def build_site(engine: Engine, settings: Settings, *, templates: Path | None = None) -> Path:
    """(Re)write out/site from every rendered issue; returns the site directory. With
    `approval = "required"`, an issue is published once approved (or sent)."""
    site = settings.output_dir / "site"
    env = environment(templates)
    entries = []
    held = settings.desk.approval == "required"
    for issue in list_issues(engine):
        if held and issue.approved_at is None and issue.status != "sent":
            continue
        view = load_view(engine, settings, issue.week)
        audio = audio_info(settings.output_dir / "issues" / issue.week)
        page_url = f"{settings.site.public_url}issues/{issue.week}/"
        cover = audio.cover if audio is not None else None
        entries.append(
            Entry(
                view,
                audio,
                page_url,
                page_url + AUDIO if audio else "",
                page_url + COVER if cover else "",
            )
        )
        page = env.get_template("newsletter.html.j2").render(
            **view.as_context(), web=True, archive_url="../../"
        )
        write_atomic(site / "issues" / issue.week / "index.html", finish(page))
        for name, source in ((AUDIO, audio.path if audio else None), (COVER, cover)):
            if source is not None:
                _copy_if_changed(source, site / "issues" / issue.week / name)
            else:
                (site / "issues" / issue.week / name).unlink(missing_ok=True)
    context = {
        "title": settings.site.title,
        "public_url": settings.site.public_url,
        "entries": entries,
        "episodes": [e for e in entries if e.audio],
        "updated": entries[0].updated if entries else f"{date(1970, 1, 1).isoformat()}T00:00:00Z",
        "categories": list(settings.categories),
    }
    for template, name in (
        ("site/index.html.j2", "index.html"),
        ("site/atom.xml.j2", "atom.xml"),
        ("site/podcast.xml.j2", "podcast.xml"),
    ):
        write_atomic(site / name, env.get_template(template).render(**context))
    return site
