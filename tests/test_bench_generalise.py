"""The generalisation bench's two replays on a small log: which weeks a ranker learns from
(never the week it scores; online only earlier ones), recency seen as distance in time, and
the metrics of the shared evaluate.py (skipped when ../shared is absent)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.bench import generalise
from tests.helpers import SHARED

EVALUATE = SHARED / "bench" / "interest" / "evaluate.py"
pytestmark = pytest.mark.skipif(not EVALUATE.is_file(), reason="../shared/bench is absent")
WEEKS = [(date(2024, 6, 3) + timedelta(weeks=w)).isoformat() for w in range(6)]


def log() -> pd.DataFrame:
    rows = []
    for w, week in enumerate(WEEKS):
        for i in range(10):
            picked = int(i < 2)
            words = ("wanted" if picked else "other") + (" kept" if i == 0 else "")
            rows.append(
                {
                    "id": f"{w}.{i}",
                    "title": f"{words} {w} {i}",
                    "date": week,
                    "added": week,
                    "week": week,
                    "downloaded": picked,
                    "kept": int(i == 0),
                    "manual": 0,
                }
            )
    return pd.DataFrame(rows)


def test_online_learns_from_earlier_weeks_and_leave_one_out_from_all_others() -> None:
    ev = generalise.load_evaluate(EVALUATE)
    seen: list[tuple[str, list[str]]] = []

    def oracle(train: Any, cand: Any) -> Any:
        (week,) = set(cand["week"])
        seen.append((week, sorted(set(train["week"]))))
        titles = cand["title"]
        return np.asarray([t.startswith("wanted") + ("kept" in t) for t in titles], dtype=float)

    online = generalise.replay(ev, log(), oracle, "online")
    assert [w for w, _ in seen] == WEEKS[generalise.WARMUP :]
    assert all(max(train) < week for week, train in seen)
    seen.clear()
    lwo = generalise.replay(ev, log(), oracle, "lwo")
    assert [w for w, _ in seen] == WEEKS
    for week, train in seen:
        assert week not in train and all(t < week for t in train)  # later weeks mirrored
    # the second week: the first is one week before it, the 3rd..6th mirrored before it
    assert seen[1][1] == [
        (date(2024, 6, 10) - timedelta(weeks=k)).isoformat() for k in (4, 3, 2, 1)
    ]
    for records in (online, lwo):
        assert {r["label"] for r in records} == {"downloaded", "kept"}
        assert all(r["AP"] == 1.0 for r in records)
    summary = generalise.summary(lwo, "kept")
    assert summary["weeks"] == 6 and summary["MAP"] == 1.0 and summary["sd"] == 0.0


def test_towards_keeps_the_distance_in_time() -> None:
    assert generalise._towards("2024-06-17", "2024-06-03") == "2024-06-03"
    assert generalise._towards("2024-06-17", "2024-07-01") == "2024-06-03"


def test_set_changes_a_ranker_config_field_and_refuses_an_unknown_one() -> None:
    config = generalise._config(["half_life_weeks=4", "title_style=false"])
    assert config.half_life_weeks == 4.0 and config.title_style is False
    with pytest.raises(SystemExit, match="no RankerConfig field 'nope'"):
        generalise._config(["nope=1"])
