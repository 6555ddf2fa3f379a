"""Exporting a week's kept papers: BibTeX and Markdown notes, with hostile titles and
names kept inert (no field closed early, no entry injected, no markup, no extra YAML key)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from sqlalchemy import Engine

from pipeline.desk import export, learning
from pipeline.store.db import add_all
from pipeline.store.editor import save_candidates
from pipeline.store.issues import save_issue
from pipeline.store.models import Candidate
from tests import factories

WEEK = "2026-W25"
EVIL_TITLE = (
    'Bounds on $\\alpha<1$ & 100% "Σ-models"}, note = {pwned}}\r\n'
    "@misc{evil, title={x}} <script>alert(1)</script> ---\nkey: injected # _^~\\"
)
EVIL_AUTHORS = ("Tom and Jerry", "Zoë {Ångström}", 'J. "Bob" O\'Brien\n---')


def kept_week(engine: Engine) -> list[str]:
    ids = ["2606.00001", "2606.00002", "hep-th/9901001"]
    add_all(
        engine,
        [
            factories.paper(ids[0], EVIL_TITLE, authors=EVIL_AUTHORS, abstract="<b>x</b> [a](b)"),
            factories.paper(ids[1], "A plain title"),
            factories.paper(ids[2], "Old-style id", category="hep-th"),
        ],
    )
    save_issue(engine, WEEK, [], created=factories.NOW, candidates=3)
    save_candidates(
        engine,
        WEEK,
        [
            Candidate(week=WEEK, paper_id=p, version=1, rank=n, score=0.5, explanation="")
            for n, p in enumerate(ids)
        ],
    )
    learning.record(engine, WEEK, ids[0], "kept")
    learning.record(engine, WEEK, ids[2], "kept")
    learning.record(engine, WEEK, ids[1], "downloaded")  # picked, not kept: not exported
    return ids


def entries(bib: str) -> list[dict[str, str]]:
    """A strict reading of our BibTeX: entries start at a line's "@", every field value is
    one braced group whose braces (other than escaped ones) balance."""
    out = []
    for chunk in re.split(r"^(?=@)", bib, flags=re.MULTILINE):
        if not chunk.strip():
            continue
        m = re.fullmatch(r"@misc\{([A-Za-z0-9_]+),\n(.*)\n\}\n\n?", chunk, re.DOTALL)
        assert m, chunk
        fields = {}
        for line in m.group(2).split(",\n"):
            f = re.fullmatch(r"  (\w+) = \{(.*)\}", line, re.DOTALL)
            assert f, line
            value = f.group(2)
            depth = 0
            for c in re.sub(r"\\[{}]", "", value):
                depth += {"{": 1, "}": -1}.get(c, 0)
                assert depth >= 0, value
            assert depth == 0, value
            assert "\n" not in value
            fields[f.group(1)] = value
        out.append({"key": m.group(1), **fields})
    return out


def test_bibtex_escapes_untrusted_titles_and_names(engine: Engine) -> None:
    ids = kept_week(engine)
    bib = export.bibtex(engine, WEEK)
    found = entries(bib)
    assert [e["key"] for e in found] == ["arXiv_2606_00001", "arXiv_hep_th_9901001"]
    evil = found[0]
    assert set(evil) == {
        "key",
        "title",
        "author",
        "year",
        "eprint",
        "archivePrefix",
        "primaryClass",
        "url",
    }  # no "note" smuggled in
    assert r"\}, note = \{pwned\}\}" in evil["title"]
    assert r"100\% " in evil["title"] and r"\&" in evil["title"]
    assert r"\_\^{}\~{}\textbackslash{}" in evil["title"]
    assert evil["author"].startswith("{Tom and Jerry} and ")  # one author, not two
    assert evil["author"].count(" and ") == 3  # three authors (one "and" is a name's)
    assert evil["url"] == f"https://arxiv.org/abs/{ids[0]}v1"
    assert found[1]["eprint"] == "hep-th/9901001"
    assert ids[1] not in bib


def test_markdown_notes_have_safe_front_matter_and_inert_text(
    engine: Engine, tmp_path: Path
) -> None:
    ids = kept_week(engine)
    paths = export.markdown_notes(engine, WEEK, tmp_path / "vault")
    assert [p.name for p in paths] == ["2606.00001.md", "hep_th_9901001.md"]
    text = paths[0].read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert set(meta) == {
        "title",
        "arxiv",
        "version",
        "week",
        "published",
        "categories",
        "authors",
        "url",
        "pdf",
    }  # no "key: injected"
    assert meta["arxiv"] == ids[0] and meta["week"] == WEEK and meta["version"] == 1
    assert "<script>alert(1)</script>" in meta["title"] and "\n" not in meta["title"]
    assert meta["authors"][0] == "Tom and Jerry" and meta["authors"][2] == 'J. "Bob" O\'Brien ---'
    assert "<script>" not in body and r"\<script\>" in body
    assert "<b>" not in body and r"\[a\](b)" in body
    assert body.count("\n---") == 0  # nothing in the body can start another block
    meta2 = yaml.safe_load(paths[1].read_text(encoding="utf-8").split("---\n", 2)[1])
    assert meta2["arxiv"] == "hep-th/9901001"
