"""Composing an issue at the desk: pins first, drops nowhere, revisions over LLM texts, and
none of it undone by a rerun of rank or summarize; regenerate gives the same bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pipeline.config import load_settings
from pipeline.desk import compose, resummarize, review
from pipeline.desk.layout import lay_out
from pipeline.devservers.openai_api import OpenAIServer
from pipeline.errors import NotFoundError, UserInputError
from pipeline.store import editor
from pipeline.store.issues import ALSO, HIGHLIGHT, UPDATED, Placement, load_issue
from pipeline.store.models import Candidate
from pipeline.wiring import pipeline_for
from tests.desk_helpers import WEEK, built_week, issue_files
from tests.helpers import invoke


def cand(pid: str, rank: int, section: str = "", position: int = 0) -> Candidate:
    return Candidate(
        week=WEEK,
        paper_id=pid,
        version=1,
        rank=rank,
        score=1 - rank / 100,
        explanation=f"why {pid}",
        section=section,
        position=position,
    )


# The ranker proposed b, a as highlights (MMR order), c, d as also-items; e, f ranked lower.
RANKED = [
    cand("a", 0, HIGHLIGHT, 1),
    cand("b", 1, HIGHLIGHT, 0),
    cand("c", 2, ALSO, 0),
    cand("d", 3, ALSO, 1),
    cand("e", 4),
    cand("f", 5),
]


def sections(items: list[Placement]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in sorted(items, key=lambda p: (p.section, p.position)):
        out.setdefault(p.section, []).append(p.paper_id)
    return out


def test_lay_out_without_decisions_is_the_rankers_proposal() -> None:
    assert sections(lay_out(RANKED, [], set())) == {HIGHLIGHT: ["b", "a"], ALSO: ["c", "d"]}


def test_lay_out_pins_first_in_the_editors_order_and_drops_nowhere() -> None:
    laid = sections(lay_out(RANKED, ["f", "c"], {"b"}))
    # two pins fill the two highlight places; the ranker's a moves down to the also-items
    assert laid == {HIGHLIGHT: ["f", "c"], ALSO: ["a", "d"]}
    laid = sections(lay_out(RANKED, ["f", "c", "e"], set()))
    assert laid[HIGHLIGHT] == ["f", "c", "e"]  # more pins than places: every pin is shown
    assert laid[ALSO] == ["a", "b"]


def test_lay_out_puts_also_pins_first_in_also() -> None:
    laid = sections(lay_out(RANKED, ["e"], set(), ["f", "b"]))
    assert laid == {HIGHLIGHT: ["e", "a"], ALSO: ["f", "b"]}  # b: from highlight to also
    laid = sections(lay_out(RANKED, [], {"f"}, ["f", "e", "d"]))
    assert laid == {HIGHLIGHT: ["b", "a"], ALSO: ["e", "d"]}  # a drop wins over a pin


def test_lay_out_tops_up_highlights_after_a_drop_and_keeps_updates_unless_dropped() -> None:
    updated = [cand("u", 6, UPDATED, 0), cand("v", 7, UPDATED, 1), cand("w", 8, UPDATED, 2)]
    laid = sections(lay_out(RANKED + updated, ["w"], {"a", "u"}))
    # w, a new version of an earlier highlight, pinned: a highlight, no longer "updated"
    assert laid == {HIGHLIGHT: ["w", "b"], ALSO: ["c", "d"], UPDATED: ["v"]}


def test_pin_drop_and_edit_survive_reruns_of_rank_and_summarize(env: dict[str, str]) -> None:
    with built_week() as engine:
        listed = review.candidates(engine, WEEK)
        assert len(listed) > 10 and [c.rank for c in listed] == list(range(len(listed)))
        first = [c.id for c in listed if c.section == HIGHLIGHT and c.position == 0][0]
        low = listed[-1].id  # the ranker's last candidate: in no section
        assert listed[-1].section is None
        compose.pin(engine, WEEK, low, 0, author="ed")
        compose.drop(engine, WEEK, first, author="ed")
        compose.edit(engine, WEEK, f"summary:{low}", "The editor's own summary.", author="ed")
        compose.edit(engine, WEEK, "intro", "Hello from the editor.", author="ed")

        def check() -> None:
            _issue, items = load_issue(engine, WEEK)
            highlights = [i.paper.id for i in items if i.item.section == HIGHLIGHT]
            assert highlights[0] == low
            assert first not in [i.paper.id for i in items]
            assert compose.current_text(engine, WEEK, f"summary:{low}") == (
                "The editor's own summary."
            )

        check()
        invoke("rank", "--week", WEEK)
        check()
        invoke("summarize", "--week", WEEK)  # writes the pinned paper's summary
        check()
        invoke("regenerate", WEEK, "--resummarize")  # every LLM text written again
        check()
        md = (issue_files()["newsletter.md"]).decode()
        assert "The editor's own summary." in md and "Hello from the editor." in md
        assert md.index("The editor's own summary.") < md.index("### 2.")
        # the LLM's summary of the pinned paper exists, but the issue shows the editor's
        _issue, items = load_issue(engine, WEEK)
        pinned = next(i for i in items if i.paper.id == low)
        assert pinned.summary is not None and pinned.summary.text != "The editor's own summary."


def test_revisions_reach_every_rendering_and_regenerate_is_byte_identical(
    env: dict[str, str],
) -> None:
    with built_week() as engine:
        hl = [c for c in review.candidates(engine, WEEK) if c.section == HIGHLIGHT]
        target = hl[1].id
        edited_text = "Edited <b>summary</b> & more."
        compose.edit(engine, WEEK, f"summary:{target}", edited_text, author="ed")
        compose.edit(engine, WEEK, "intro", "Editor's intro.\n\nSecond paragraph.", author="ed")
        compose.edit(engine, WEEK, "outro", "Editor's goodbye.", author="ed")
        also = next(c.id for c in review.candidates(engine, WEEK) if c.section == ALSO)
        compose.edit(engine, WEEK, f"oneliner:{also}", "One line by the editor.", author="ed")
        invoke("render", "--week", WEEK)
        files = issue_files()
        html, txt, md = (files[f"newsletter.{ext}"].decode() for ext in ("html", "txt", "md"))
        assert "Edited &lt;b&gt;summary&lt;/b&gt; &amp; more." in html and "<b>summary" not in html
        assert "Editor's intro.</p>" in html and "Second paragraph.</p>" in html
        assert "Editor's goodbye." in txt and "Welcome to this week" not in txt
        assert "Edited \\<b\\>summary\\</b\\> \\& more." in md
        assert "One line by the editor." in md and "One line by the editor." in html
        doc = json.loads(files["issue.json"])
        edited = next(i for i in doc["items"] if i["id"] == target)
        assert edited["summary"] == edited_text and edited["flags"]["loops"] == 0
        podcast = files["podcast.md"].decode()
        assert "Editor's intro." in podcast and "Editor's goodbye." in podcast
        out = invoke("regenerate", WEEK)
        assert f"{len(files)} files, 0 changed, 0 LLM calls" in out
        assert issue_files() == files


def test_latest_revision_wins_and_history_is_kept(env: dict[str, str]) -> None:
    with built_week() as engine:
        hl = next(c for c in review.candidates(engine, WEEK) if c.section == HIGHLIGHT)
        llm = compose.current_text(engine, WEEK, f"summary:{hl.id}")
        assert llm  # the LLM's summary, before any edit
        txt = issue_files()["newsletter.txt"].decode()
        for target in ("intro", "outro"):  # unedited: the built-in words, as rendered
            words = compose.current_text(engine, WEEK, target)
            assert words and " ".join(words.split()) in " ".join(txt.split())
        compose.edit(engine, WEEK, f"summary:{hl.id}", "first", author="ann")
        compose.edit(engine, WEEK, f"summary:{hl.id}", "  second\r\n", author="bob")
        assert compose.current_text(engine, WEEK, f"summary:{hl.id}") == "second"
        intro = compose.current_text(engine, WEEK, "intro")
        assert intro and not compose.edit(engine, WEEK, "intro", intro + "\n", author="x")
        assert not compose.edit(engine, WEEK, f"summary:{hl.id}", "second", author="x")
        history = editor.revision_history(engine, WEEK, f"summary:{hl.id}")
        assert [(r.text, r.author) for r in history] == [("first", "ann"), ("second", "bob")]


def test_bad_targets_texts_and_papers_are_refused(env: dict[str, str]) -> None:
    with built_week() as engine:
        some = review.candidates(engine, WEEK)[0].id
        for target in ("title:" + some, "summary:", "summary:../x", "Intro"):
            with pytest.raises(UserInputError):
                compose.edit(engine, WEEK, target, "x", author="ed")
        with pytest.raises(UserInputError):
            compose.edit(engine, WEEK, "intro", " \n ", author="ed")
        with pytest.raises(NotFoundError):
            compose.pin(engine, WEEK, "2101.99999", author="ed")
        with pytest.raises(NotFoundError):
            compose.drop(engine, "2026-W01", some, author="ed")
        with pytest.raises(UserInputError):
            compose.pin(engine, WEEK, some, -1, author="ed")
        with pytest.raises(NotFoundError):
            review.candidates(engine, "2026-W01")
        assert editor.placements(engine, WEEK) == []


def test_pins_keep_their_order_and_move_unpin_restore(env: dict[str, str]) -> None:
    with built_week() as engine:
        ids = [c.id for c in review.candidates(engine, WEEK)][-3:]
        a, b, c = ids
        compose.pin(engine, WEEK, a, author="ed")
        compose.pin(engine, WEEK, b, author="ed")
        compose.pin(engine, WEEK, c, 0, author="ed")
        assert [p.paper_id for p in editor.placements(engine, WEEK)] == [c, a, b]
        compose.move(engine, WEEK, b, 1, author="ed")
        assert [p.paper_id for p in editor.placements(engine, WEEK)] == [c, b, a]
        shown = sorted(
            (v for v in review.candidates(engine, WEEK) if v.section == HIGHLIGHT),
            key=lambda v: v.position or 0,
        )
        assert [v.id for v in shown][:3] == [c, b, a] and all(v.pinned for v in shown[:3])
        compose.unpin(engine, WEEK, c, author="ed")
        compose.drop(engine, WEEK, b, author="ed")
        view = {v.id: v for v in review.candidates(engine, WEEK)}
        assert view[b].dropped and not view[b].pinned and view[b].section is None
        assert not view[c].pinned
        compose.restore(engine, WEEK, b, author="ed")
        assert [p.paper_id for p in editor.placements(engine, WEEK)] == [a]
        compose.pin(engine, WEEK, c, author="ed", section=ALSO)
        compose.pin(engine, WEEK, a, 0, author="ed", section=ALSO)  # moves from highlights
        view = {v.id: v for v in review.candidates(engine, WEEK)}
        assert [(view[x].section, view[x].position) for x in (a, c)] == [(ALSO, 0), (ALSO, 1)]
        with pytest.raises(UserInputError):
            compose.pin(engine, WEEK, b, author="ed", section="updated")
        compose.unpin(engine, WEEK, a, author="ed")
        assert [(p.paper_id, p.section) for p in editor.placements(engine, WEEK)] == [(c, ALSO)]
        issue = editor.get_issue(engine, WEEK)
        assert issue is not None and issue.stale and issue.edited_at is not None
        assert issue.edited_at <= datetime.now(UTC)


FRESH = (
    "A fresh summary of this paper, written again on the editor's request: the method, "
    "what it was tested on, and what it found, in enough words to pass the output checks."
)


def test_resummarize_asks_again_for_one_paper_and_an_edit_still_wins(
    env: dict[str, str], openai_server: OpenAIServer
) -> None:
    with built_week() as engine:
        hl = [c.id for c in review.candidates(engine, WEEK) if c.section == HIGHLIGHT]
        compose.edit(engine, WEEK, f"summary:{hl[1]}", "The editor's text.", author="ed")
        before = openai_server.chat_calls
        openai_server.enqueue(FRESH, FRESH)
        with pipeline_for(load_settings()) as p:
            assert resummarize(p, WEEK, hl[0]) == 1
            assert resummarize(p, WEEK, hl[1]) == 1
            with pytest.raises(NotFoundError):
                resummarize(p, WEEK, review.candidates(engine, WEEK)[-1].id)  # not placed
        assert openai_server.chat_calls == before + 2
        assert compose.current_text(engine, WEEK, f"summary:{hl[0]}") == FRESH
        assert compose.current_text(engine, WEEK, f"summary:{hl[1]}") == "The editor's text."
        issue = editor.get_issue(engine, WEEK)
        assert issue is not None and issue.stale  # the files predate the new text


def test_an_edited_narration_is_what_the_podcast_says(env: dict[str, str]) -> None:
    with built_week() as engine:
        hl = next(c.id for c in review.candidates(engine, WEEK) if c.section == HIGHLIGHT)
        said = "In plain words, this paper makes models faster."
        compose.edit(engine, WEEK, f"narration:{hl}", said, author="ed")
        assert compose.current_text(engine, WEEK, f"narration:{hl}") == said
        invoke("render", "--week", WEEK)
        podcast = issue_files()["podcast.md"].decode()
        assert said in podcast
        assert said not in issue_files()["newsletter.md"].decode()  # the newsletter: summary
