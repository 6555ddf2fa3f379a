"""Screening at the desk teaches the ranker: "seen" / "downloaded" / "kept" stored as
feedback from the source "desk", learned from exactly as an imported reading log; undo;
progress; the cold-start round."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pipeline.desk import learning, review
from pipeline.errors import NotFoundError, UserInputError
from pipeline.store.db import add_all
from pipeline.store.editor import save_candidates
from pipeline.store.feedback import Imported, add_imported, remove_feedback, training_history
from pipeline.store.issues import save_issue
from pipeline.store.models import Candidate, Feedback
from tests import factories
from tests.helpers import invoke

WEEK = "2026-W25"
CATEGORIES = ["cs.LG", "cs.LG", "cs.LG", "cs.CL", "cs.CL", "cs.CV", "stat.ML", "cs.LG"]


def week_of(engine: Engine, scores: Sequence[float] = ()) -> list[str]:
    """Eight candidates of WEEK in two to four categories; ids best first."""
    ids = [f"2606.{n:05d}" for n in range(1, 9)]
    scores = scores or [0.9 - n / 10 for n in range(8)]
    add_all(
        engine, [factories.paper(pid, category=c) for pid, c in zip(ids, CATEGORIES, strict=True)]
    )
    save_issue(engine, WEEK, [], created=factories.NOW, candidates=len(ids))
    save_candidates(
        engine,
        WEEK,
        [
            Candidate(week=WEEK, paper_id=pid, version=1, rank=n, score=s, explanation="")
            for n, (pid, s) in enumerate(zip(ids, scores, strict=True))
        ],
    )
    return ids


def feedback_rows(engine: Engine) -> list[Feedback]:
    from sqlmodel import Session, select

    with Session(engine) as s:
        return list(s.exec(select(Feedback)))


def test_labels_are_stored_as_desk_feedback_with_their_time(engine: Engine) -> None:
    ids = week_of(engine)
    learning.record(engine, WEEK, ids[0], "seen")
    learning.record(engine, WEEK, ids[0], "downloaded")
    learning.record(engine, WEEK, ids[1], "kept")
    rows = sorted((f.paper_id, f.signal, f.source, f.value) for f in feedback_rows(engine))
    assert rows == [
        (ids[0], "downloaded", "desk", 1),
        (ids[0], "seen", "desk", 0),
        (ids[1], "kept", "desk", 1),
    ]
    assert all(f.at is not None and f.title == f"Paper {f.paper_id}" for f in feedback_rows(engine))
    with pytest.raises(UserInputError):
        learning.record(engine, WEEK, ids[0], "like")
    with pytest.raises(NotFoundError):
        learning.record(engine, WEEK, "2101.00001", "seen")


def test_the_ranker_learns_from_the_desk_as_from_an_imported_log(engine: Engine) -> None:
    ids = week_of(engine)
    for pid in ids[:4]:
        learning.record(engine, WEEK, pid, "seen")  # shown: four titles
    learning.record(engine, WEEK, ids[0], "downloaded")  # picked
    learning.record(engine, WEEK, ids[1], "downloaded")
    learning.record(engine, WEEK, ids[1], "kept")  # picked and kept
    from_desk = sorted(training_history(engine), key=lambda h: h.paper_id)
    labels = {h.paper_id: (h.label, h.weight) for h in from_desk}
    assert labels == {
        ids[0]: (1, 1.0),
        ids[1]: (1, 2.0),  # a keep counts double a download, as in an imported log
        ids[2]: (0, 1.0),  # seen, not picked: a negative example
        ids[3]: (0, 1.0),
    }
    for pid in ids[:4]:
        remove_feedback(engine, pid, "desk")
    assert training_history(engine) == []

    def rows(pids: list[str]) -> list[Imported]:
        return [Imported(p, f"Paper {p}", factories.NOW, factories.NOW) for p in pids]

    add_imported(engine, "downloaded", rows(ids[:2]))
    add_imported(engine, "kept", rows(ids[1:2]))
    imported = {h.paper_id: (h.label, h.weight) for h in training_history(engine)}
    assert {k: v for k, v in labels.items() if v[0] == 1} == imported
    # the desk's "seen" adds the negatives a reading log of picks leaves implicit
    for pid in ids[2:4]:
        learning.record(engine, WEEK, pid, "seen")
    assert {h.paper_id: (h.label, h.weight) for h in training_history(engine)} == labels


def test_a_seen_recorded_after_a_pick_does_not_unpick_it(engine: Engine) -> None:
    ids = week_of(engine)
    learning.record(engine, WEEK, ids[0], "kept")
    learning.record(engine, WEEK, ids[0], "seen")  # shown again later
    assert [(h.paper_id, h.label) for h in training_history(engine)] == [(ids[0], 1)]


def test_undo_and_progress(engine: Engine) -> None:
    ids = week_of(engine)
    assert review.progress(engine, WEEK) == (0, 8)
    learning.record(engine, WEEK, ids[0], "seen")
    learning.record(engine, WEEK, ids[1], "seen")
    learning.record(engine, WEEK, ids[1], "downloaded")
    assert review.progress(engine, WEEK) == (2, 8)
    labels = {v.id: v.label for v in review.candidates(engine, WEEK)}
    assert (labels[ids[0]], labels[ids[1]], labels[ids[2]]) == ("seen", "downloaded", None)
    assert learning.undo(engine, WEEK, ids[1]) == 2
    assert review.progress(engine, WEEK) == (1, 8)
    assert learning.undo(engine, WEEK, ids[1]) == 0


def test_cold_start_round_is_uncertain_diverse_and_unscreened(engine: Engine) -> None:
    # scores: ids[3] (cs.CL) and ids[4] (cs.CL) nearest the median; ids[0] most certain
    ids = week_of(engine, [0.99, 0.2, 0.7, 0.5, 0.52, 0.1, 0.95, 0.45])
    assert learning.needs_cold_start(engine)
    round_ = learning.cold_start_round(engine, WEEK, n=4)
    assert len(round_) == 4 and len(set(round_)) == 4
    categories = {CATEGORIES[ids.index(p)] for p in round_}
    assert categories == {"cs.LG", "cs.CL", "cs.CV", "stat.ML"}  # one of each first
    assert ids[7] in round_  # cs.LG's most uncertain (0.45), not its most certain (0.99)
    assert ids[3] in round_ or ids[4] in round_
    learning.record(engine, WEEK, round_[0], "seen")
    assert round_[0] not in learning.cold_start_round(engine, WEEK, n=8)
    assert len(learning.cold_start_round(engine, WEEK, n=20)) == 7  # all the unscreened
    assert learning.cold_start_round(engine, WEEK, n=0) == []


def test_a_seen_log_imports_like_the_desks_seen(engine: Engine, db_url: str) -> None:
    ids = week_of(engine)
    Path("log.csv").write_text(
        "Title,ArXiv Link,Paper Date,Date Added\n"
        f"Paper {ids[0]},https://arxiv.org/abs/{ids[0]},2026-06-16,2026-06-20\n"
        f"Paper {ids[1]},https://arxiv.org/abs/{ids[1]},2026-06-16,2026-06-20\n",
        encoding="utf-8",
    )
    invoke("feedback", "import", "log.csv", "--label", "seen", "--database-url", db_url)
    Path("kept.csv").write_text(
        "\n".join(Path("log.csv").read_text(encoding="utf-8").splitlines()[:2]) + "\n",
        encoding="utf-8",
    )
    invoke("feedback", "import", "kept.csv", "--label", "kept", "--database-url", db_url)
    learning.record(engine, WEEK, ids[2], "seen")
    history = {h.paper_id: h.label for h in training_history(engine)}
    # seen then kept: positive; seen only (imported or at the desk): negative
    assert history == {ids[0]: 1, ids[1]: 0, ids[2]: 0}
