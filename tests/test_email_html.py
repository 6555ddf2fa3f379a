"""The HTML email and its text/plain alternative: hostile paper text stays inert, the CSS is
inlined, the text part is wrapped, and the page renders well in a real headless Chromium.

`EMAIL_SCREENSHOTS=<dir>` keeps the Chromium screenshots there for a look.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import html5lib
import pytest
from PIL import Image, ImageStat

from pipeline.render.email_html import finish
from pipeline.render.files import environment
from pipeline.render.issue import IssueView, issue_view
from pipeline.store.issues import ALSO, HIGHLIGHT
from tests import chromium
from tests.factories import loaded_item

PUBLIC = "https://news.example.org/"
ISSUE_URL = "https://news.example.org/issues/2026-W25/"

HOSTILE_TITLE = (
    "When Is Depth < Width? Wide & Shallow <script>alert(1)</script> Nets in $O(n^2)$ Time"
)
HOSTILE_SUMMARY = (
    "The authors prove an $O(n^2)$ lower bound for depth-$k$ circuits. On 12 benchmarks the "
    'wide models reach 81.5% accuracy with 2x fewer FLOPs. It claims *everything* and "quotes" '
    "[links](javascript:alert(1)) & more </td></tr></table><img src=x onerror=alert(2)> see "
    "https://github.com/example-org/an-extremely-long-repository-name-that-never-ends/blob/main"
    "/README.md for code."
)
LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis"
AUTHORS = ["Zoë Müller", "<b>Mallory</b>", 'Ada [Lovelace](http://evil) "Q"']


_loaded = functools.partial(
    loaded_item, authors=AUTHORS, explanation="matches 'agents' & \"tools\" <i>"
)


def hostile_view(
    public_url: str = PUBLIC, *, title: str = "AI paper summaries", source: str = "abstract"
) -> IssueView:
    """Hostile paper text everywhere; `source` is what the first summary was written from."""
    items = [
        _loaded(
            1,
            HIGHLIGHT,
            0,
            HOSTILE_TITLE,
            "We show $O(n \\log n)$ bounds. Second sentence.",
            summary_text=HOSTILE_SUMMARY,
            flags=("81.5%", "2x"),
            authors=[f"Author Number{i}" for i in range(11)],
        ),
        _loaded(
            2,
            HIGHLIGHT,
            1,
            "Learning *Where* to Look with [PAUSE]_k Tokens",
            f"An abstract only. Because the summary failed. {LONG_WORD} is long.",
        ),
        _loaded(
            5,
            HIGHLIGHT,
            2,
            "Agents That Plan: Tool Use at Scale with $\\alpha$-Divergence",
            "Abstract.",
            summary_text="Planning agents call tools with retrieval and self-verification; success "
            "rates improve on long-horizon web tasks while cost falls.",
        ),
        _loaded(3, ALSO, 0, "A # heading | table ` tick ~ tilde", "Short one-liner here. More."),
        _loaded(
            6,
            ALSO,
            1,
            "Scaling Laws for $\\mathcal{O}(1)$ Memory Transformers",
            "We derive scaling laws for constant-memory attention and validate them. More.",
        ),
        _loaded(
            4,
            ALSO,
            2,
            "Plain title",
            "Dr. Smith et al. propose a method. Then Y.",
            category="cs.CL",
        ),
        _loaded(
            7,
            ALSO,
            3,
            'javascript:alert(1) "Dialogue" </li></ul>',
            "A one-liner about <em>dialogue</em> & escaping. More.",
            category="cs.CL",
        ),
    ]
    assert items[0].summary is not None
    items[0].summary.source = source
    return issue_view(
        "2026-W25",
        items,
        categories=["cs.LG", "cs.CL"],
        model="test-model <v1>",
        candidates=40,
        public_url=public_url,
        title=title,
    )


def render_html(view: IssueView | None = None, *, web: bool = False, **extra: Any) -> str:
    view = view or hostile_view()
    template = environment().get_template("newsletter.html.j2")
    archive_url = "../../" if web else ""
    return template.render(**view.as_context(), web=web, archive_url=archive_url, **extra)


def render_text(view: IssueView | None = None, **extra: Any) -> str:
    view = view or hostile_view()
    return environment().get_template("newsletter.txt.j2").render(**view.as_context(), **extra)


def parse(html: str) -> ET.Element:
    """The document as an ElementTree (html5lib raises on any parse error)."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    root: ET.Element = parser.parse(html)
    return root


def text_of(el: ET.Element) -> str:
    return " ".join("".join(el.itertext()).split())


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def email() -> str:
    return finish(render_html())


@pytest.fixture(scope="module")
def doc(email: str) -> ET.Element:
    return parse(email)


# -- HTML -------------------------------------------------------------------------------------


def test_html_template_autoescapes_and_text_template_does_not() -> None:
    env = environment()
    assert env.autoescape("newsletter.html.j2") is True  # type: ignore[operator]
    assert env.autoescape("newsletter.txt.j2") is False  # type: ignore[operator]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in render_html()


def test_html_is_valid_and_paper_text_stays_text(doc: ET.Element) -> None:
    tags = {el.tag for el in doc.iter()}
    assert not tags & {"script", "img", "iframe", "object", "embed", "b", "i", "em"}
    body = doc.find("body")
    assert body is not None
    text = text_of(body)
    for hostile in (
        "When Is Depth < Width? Wide & Shallow <script>alert(1)</script> Nets in O(n²) Time",
        "<b>Mallory</b>",
        'Ada [Lovelace](http://evil) "Q"',
        "[links](javascript:alert(1)) & more </td></tr></table><img src=x onerror=alert(2)>",
        "Learning *Where* to Look with [PAUSE]_k Tokens",
        "A # heading | table ` tick ~ tilde",
        'javascript:alert(1) "Dialogue" </li></ul> — A one-liner about <em>dialogue</em> & '
        "escaping.",
        "matches 'agents' & \"tools\" <i>",
        "Summaries were written by test-model <v1> from the papers' abstracts",
    ):
        assert hostile in text
    assert "$" not in text  # LaTeX is shown readably
    assert "O(n²) lower bound for depth-k circuits" in text
    assert "with α-Divergence" in text and "Scaling Laws for 𝒪(1) Memory" in text
    # authors: the first 8, then "et al."
    assert "Author Number7 et al." in text and "Author Number8" not in text


def test_only_expected_links(doc: ET.Element) -> None:
    view = hostile_view()
    expected = [ISSUE_URL]
    for it in view.highlights:
        expected += [it.abs_url, it.abs_url, it.pdf_url]
    for group in view.also_groups:
        expected += [it.abs_url for it in group.items]
    hrefs = [a.get("href") for a in doc.iter("a")]
    assert sorted(h or "" for h in hrefs) == sorted(expected)
    for el in doc.iter():
        for name, value in el.attrib.items():
            assert not name.startswith("on")
            assert "javascript:" not in value.lower()


def test_document_shell(doc: ET.Element, email: str) -> None:
    assert email.startswith("<!DOCTYPE html>")
    assert doc.get("lang") == "en"
    metas = {m.get("name") or m.get("charset") or "": m.get("content") for m in doc.iter("meta")}
    assert "utf-8" in metas
    assert metas["viewport"] == "width=device-width, initial-scale=1"
    assert metas["color-scheme"] == "light dark"
    assert metas["supported-color-schemes"] == "light dark"
    title = doc.find("head/title")
    assert title is not None and title.text == "AI paper summaries — week of June 15–21, 2026"
    preheader = next(el for el in doc.iter("div") if "preheader" in el.get("class", ""))
    assert text_of(preheader).startswith(
        "June 15–21, 2026: When Is Depth < Width? Wide & Shallow <script>alert(1)</script>"
    )
    assert "display: none" in preheader.get("style", "")
    container = next(el for el in doc.iter("table") if "container" in el.get("class", ""))
    assert container.get("width") == "600"
    assert "max-width:600px" in container.get("style", "").replace(" ", "")


def test_css_is_inlined_and_media_queries_survive(doc: ET.Element, email: str) -> None:
    links = [a for a in doc.iter("a") if "hl-link" in a.get("class", "")]
    assert len(links) == 3
    assert all("color:" in a.get("style", "").replace(" ", "") for a in links)
    cells = [td for td in doc.iter("td") if "cell" in td.get("class", "").split()]
    assert cells and all("font-size: 16px" in td.get("style", "") for td in cells)
    assert all("overflow-wrap: anywhere" in td.get("style", "") for td in cells)
    (style,) = doc.iter("style")  # the inlined stylesheet is gone, the media queries stay
    css = style.text or ""
    assert "@media (prefers-color-scheme: dark)" in css and "!important" in css
    assert "@media (max-width: 620px)" in css
    assert ".hl-title { margin" not in css


def test_no_external_assets(doc: ET.Element, email: str) -> None:
    assert not list(doc.iter("link")) and not list(doc.iter("img"))
    assert not [el for el in doc.iter() if "src" in el.attrib or "srcset" in el.attrib]
    styles = [el.get("style", "") for el in doc.iter()] + [s.text or "" for s in doc.iter("style")]
    assert not [s for s in styles if "url(" in s or "@import" in s or "@font-face" in s]


def test_rendering_is_deterministic(email: str) -> None:
    assert finish(render_html()) == email
    assert render_text() == render_text()


def test_web_mode_adds_only_the_archive_link() -> None:
    web, mail = render_html(web=True), render_html(web=False)
    web_lines, mail_lines = Counter(web.splitlines()), Counter(mail.splitlines())
    assert not mail_lines - web_lines
    assert web_lines - mail_lines == Counter(
        [
            "<tr>",
            '<td class="cell nav"><a class="nav-link" href="../../">← All issues</a></td>',
            "</tr>",
        ]
    )
    parse(finish(web))
    assert "All issues" not in mail


def test_issue_and_unsubscribe_links_are_optional() -> None:
    bare = parse(finish(render_html(hostile_view(public_url=""))))
    assert "Read this issue online" not in text_of(bare) and "Unsubscribe" not in text_of(bare)
    url = 'https://news.example.org/unsubscribe?u=1&t=a"b'
    doc = parse(finish(render_html(unsubscribe_url=url)))
    unsub = [a for a in doc.iter("a") if a.get("href") == url]
    assert len(unsub) == 1 and text_of(unsub[0]) == "Unsubscribe"
    online = [a for a in doc.iter("a") if a.get("href") == ISSUE_URL]
    assert len(online) == 1 and text_of(online[0]) == "Read this issue online"
    assert render_text(unsubscribe_url=url).endswith(f"Unsubscribe:\n{url}\n")
    assert "Unsubscribe" not in render_text(unsubscribe_url="")


def test_newsletter_title_and_full_text_wording() -> None:
    view = hostile_view(title="Papers & <Notes>", source="pdf")
    doc = parse(finish(render_html(view)))
    title = doc.find("head/title")
    assert title is not None and title.text == "Papers & <Notes> — week of June 15–21, 2026"
    text = text_of(doc)
    assert text.count("Papers & <Notes>") >= 3  # title, heading kicker, footer
    assert "Check before quoting: 81.5%, 2x do not appear in the paper text." in text
    assert "from the papers' full texts; always check" in text
    plain = render_text(view)
    assert plain.startswith("Papers & <Notes> — week of June 15–21, 2026\n" + "=" * 43 + "\n")
    flat = squash(plain)
    assert "Check before quoting: 81.5%, 2x do not appear in the paper text." in flat
    assert "from the papers' full texts; always check" in flat


def test_long_newsletter_title_wraps_in_text() -> None:
    plain = render_text(hostile_view(title="A Very Long Newsletter Name " * 4))
    first, second, rule = plain.splitlines()[:3]
    assert len(first) <= 72 and len(second) <= 72
    assert rule == "=" * max(len(first), len(second))


# -- text/plain -------------------------------------------------------------------------------


def test_text_lines_fit_72_columns_except_lone_urls() -> None:
    text = render_text()
    for line in text.splitlines():
        if len(line) > 72:
            token = line.strip()
            assert " " not in token and re.match(r"https?://", token), line
    long_url = (
        "https://github.com/example-org/an-extremely-long-repository-name-that-never-ends"
        "/blob/main/README.md"
    )
    assert f"   {long_url}" in text.splitlines()  # never broken, on its own line
    assert "   Abstract: https://arxiv.org/abs/2606.00001v2" in text.splitlines()
    assert "   PDF: https://arxiv.org/pdf/2606.00001v2" in text.splitlines()
    assert "  https://arxiv.org/abs/2606.00004v2" in text.splitlines()
    assert text.endswith(f"Read this issue online:\n{ISSUE_URL}\n")


def test_text_is_plain_and_complete() -> None:
    view = hostile_view()
    text = render_text(view)
    flat = squash(text)
    assert "&lt;" not in text and "&amp;" not in text and "\\" not in text and "$" not in text
    assert (
        "When Is Depth < Width? Wide & Shallow <script>alert(1)</script> Nets in O(n²) Time" in flat
    )
    for title in (
        "Learning *Where* to Look with [PAUSE]_k Tokens",
        "Agents That Plan: Tool Use at Scale with α-Divergence",
        "A # heading | table ` tick ~ tilde — Short one-liner here.",
        "Scaling Laws for 𝒪(1) Memory Transformers — We derive scaling laws",
        "Plain title — Dr. Smith et al. propose a method.",
        'javascript:alert(1) "Dialogue" </li></ul> — A one-liner about <em>dialogue</em>',
    ):
        assert title in flat
    assert "1. When Is Depth" in text and "\n2. Learning" in text and "\n3. Agents" in text
    assert (
        "Summary unavailable this week; the authors' abstract: An abstract only. Because the "
        f"summary failed. {LONG_WORD} is long." in flat
    )
    assert "Check before quoting: 81.5%, 2x do not appear in the abstract." in flat
    assert flat.count("Why it's here: matches 'agents' & \"tools\" <i>") == 3
    assert "Author Number7 et al." in flat and "Author Number8" not in flat
    for header, rule in (
        ("Highlights", "="),
        ("Also this week", "="),
        ("That's all for this week", "="),
        ("Machine Learning (cs.LG)", "-"),
        ("Computation and Language (cs.CL)", "-"),
    ):
        assert f"\n{header}\n{rule * len(header)}\n" in text
    assert text.startswith("AI paper summaries — week of June 15–21, 2026\n" + "=" * 45 + "\n")


def test_text_has_no_markup_of_its_own() -> None:
    view = hostile_view()
    text = render_text(view)
    hostile = [
        "Depth < Width",
        "<script>alert(1)</script>",
        "<b>Mallory</b>",
        "</td></tr></table><img src=x onerror=alert(2)>",
        "<em>dialogue</em>",
        "</li></ul>",
        "<i>",
        "<v1>",
    ]
    flat = squash(text)
    for h in hostile:
        flat = flat.replace(h, "")
    assert "<" not in flat and ">" not in flat
    template = (Path(__file__).parents[1] / "templates" / "newsletter.txt.j2").read_text()
    assert not re.search(r"<[a-z/!]", template)


# -- headless Chromium ------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    not chromium.available(), reason=f"{chromium.CHROMIUM} is not installed"
)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, email: str) -> Path:
    path = tmp_path_factory.mktemp("email") / "newsletter.html"
    path.write_text(email, encoding="utf-8")
    return path


def _keep(shot: Path, name: str) -> None:
    if target := os.environ.get("EMAIL_SCREENSHOTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(target) / name)


def _luminance(im: Image.Image) -> float:
    mean: float = ImageStat.Stat(im.convert("L")).mean[0]
    return mean


def _ink_share(im: Image.Image) -> float:
    """The share of pixels that differ from the most common colour (the background)."""
    rgb = im.convert("RGB")
    colours = rgb.getcolors(maxcolors=rgb.width * rgb.height)
    assert colours is not None
    background = max(colours)[0]
    return 1 - background / (rgb.width * rgb.height)


@needs_chromium
@pytest.mark.parametrize(
    ("width", "dark", "name"),
    [(600, False, "email-600.png"), (375, False, "email-375.png"), (600, True, "email-dark.png")],
)
def test_screenshot(page: Path, tmp_path: Path, width: int, dark: bool, name: str) -> None:
    height = 1800
    shot = chromium.screenshot(page, tmp_path / name, width=width, height=height, dark=dark)
    _keep(shot, name)
    with Image.open(shot) as im:
        assert im.size == (width, height)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 200  # text, links, boxes: not blank
        assert _ink_share(im) > 0.05
        luminance = _luminance(im)
        top = im.crop((0, 0, width, 8)).convert("RGB")
    if dark:
        assert luminance < 60  # the dark stylesheet applied: dark background, light text
        assert top.getpixel((width // 2, 2)) == (0x8A, 0xB4, 0xFF)  # the accent bar, lightened
    else:
        assert luminance > 200
        assert top.getpixel((width // 2, 2)) == (0x1D, 0x4E, 0xD8)


@needs_chromium
@pytest.mark.parametrize("width", [375, 600, 320])
def test_no_horizontal_overflow(page: Path, tmp_path: Path, width: int) -> None:
    scroll_width, viewport = chromium.layout_widths(page, tmp_path, width=width)
    assert viewport == width
    assert scroll_width <= width


@needs_chromium
def test_overflow_probe_sees_overflow(tmp_path: Path) -> None:
    page = tmp_path / "wide.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width">'
        '</head><body style="margin:0"><div style="width:700px">wide</div></body></html>'
    )
    assert chromium.layout_widths(page, tmp_path, width=375) == (700, 375)
