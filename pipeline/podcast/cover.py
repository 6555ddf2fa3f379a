"""The episode's cover: a square PNG drawn locally with Pillow, from the issue view alone.

It shows the newsletter's title, the week and the issue's top topics (its first highlights'
titles). Paper titles are untrusted text: they are only drawn, wrapped and cut to fit; the
same issue always gives the same bytes. Podcast directories want 1400 to 3000 pixels square.
The font is DejaVu Sans (Debian's fonts-dejavu-core, `make system-deps`), which has Greek,
math symbols and dashes; without it, Pillow's bundled font (Latin only).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from pipeline.podcast.script import chapter_title
from pipeline.render.issue import IssueView

SIZE = 1400
TOPICS = 3
_MARGIN = 110
_BACKGROUND = (24, 33, 56)
_ACCENT = (255, 183, 77)
_TEXT = (245, 245, 240)
_MUTED = (176, 186, 206)

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _font(size: int, bold: bool = False) -> Font:
    path = DEJAVU / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int, lines: int) -> list[str]:
    """``text`` in at most ``lines`` lines of at most ``width`` pixels; "…" marks a cut."""
    words = re.sub(r"\s+", " ", text).strip().split(" ")
    out: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if draw.textlength(candidate, font=font) <= width:
            current = candidate
            continue
        if current:
            out.append(current)
        current = word
        while draw.textlength(current, font=font) > width:  # a word wider than the line
            cut = len(current) - 1
            while cut > 1 and draw.textlength(current[:cut], font=font) > width:
                cut -= 1
            out.append(current[:cut])
            current = current[cut:]
    if current:
        out.append(current)
    if len(out) > lines:
        out = out[:lines]
        last = out[-1]
        while last and draw.textlength(last + "…", font=font) > width:
            last = last[:-1].rstrip()
        out[-1] = last + "…"
    return out


def cover_png(view: IssueView) -> bytes:
    """The cover of the issue's episode, PNG bytes, ``SIZE`` pixels square."""
    image = Image.new("RGB", (SIZE, SIZE), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    width = SIZE - 2 * _MARGIN
    draw.rectangle((0, 0, SIZE, 28), fill=_ACCENT)
    y = _MARGIN
    title_font = _font(100, bold=True)
    for line in _wrap(draw, view.title, title_font, width, 3):
        draw.text((_MARGIN, y), line, font=title_font, fill=_TEXT)
        y += 124
    y += 20
    week_font = _font(60)
    for line in _wrap(draw, f"Week of {view.week_label}", week_font, width, 2):
        draw.text((_MARGIN, y), line, font=week_font, fill=_ACCENT)
        y += 76
    y = max(y + 50, 480)
    draw.line((_MARGIN, y, SIZE - _MARGIN, y), fill=_MUTED, width=4)
    y += 50
    topic_font = _font(48)
    for item in view.highlights[:TOPICS]:
        lines = _wrap(draw, chapter_title(item), topic_font, width - 60, 2)
        draw.ellipse((_MARGIN, y + 18, _MARGIN + 24, y + 42), fill=_ACCENT)
        for line in lines:
            draw.text((_MARGIN + 60, y), line, font=topic_font, fill=_TEXT)
            y += 64
        y += 30
    footer = _font(40)
    draw.text((_MARGIN, SIZE - _MARGIN), "New arXiv papers, read aloud", font=footer, fill=_MUTED)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
