"""The desk's commands: pin, unpin, drop, restore, edit (in a real $EDITOR process),
export; each change stored, each user error one line."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from pipeline.desk import compose, learning, review
from pipeline.store import editor
from pipeline.store.issues import ALSO, HIGHLIGHT
from tests.desk_helpers import WEEK, built_week, issue_files
from tests.helpers import invoke


def use_editor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, new_text: str | None) -> Path:
    """$EDITOR is a small program that saves `new_text` (None: saves it empty) and keeps
    a copy of what it was given in the returned file."""
    seen = tmp_path / "editor-was-given.txt"
    script = tmp_path / "fake_editor.py"
    script.write_text(
        "import pathlib, sys\n"
        "path = pathlib.Path(sys.argv[1])\n"
        f"pathlib.Path({str(seen)!r}).write_text(path.read_text())\n"
        f"path.write_text({(new_text or '')!r})\n"
    )
    monkeypatch.setenv("EDITOR", f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}")
    return seen


def test_edit_opens_the_current_text_and_survives_an_llm_rerun(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with built_week() as engine:
        hl = next(v for v in review.candidates(engine, WEEK) if v.section == HIGHLIGHT)
        llm_text = compose.current_text(engine, WEEK, f"summary:{hl.id}")
        seen = use_editor(monkeypatch, tmp_path, "My summary, line one.\nLine two.\n")
        out = invoke("edit", WEEK, hl.id, "--author", "ed")  # ID alone: its summary
        assert f"saved your summary:{hl.id} for {WEEK}" in out
        assert seen.read_text().strip() == llm_text  # the editor was given the LLM text
        want = "My summary, line one.\nLine two."
        assert compose.current_text(engine, WEEK, f"summary:{hl.id}") == want
        history = editor.revision_history(engine, WEEK, f"summary:{hl.id}")
        assert [(r.author, r.text) for r in history] == [("ed", want)]
        invoke("regenerate", WEEK, "--resummarize")  # the LLM writes every text again
        assert compose.current_text(engine, WEEK, f"summary:{hl.id}") == want
        assert "My summary, line one. Line two." in issue_files()["newsletter.txt"].decode()
        # an editor that saves nothing changes nothing
        use_editor(monkeypatch, tmp_path, None)
        assert "no change" in invoke("edit", WEEK, "intro")
        assert editor.revision_history(engine, WEEK, "intro") == []
        assert seen.read_text().startswith("Welcome to this week's digest")
        assert len(editor.revision_history(engine, WEEK, f"summary:{hl.id}")) == 1


def test_pin_unpin_drop_restore_from_the_command_line(env: dict[str, str]) -> None:
    with built_week() as engine:
        listed = review.candidates(engine, WEEK)
        low, also = listed[-1].id, next(v.id for v in listed if v.section == ALSO)
        invoke("pin", WEEK, low, "--position", "1", "--author", "ed")
        invoke("drop", WEEK, also, "--author", "ed")
        view = {v.id: v for v in review.candidates(engine, WEEK)}
        assert view[low].pinned and (view[low].section, view[low].position) == (HIGHLIGHT, 0)
        assert view[also].dropped and view[also].section is None
        invoke("pin", WEEK, listed[-2].id, "--also")
        view = {v.id: v for v in review.candidates(engine, WEEK)}
        assert (view[listed[-2].id].section, view[listed[-2].id].position) == (ALSO, 0)
        invoke("unpin", WEEK, listed[-2].id)
        invoke("unpin", WEEK, low)
        invoke("restore", WEEK, also)
        view = {v.id: v for v in review.candidates(engine, WEEK)}
        assert view[low].section is None and not view[low].pinned
        assert view[also].section == ALSO and not view[also].dropped
        assert editor.placements(engine, WEEK) == []


def test_desk_commands_refuse_bad_input_in_one_line(env: dict[str, str]) -> None:
    with built_week():
        for args in (
            ("pin", WEEK, "2101.99999"),
            ("drop", "2026-W01", "2101.99999"),
            ("edit", WEEK, "title:2101.99999"),
            ("export", WEEK),
            ("approve", "2026-W01"),
        ):
            out = invoke(*args, code=1 if args[0] != "edit" else 1)
            assert out.startswith("error: ") and out.count("\n") == 1, (args, out)
        invoke("pin", WEEK, "2101.99999", "--position", "0", code=2)  # positions start at 1


def test_export_writes_the_kept_papers(env: dict[str, str], tmp_path: Path) -> None:
    with built_week() as engine:
        ids = [v.id for v in review.candidates(engine, WEEK)][:3]
        learning.record(engine, WEEK, ids[0], "kept")
        learning.record(engine, WEEK, ids[2], "kept")
        learning.record(engine, WEEK, ids[1], "downloaded")
    out = invoke("export", WEEK, "--bibtex", str(tmp_path / "kept.bib"))
    assert "wrote 2 entries" in out
    bib = (tmp_path / "kept.bib").read_text()
    assert bib.count("@misc{") == 2 and ids[1].replace(".", "_") not in bib
    out = invoke("export", WEEK, "--markdown", str(tmp_path / "notes"))
    assert "wrote 2 notes" in out
    assert sorted(p.name for p in (tmp_path / "notes").iterdir()) == sorted(
        f"{i}.md" for i in (ids[0], ids[2])
    )
