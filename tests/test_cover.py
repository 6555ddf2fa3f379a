"""pipeline.podcast.cover: the episode's cover image, drawn from the issue view."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageStat

from pipeline.podcast.cover import SIZE, _font, _wrap, cover_png
from pipeline.render.issue import issue_view
from pipeline.store.issues import HIGHLIGHT
from tests.factories import NOW, loaded_item

HOSTILE = "Wide & Shallow <script>alert(1)</script> $\\alpha$-nets " + "x" * 300


def cover_of(*titles: str, week: str = "2026-W25") -> bytes:
    items = [
        loaded_item(i, HIGHLIGHT, i, t, "An abstract.", authors=["A. Author"], explanation="")
        for i, t in enumerate(titles, 1)
    ]
    view = issue_view(week, items, categories=["cs.LG"], model="m", candidates=9, published=NOW)
    return cover_png(view)


def test_a_square_png_podcast_directories_accept() -> None:
    data = cover_of("Attention Is All You Need", HOSTILE, "Third", "Fourth")
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == (SIZE, SIZE) and 1400 <= SIZE <= 3000
    assert image.mode == "RGB"
    assert max(ImageStat.Stat(image).stddev) > 10  # text was drawn, not a blank square


def test_the_same_issue_gives_the_same_bytes_and_the_topics_show() -> None:
    first = cover_of("Attention Is All You Need", "Second")
    assert cover_of("Attention Is All You Need", "Second") == first
    assert cover_of("Another Paper Entirely", "Second") != first
    assert cover_of("Attention Is All You Need", "Second", week="2026-W26") != first
    assert cover_of() != first  # an issue with no highlights still has a cover


def test_wrapping_keeps_lines_within_the_width_and_marks_a_cut() -> None:
    draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    font = _font(48)
    lines = _wrap(draw, HOSTILE, font, 800, 2)
    assert len(lines) == 2 and lines[-1].endswith("…")
    assert all(draw.textlength(line, font=font) <= 800 for line in lines)
    assert _wrap(draw, "  short   title ", font, 800, 2) == ["short title"]
    long_word = _wrap(draw, "y" * 200, font, 300, 3)
    assert len(long_word) == 3 and all(draw.textlength(x, font=font) <= 300 for x in long_word)
