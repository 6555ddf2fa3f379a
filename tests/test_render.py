"""Rendering: escaping of hostile paper text, determinism, and golden output.

`make golden` (UPDATE_GOLDEN=1) rewrites tests/golden/ after an intended change.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.models import IssueItem, Paper, Summary
from pipeline.render import first_sentence, issue_context, md_escape, render_issue, week_label
from pipeline.store.issues import ALSO, HIGHLIGHT, LoadedItem

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2026, 6, 16, 12, 0, tzinfo=UTC)


def loaded(
    n: int,
    section: str,
    position: int,
    title: str,
    abstract: str,
    *,
    summary: str | None = None,
    category: str = "cs.LG",
) -> LoadedItem:
    paper = Paper(
        id=f"2606.{n:05d}",
        version=2,
        title=title,
        abstract=abstract,
        authors=["Zoë Müller", "<b>Mallory</b>", "Ada [Lovelace](http://evil)"],
        categories=[category, "stat.ML"],
        primary_category=category,
        published=NOW,
        updated=NOW,
        first_seen=NOW,
        last_changed=NOW,
        title_key="k",
        content_hash="h",
    )
    item = IssueItem(
        issue_week="2026-W25",
        paper_id=paper.id,
        version=2,
        section=section,
        position=position,
        score=0.5,
        explanation="matches 'agents'",
    )
    summ = None
    if summary is not None:
        summ = Summary(
            paper_id=paper.id,
            version=2,
            kind="summary",
            prompt_hash="p",
            model="m",
            params_hash="q",
            text=summary,
            created=NOW,
        )
    return LoadedItem(item, paper, summ)


def fixture_issue() -> list[LoadedItem]:
    return [
        loaded(
            1,
            HIGHLIGHT,
            0,
            "When Is Depth < Width? Wide & Shallow <script>alert(1)</script>",
            "We show $O(n \\log n)$ bounds. Second sentence.",
            summary="It claims *everything* and [links](javascript:alert(1)) & more.",
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


def render(tmp_path: Path) -> str:
    ctx = issue_context(
        "2026-W25",
        fixture_issue(),
        categories=["cs.LG", "cs.CL"],
        model="test-model",
        candidates=40,
    )
    (path,) = render_issue(ctx, tmp_path)
    return path.read_text(encoding="utf-8")


def test_markdown_matches_golden(tmp_path: Path) -> None:
    text = render(tmp_path)
    golden = GOLDEN / "newsletter.md"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    assert render(tmp_path / "a") == render(tmp_path / "b")


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
        issue_context("2026-W25", [bad], categories=["cs.LG"], model="m", candidates=1)


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
    ctx = issue_context("2026-W25", items, categories=["cs.LG"], model="m", candidates=4)
    (path,) = render_issue(ctx, tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "*Check before quoting: 81.5%, 2x do not appear in the abstract.*" in text


def test_oneliner_text_is_used_when_present(tmp_path: Path) -> None:
    items = fixture_issue()
    also = items[3]
    one = Summary(
        paper_id=also.paper.id,
        version=2,
        kind="oneliner",
        prompt_hash="p",
        model="m",
        params_hash="q",
        text="A *bold* one-liner.",
        created=NOW,
    )
    items[3] = LoadedItem(also.item, also.paper, None, one)
    ctx = issue_context("2026-W25", items, categories=["cs.LG"], model="m", candidates=4)
    (path,) = render_issue(ctx, tmp_path)
    assert "— A \\*bold\\* one-liner." in path.read_text(encoding="utf-8")
