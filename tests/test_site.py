"""The archive site from the database: golden index and feeds, newest issue first, audio
only where current audio exists, and every feed parsed back."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import html5lib
import pytest
from sqlalchemy import Engine

from pipeline.config import Settings, load_settings
from pipeline.render.site import build_site
from pipeline.store.issues import ALSO, HIGHLIGHT, set_status
from tests.factories import paper, stored_issue

GOLDEN = Path(__file__).parent / "golden" / "site"
TITLES = ["Depth < Width & the $O(n^2)$ <script>alert(1)</script> Bound", "Plain Title"]


def add_issue(engine: Engine, week: str, first: int, created: datetime) -> None:
    text = "A summary of the paper that is long enough to read."
    entries = [
        (
            paper(f"2606.{first + pos:05d}", title, when=created),
            HIGHLIGHT if pos == 0 else ALSO,
            text,
        )
        for pos, title in enumerate(TITLES)
    ]
    stored_issue(engine, week, entries, created=created)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        None,
        {
            "database_url": db_url,
            "output_dir": str(tmp_path / "out"),
            "public_url": "https://news.example.org/ai",
        },
    )


def fake_audio(settings: Settings, week: str) -> Path:
    """An issue's audio as the audio step leaves it: the MP3 and its sidecar."""
    issue_dir = settings.output_dir / "issues" / week
    issue_dir.mkdir(parents=True, exist_ok=True)
    (issue_dir / "podcast.mp3").write_bytes(b"ID3" + bytes(997))
    sidecar = {
        "script_sha256": "x",
        "duration_seconds": 125.4,
        "chapters": [
            {"title": "Introduction", "start_seconds": 0.0},
            {"title": TITLES[0], "start_seconds": 14.2},
        ],
    }
    (issue_dir / "podcast.audio.json").write_text(json.dumps(sidecar))
    return issue_dir / "podcast.mp3"


def build(engine: Engine, settings: Settings) -> Path:
    add_issue(engine, "2026-W24", 1, datetime(2026, 6, 15, 7, tzinfo=UTC))
    add_issue(engine, "2026-W25", 10, datetime(2026, 6, 22, 7, tzinfo=UTC))
    add_issue(engine, "2026-W26", 20, datetime(2026, 6, 29, 7, tzinfo=UTC))
    set_status(engine, "2026-W26", "ranked")  # not rendered yet: not published
    fake_audio(settings, "2026-W25")
    return build_site(engine, settings)


@pytest.mark.parametrize("name", ["index.html", "atom.xml", "podcast.xml"])
def test_site_matches_golden(engine: Engine, settings: Settings, name: str) -> None:
    text = (build(engine, settings) / name).read_text(encoding="utf-8")
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_feeds_parse_and_list_issues_newest_first(engine: Engine, settings: Settings) -> None:
    site = build(engine, settings)
    atom = feedparser.parse((site / "atom.xml").read_bytes())
    assert not atom.bozo, atom.get("bozo_exception")
    assert [e.link for e in atom.entries] == [
        "https://news.example.org/ai/issues/2026-W25/",
        "https://news.example.org/ai/issues/2026-W24/",
    ]
    assert "<script>" in atom.entries[0].summary  # text, escaped in the XML
    podcast = feedparser.parse((site / "podcast.xml").read_bytes())
    assert not podcast.bozo, podcast.get("bozo_exception")
    (episode,) = podcast.entries  # only W25 has audio
    (enclosure,) = episode.enclosures
    assert enclosure.href == "https://news.example.org/ai/issues/2026-W25/podcast.mp3"
    assert int(enclosure.length) == 1000 and enclosure.type == "audio/mpeg"
    assert episode.itunes_duration == "125" and podcast.feed.tags[0].term == "Technology"
    assert (site / "issues" / "2026-W25" / "podcast.mp3").read_bytes()[:3] == b"ID3"
    assert not (site / "issues" / "2026-W26").exists()


def test_site_pages_are_valid_and_escaped(engine: Engine, settings: Settings) -> None:
    site = build(engine, settings)
    for page in [site / "index.html", *site.glob("issues/*/index.html")]:
        text = page.read_text(encoding="utf-8")
        html5lib.HTMLParser(strict=True).parse(text)
        assert "<script>" not in text and "&lt;script&gt;" in text, page
        assert "O(n²)" in text, page


def test_rebuild_is_byte_identical_and_drops_removed_audio(
    engine: Engine, settings: Settings
) -> None:
    site = build(engine, settings)
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    build_site(engine, settings)
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    (settings.output_dir / "issues" / "2026-W25" / "podcast.audio.json").unlink()
    build_site(engine, settings)
    assert not (site / "issues" / "2026-W25" / "podcast.mp3").exists()
    assert feedparser.parse((site / "podcast.xml").read_bytes()).entries == []
