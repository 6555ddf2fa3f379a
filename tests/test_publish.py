"""A whole issue through the CLI: every rendering, the archive site and its feeds,
regeneration with zero LLM calls, template overrides, and podcast audio from a local
OpenAI-compatible speech endpoint."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import feedparser
import html5lib
import httpx
import pytest
from sqlmodel import Session, select

from pipeline.devservers.openai_api import OpenAIServer, default_responder
from pipeline.podcast.audio import measure
from pipeline.podcast.loudness import MAX_TRUE_PEAK, TARGET_LUFS
from pipeline.podcast.voices import JOE_MEDIUM, is_installed
from pipeline.render.files import environment
from pipeline.store.db import open_database
from pipeline.store.models import LLMCall
from pipeline.web.app import create_app
from pipeline.web.served import served
from tests.helpers import cli_database_url, free_port, invoke

WEEK = "2026-W25"

ISSUE = Path("out/issues") / WEEK
SITE = Path("out/site")
RENDERINGS = ("newsletter.md", "newsletter.html", "newsletter.txt", "podcast.md", "issue.json")


def snapshot(*dirs: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


def llm_calls() -> int:
    engine = open_database(cli_database_url())
    with Session(engine) as s:
        n = len(s.exec(select(LLMCall)).all())
    engine.dispose()
    return n


def test_run_writes_every_rendering_and_the_site(
    env: dict[str, str], openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_PODCAST_NARRATION", "auto")  # on with an endpoint
    output = invoke("run", "--week", WEEK)
    # 5 summaries + 5 podcast narrations + 30 one-liners (an endpoint is configured)
    assert "summaries: 40 new" in output
    for name in RENDERINGS:
        assert (ISSUE / name).stat().st_size > 200, name
    doc = json.loads((ISSUE / "issue.json").read_text())
    sections = [it["section"] for it in doc["items"]]
    assert sections == ["highlight"] * 5 + ["also"] * 30
    first = doc["items"][0]
    assert first["links"]["abstract"] == f"https://arxiv.org/abs/{first['id']}v{first['version']}"
    assert first["summary"] and first["explanation"] and isinstance(first["score"], float)
    assert len(doc["podcast"]["chapters"]) == 7  # intro, 5 highlights, outro
    script = (ISSUE / "podcast.md").read_text()
    assert "## Chapters" in script and "- 00:00 Introduction" in script
    assert "http" not in script.split("## Script", 1)[1]
    for page in (SITE / "index.html", SITE / "issues" / WEEK / "index.html"):
        html5lib.HTMLParser(strict=True).parse(page.read_text())  # raises on any parse error
    index = (SITE / "index.html").read_text()
    assert f'href="issues/{WEEK}/"' in index and doc["items"][0]["title"].split()[0] in index
    assert "All issues" in (SITE / "issues" / WEEK / "index.html").read_text()
    atom = feedparser.parse((SITE / "atom.xml").read_bytes())
    assert not atom.bozo, atom.get("bozo_exception")
    assert [e.link for e in atom.entries] == [f"http://127.0.0.1:8000/issues/{WEEK}/"]
    podcast = feedparser.parse((SITE / "podcast.xml").read_bytes())
    assert not podcast.bozo and podcast.entries == []  # no audio was made


def test_regenerate_is_byte_identical_with_zero_llm_calls(
    env: dict[str, str],
    openai_server: OpenAIServer,
) -> None:
    invoke("run", "--week", WEEK)
    before, calls, http_calls = snapshot(ISSUE, SITE), llm_calls(), openai_server.chat_calls
    output = invoke("regenerate", WEEK)
    assert f"regenerated {WEEK}: 5 files, 0 changed, 0 LLM calls" in output
    assert snapshot(ISSUE, SITE) == before
    assert llm_calls() == calls and openai_server.chat_calls == http_calls

    # An issue keeps the categories it was made with, whatever the settings say now.
    # (The site's index and feeds describe the newsletter as configured now.)
    output = invoke("--set", "categories=cs.CL", "regenerate", WEEK)
    assert "5 files, 0 changed" in output
    pages = {k: v for k, v in before.items() if k.startswith((str(ISSUE), str(SITE / "issues")))}
    assert pages and snapshot(ISSUE, SITE / "issues") == pages
    invoke("regenerate", WEEK)

    # Deleting a rendering and regenerating brings back the same bytes.
    (ISSUE / "newsletter.html").unlink()
    invoke("regenerate", WEEK)
    assert snapshot(ISSUE, SITE) == before


def test_regenerate_with_templates_and_resummarize(
    env: dict[str, str],
    openai_server: OpenAIServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSLETTER_PODCAST_NARRATION", "on")
    invoke("run", "--week", WEEK)
    original = (ISSUE / "newsletter.md").read_text()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "newsletter.md.j2").write_text(
        "{% for it in highlights %}* {{ it.title | tex | md }}\n{% endfor %}"
    )
    output = invoke("regenerate", WEEK, "--templates", str(mine))
    assert "1 changed, 0 LLM calls" in output
    lines = (ISSUE / "newsletter.md").read_text().splitlines()
    assert len(lines) == 5 and all(line.startswith("* ") for line in lines)
    assert "Highlights" in (ISSUE / "newsletter.html").read_text()  # built-in still used

    invoke("regenerate", WEEK)
    assert (ISSUE / "newsletter.md").read_text() == original
    # The same directory as a setting applies to every render, scheduled runs included.
    invoke("--set", f"templates_dir={mine}", "render", "--week", WEEK)
    assert (ISSUE / "newsletter.md").read_text().startswith("* ")
    assert "not a directory" in invoke("--set", "templates_dir=nope", "render", code=2)
    invoke("regenerate", WEEK)

    openai_server.responder = lambda request: "In a new take, " + default_responder(request)
    output = invoke("regenerate", WEEK, "--resummarize")
    assert "40 LLM calls" in output and "5 files, 5 changed" in output
    assert (ISSUE / "newsletter.md").read_text().count("In a new take, Reply") == 5 + 30


def test_regenerate_unknown_week_and_bad_templates(env: dict[str, str]) -> None:
    out = invoke("regenerate", "2026-W20", code=1)
    assert "no issue 2026-W20 yet" in out and out.count("\n") == 1
    assert "not a directory" in invoke("regenerate", WEEK, "--templates", "nope", code=1)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_audio_feed_and_stale_audio(
    env: dict[str, str],
    openai_server: OpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSLETTER_PODCAST_TTS_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("NEWSLETTER_PODCAST_NARRATION", "on")
    invoke("run", "--week", WEEK, "--audio")
    mp3 = ISSUE / "podcast.mp3"
    assert mp3.stat().st_size > 1000 and openai_server.speech_calls > 0
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(mp3)],
        capture_output=True,
        check=True,
        text=True,
    )
    chapters = json.loads(probe.stdout)["chapters"]
    assert [c["tags"]["title"] for c in chapters][0] == "Introduction" and len(chapters) == 7

    feed = feedparser.parse((SITE / "podcast.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    (episode,) = feed.entries
    (enclosure,) = episode.enclosures
    assert enclosure.type == "audio/mpeg"
    assert (
        int(enclosure.length)
        == mp3.stat().st_size
        == (SITE / "issues" / WEEK / "podcast.mp3").stat().st_size
    )
    assert enclosure.href == f"http://127.0.0.1:8000/issues/{WEEK}/podcast.mp3"
    assert int(episode.itunes_duration) > 0 and feed.feed.title == "AI paper summaries"
    cover_url = f"http://127.0.0.1:8000/issues/{WEEK}/cover.png"
    assert episode.image.href == feed.feed.image.href == cover_url
    assert (SITE / "issues" / WEEK / "cover.png").read_bytes() == (ISSUE / "cover.png").read_bytes()

    # Regenerating (without --audio) keeps the audio while the script is unchanged...
    before, speech = snapshot(ISSUE, SITE), openai_server.speech_calls
    invoke("regenerate", WEEK)
    assert snapshot(ISSUE, SITE) == before
    # ...and with --audio again every chunk comes from the cache: same bytes, no TTS call.
    invoke("regenerate", WEEK, "--audio")
    assert snapshot(ISSUE, SITE) == before and openai_server.speech_calls == speech

    # New narration makes the audio stale: it is removed, not published.
    openai_server.responder = lambda request: "Said anew: " + default_responder(request)
    invoke("regenerate", WEEK, "--resummarize")
    assert not mp3.exists() and not (SITE / "issues" / WEEK / "podcast.mp3").exists()
    assert not (ISSUE / "cover.png").exists()
    assert not (SITE / "issues" / WEEK / "cover.png").exists()
    assert feedparser.parse((SITE / "podcast.xml").read_bytes()).entries == []


def test_user_templates_override_site_and_feed_templates(tmp_path: Path) -> None:
    mine = tmp_path / "t"
    (mine / "site").mkdir(parents=True)
    (mine / "site" / "index.html.j2").write_text("<p>{{ title }}</p>")
    env = environment(mine)
    assert env.get_template("site/index.html.j2").render(title="<x>") == "<p>&lt;x&gt;</p>"
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, "site/podcast.xml.j2")  # not overridden: built-in
    assert "<rss" in source


@pytest.fixture
def served_site(tmp_path: Path) -> Iterator[str]:
    site = tmp_path / "site"
    (site / "issues" / WEEK).mkdir(parents=True)
    (site / "index.html").write_text("<h1>archive</h1>")
    (site / "issues" / WEEK / "index.html").write_text("<h1>issue</h1>")
    (site / "podcast.xml").write_text("<rss/>")
    port = free_port()
    with served(create_app(site), port):
        yield f"http://127.0.0.1:{port}"


def test_serve_app_serves_the_site_over_http(served_site: str) -> None:
    assert httpx.get(served_site + "/").text == "<h1>archive</h1>"
    assert httpx.get(f"{served_site}/issues/{WEEK}/").text == "<h1>issue</h1>"
    assert httpx.get(served_site + "/podcast.xml").status_code == 200
    assert httpx.get(served_site + "/../etc/passwd").status_code == 404


OFFLINE_ENGINES = [
    pytest.param(
        "espeak",
        marks=pytest.mark.skipif(not shutil.which("espeak-ng"), reason="needs espeak-ng"),
    ),
    pytest.param(
        "auto",  # the default: the Piper voice when installed
        marks=pytest.mark.skipif(
            not (shutil.which("espeak-ng") and is_installed(JOE_MEDIUM)),
            reason="needs the Piper voice (make setup) and espeak-ng",
        ),
    ),
]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
@pytest.mark.parametrize("engine", OFFLINE_ENGINES)
def test_offline_audio_is_broadcast_ready(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """`newsletter run --audio` with an offline engine makes a normalised MP3 with its tags
    and cover, and a feed entry that carries the cover."""
    monkeypatch.setenv("NEWSLETTER_PODCAST_TTS", engine)
    invoke("run", "--week", WEEK, "--audio")
    mp3 = ISSUE / "podcast.mp3"
    level = measure(mp3)
    assert abs(level.integrated - TARGET_LUFS) <= 1.0 and level.true_peak <= MAX_TRUE_PEAK, level
    tags = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(mp3)],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    assert tags["format"]["tags"]["artist"] == "AI paper summaries"
    assert tags["format"]["tags"]["title"].startswith("AI paper summaries — week of ")
    (picture,) = [s for s in tags["streams"] if s["codec_type"] == "video"]
    assert picture["codec_name"] == "png" and picture["disposition"]["attached_pic"] == 1
    assert (picture["width"], picture["height"]) == (1400, 1400)

    feed = feedparser.parse((SITE / "podcast.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    (episode,) = feed.entries
    assert episode.image.href == f"http://127.0.0.1:8000/issues/{WEEK}/cover.png"
    assert feed.feed.image.href == episode.image.href
    assert episode.enclosures[0].length == str(mp3.stat().st_size)
