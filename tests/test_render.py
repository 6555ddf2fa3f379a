"""Rendering: escaping of hostile paper text, determinism, and golden output.

`make golden` (UPDATE_GOLDEN=1) rewrites tests/golden/ after an intended change.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import pytest

from pipeline.podcast.script import podcast_script
from pipeline.render.files import md_escape, render_issue
from pipeline.render.issue import IssueView, first_sentence, issue_view, week_label
from pipeline.store.issues import ALSO, HIGHLIGHT, LoadedItem
from tests import factories
from tests.factories import NOW, loaded_item

GOLDEN = Path(__file__).parent / "golden"


# An issue item with hostile author names (the renderers must keep them inert).
loaded = functools.partial(
    loaded_item,
    authors=["Zoë Müller", "<b>Mallory</b>", "Ada [Lovelace](http://evil)"],
    explanation="matches 'agents'",
)


def fixture_issue() -> list[LoadedItem]:
    return [
        loaded(
            1,
            HIGHLIGHT,
            0,
            "When Is Depth < Width? Wide & Shallow <script>alert(1)</script>",
            "We show $O(n \\log n)$ bounds. Second sentence.",
            summary_text="It claims *everything* and [links](javascript:alert(1)) & more.",
            # A number stored before flags had kinds, then one flag of each kind.
            flags=(
                "81.5%",
                "name:GPT-5",
                "overclaim:state-of-the-art",
                "overclaim:always",
                "loop:It claims everything",
            ),
        ),
        loaded(
            2,
            HIGHLIGHT,
            1,
            "Learning *Where* to Look with [PAUSE]_k Tokens",
            "An abstract only. Because the summary failed.",
        ),
        loaded(3, ALSO, 0, "A # heading | table ` tick ~ tilde", "Short one-liner here. More."),
        loaded(
            4,
            ALSO,
            1,
            "Plain title",
            "Dr. Smith et al. propose a method. Then Y.",
            category="cs.CL",
        ),
    ]


RENDERINGS = ("newsletter.md", "newsletter.html", "newsletter.txt", "podcast.md", "issue.json")


def view(items: list[LoadedItem] | None = None, **kw: object) -> IssueView:
    args: dict[str, object] = {
        "categories": ["cs.LG", "cs.CL"],
        "model": "test-model",
        "candidates": 40,
        "published": NOW,
        "public_url": "https://news.example.org/ai",
    }
    args.update(kw)
    return issue_view("2026-W25", fixture_issue() if items is None else items, **args)  # type: ignore[arg-type]


def render_all(
    tmp_path: Path, items: list[LoadedItem] | None = None, **kw: object
) -> dict[str, str]:
    v = view(items, **kw)
    paths = render_issue(v, podcast_script(v), tmp_path)
    assert [p.name for p in paths] == list(RENDERINGS)
    return {p.name: p.read_text(encoding="utf-8") for p in paths}


def render(tmp_path: Path) -> str:
    return render_all(tmp_path)["newsletter.md"]


@pytest.mark.parametrize("name", RENDERINGS)
def test_rendering_matches_golden(tmp_path: Path, name: str) -> None:
    text = render_all(tmp_path)[name]
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    assert render_all(tmp_path / "a") == render_all(tmp_path / "b")


def test_hostile_text_is_inert(tmp_path: Path) -> None:
    text = render(tmp_path)
    assert "<script>" not in text and "<b>" not in text
    assert "\\<script\\>" in text
    assert not re.search(r"(?<!\\)\]\((javascript|http://evil)", text)
    assert "\\](javascript:" in text
    assert "\\*Where\\*" in text and "\\[PAUSE\\]\\_k" in text
    assert "Depth \\< Width? Wide \\& Shallow" in text


def test_sections_and_fallback(tmp_path: Path) -> None:
    text = render(tmp_path)
    highlights, also = text.split("## Also this week")
    assert "### 1. [When Is Depth" in highlights and "### 2. [Learning" in highlights
    assert "*Summary unavailable this week; the authors' abstract:* An abstract only." in text
    assert "https://arxiv.org/abs/2606.00001v2" in highlights
    assert "https://arxiv.org/pdf/2606.00001v2" in highlights
    assert "### Machine Learning (cs.LG)" in also and "### Computation and Language (cs.CL)" in also
    assert (
        "- [Plain title](https://arxiv.org/abs/2606.00004v2) — Dr. Smith et al. propose a method."
        in also
    )


def test_malformed_id_is_refused(tmp_path: Path) -> None:
    bad = loaded(5, HIGHLIGHT, 0, "t", "a")
    bad.paper.id = "2606.1)](javascript:x"
    with pytest.raises(ValueError, match="malformed arXiv id"):
        view([bad])


@pytest.mark.parametrize(
    ("week", "label"),
    [
        ("2026-W25", "June 15–21, 2026"),
        ("2026-W27", "June 29 – July 5, 2026"),
        ("2026-W53", "December 28 – January 3, 2027"),
    ],
)
def test_week_label(week: str, label: str) -> None:
    assert week_label(week) == label


def test_first_sentence_and_md_escape() -> None:
    assert first_sentence("We do X, e.g. the thing. Then Z.") == "We do X, e.g. the thing."
    assert (
        first_sentence("J. Doe et al. show 3.5 gains. Then Z.") == "J. Doe et al. show 3.5 gains."
    )
    assert first_sentence("word " * 100).endswith("…")
    assert md_escape("a_b*c [d](e) <f> & g\nh") == "a\\_b\\*c \\[d\\](e) \\<f\\> \\& g h"


def test_unverified_numbers_are_shown(tmp_path: Path) -> None:
    items = fixture_issue()
    assert items[0].summary is not None
    items[0].summary.flags = ["81.5%", "2x"]
    text = render_all(tmp_path, items)["newsletter.md"]
    assert "*Check before quoting: 81.5%, 2x do not appear in the abstract.*" in text


def test_faithfulness_flags_are_shown_by_kind(tmp_path: Path) -> None:
    out = render_all(tmp_path)
    note = (
        "Check before quoting: 81.5%, GPT-5 do not appear in the abstract; the abstract does "
        "not say “state-of-the-art” or “always”; the summary repeats itself."
    )
    assert f"*{note}*" in out["newsletter.md"]
    assert f">{note}</p>" in out["newsletter.html"]
    assert note in " ".join(out["newsletter.txt"].split())
    first, second = json.loads(out["issue.json"])["items"][:2]
    assert first["unverified_numbers"] == ["81.5%"]
    assert first["flags"] == {
        "numbers": ["81.5%"],
        "names": ["GPT-5"],
        "overclaims": ["state-of-the-art", "always"],
        "loops": 1,
    }
    assert second["flags"] == {"numbers": [], "names": [], "overclaims": [], "loops": 0}


def test_stored_flags_stay_text(tmp_path: Path) -> None:
    """Flags come from the database: whatever they hold is escaped like paper text."""
    items = fixture_issue()
    assert items[0].summary is not None
    items[0].summary.flags = ["name:<b>X_1</b>", "overclaim:[a](javascript:x)"]
    out = render_all(tmp_path, items)
    assert "\\<b\\>X\\_1\\</b\\>" in out["newsletter.md"]
    assert "\\[a\\](javascript:x)" in out["newsletter.md"]
    assert (
        "&lt;b&gt;X_1&lt;/b&gt;" in out["newsletter.html"]
        and "<b>X_1" not in out["newsletter.html"]
    )
    assert "<b>X_1</b> does not appear in the abstract" in out["newsletter.txt"]


def test_oneliner_text_is_used_when_present(tmp_path: Path) -> None:
    items = fixture_issue()
    also = items[3]
    one = factories.summary(also.paper.id, "A *bold* one-liner.", version=2, kind="oneliner")
    items[3] = LoadedItem(also.item, also.paper, None, one)
    assert "— A \\*bold\\* one-liner." in render_all(tmp_path, items)["newsletter.md"]


def test_issue_json_has_every_item_with_its_fields(tmp_path: Path) -> None:
    doc = json.loads(render_all(tmp_path)["issue.json"])
    assert [(it["id"], it["section"]) for it in doc["items"]] == [
        ("2606.00001", "highlight"),
        ("2606.00002", "highlight"),
        ("2606.00003", "also"),
        ("2606.00004", "also"),
    ]
    first = doc["items"][0]
    assert first["title"].startswith("When Is Depth < Width?")  # raw: JSON needs no escaping
    assert first["links"] == {
        "abstract": "https://arxiv.org/abs/2606.00001v2",
        "pdf": "https://arxiv.org/pdf/2606.00001v2",
    }
    assert first["authors"][1] == "<b>Mallory</b>" and first["version"] == 2
    assert doc["items"][1]["summary"] is None and doc["items"][1]["summary_source"] is None
    assert doc["url"] == "https://news.example.org/ai/issues/2026-W25/"
    assert doc["published"] == "2026-06-16"


def test_latex_is_readable_everywhere(tmp_path: Path) -> None:
    items = fixture_issue()
    items[1].paper.abstract = "We show $O(n \\log n)$ bounds for $\\alpha^2$."  # shown: no summary
    out = render_all(tmp_path, items)
    assert "O(n log n)" in out["newsletter.md"] and "$O(" not in out["newsletter.md"]
    flat_text = " ".join(out["newsletter.txt"].split())  # wrapped at 72 columns
    assert "O(n log n)" in flat_text and "O(n log n)" in out["newsletter.html"]
    assert "α²" in out["newsletter.html"] and "alpha squared" in out["podcast.md"]


def test_latex_ties_and_unknown_commands_are_words(tmp_path: Path) -> None:
    items = fixture_issue()
    items[0].paper.title = r"\method: Faster Search (\ours{} v2)"
    items[1].paper.abstract = r"As Fig.~3 shows, \cite{x}~\sysname\ gains ~5%."  # no summary
    out = render_all(tmp_path, items)
    for name in ("newsletter.md", "newsletter.html", "newsletter.txt"):
        flat = " ".join(out[name].split())
        assert "method: Faster Search (ours v2)" in flat, name
        assert "As Fig. 3 shows, x sysname gains " in flat, name
        assert not re.search(r"\\(method|ours|cite|sysname)|Fig\.~", flat), name
    assert "gains \\~5%" in out["newsletter.md"]  # "approximately": kept, and inert
    assert "gains ~5%" in out["newsletter.html"]


def test_podcast_script_is_spoken_text(tmp_path: Path) -> None:
    v = view()
    script = podcast_script(v)
    titles = [s.title for s in script.segments]
    assert titles[0] == "Introduction" and titles[-1] == "Until next week" and len(titles) == 4
    assert titles[1].startswith("When Is Depth < Width?")
    for seg in script.segments:
        assert not re.search(r"[0-9<>*_\[\]$`#]|https?:|javascript", seg.text), seg.text
    starts = [s.start_seconds for s in script.segments]
    assert starts == sorted(starts) and starts[0] == 0.0
    assert script.duration_seconds == pytest.approx(script.words / 150 * 60, abs=1.0)
    assert "First up:" in script.segments[1].text and "And finally:" in script.segments[2].text
    slow = podcast_script(v, words_per_minute=100)
    assert slow.duration_seconds > script.duration_seconds


def test_podcast_replacements_are_configurable() -> None:
    items = fixture_issue()
    assert items[0].summary is not None
    items[0].summary.text = "The LLM beats GPT."
    v = view(items)
    default = podcast_script(v).segments[1].text
    custom = podcast_script(v, replacements={"LLM": "large language model"}).segments[1].text
    assert "large language model" in custom and "large language model" not in default


def test_narration_is_preferred_for_the_podcast() -> None:
    items = fixture_issue()
    first = items[0]
    narration = factories.summary(
        first.paper.id, "Spoken words about the paper.", version=2, kind="podcast"
    )
    items[0] = LoadedItem(first.item, first.paper, first.summary, None, narration)
    text = podcast_script(view(items)).segments[1].text
    assert "Spoken words about the paper." in text and "claims" not in text


def test_updated_papers_get_their_own_section(tmp_path: Path) -> None:
    from pipeline.store.issues import UPDATED

    items = fixture_issue()
    revised = loaded(9, UPDATED, 0, "A <Revised> Paper & More", "Abstract.")
    revised.item.explanation = "highlighted in 2026-W20 (v1); now v2"
    out = render_all(tmp_path, [*items, revised])
    md = out["newsletter.md"]
    assert "## Updated this week" in md
    assert (
        "- [A \\<Revised\\> Paper \\& More](https://arxiv.org/abs/2606.00009v2) — highlighted "
        "in 2026-W20 (v1); now v2" in md
    )
    assert "Updated this week" in out["newsletter.html"]
    assert "A &lt;Revised&gt; Paper &amp; More" in out["newsletter.html"]
    assert (
        "* A <Revised> Paper & More — highlighted in 2026-W20 (v1); now v2" in out["newsletter.txt"]
    )
    doc = json.loads(out["issue.json"])
    assert [it["section"] for it in doc["items"]][-1] == "updated"
    assert "Revised" not in out["podcast.md"]  # the podcast reads the highlights only
