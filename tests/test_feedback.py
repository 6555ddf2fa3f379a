"""Feedback: likes/dislikes from the CLI and imported reading logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.devservers.arxiv_api import ArxivAPIServer
from pipeline.store.db import open_database
from pipeline.store.models import Feedback
from tests.helpers import cli_database_url, invoke


def rows() -> list[tuple[str, str, int, str]]:
    engine = open_database(cli_database_url())
    with Session(engine) as s:
        out = [(f.paper_id, f.signal, f.value, f.source) for f in s.exec(select(Feedback))]
    engine.dispose()
    return sorted(out)


def test_like_and_dislike(arxiv_server: ArxivAPIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_ARXIV_URL", arxiv_server.url)
    monkeypatch.setenv("NEWSLETTER_ARXIV_DELAY_SECONDS", "0")
    invoke("fetch", "--week", "2026-W25")
    out = invoke("feedback", "add", "2606.90004", "--like")
    assert "recorded: like 2606.90004 (Budget-Aware Self-Consistency" in out
    invoke("feedback", "add", "2606.90004", "--like")  # idempotent
    invoke("feedback", "add", "2606.90005", "--dislike")
    assert rows() == [("2606.90004", "like", 1, "cli"), ("2606.90005", "dislike", -1, "cli")]
    invoke("feedback", "add", "2606.90005", "--like")  # changed my mind
    assert rows() == [("2606.90004", "like", 1, "cli"), ("2606.90005", "like", 1, "cli")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["feedback", "add", "2606.99999", "--like"], "is not in the database"),
        (["feedback", "add", "2606.90004"], "exactly one of --like or --dislike"),
        (["feedback", "import", "missing.csv", "--label", "kept"], "cannot read missing.csv"),
        (["feedback", "import", "log.csv", "--label", "loved"], "--label must be one of"),
    ],
)
def test_feedback_errors_are_one_line(args: list[str], message: str) -> None:
    Path("log.csv").write_text("Title,ArXiv Link,Paper Date,Date Added\n")
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_import_reading_log_is_idempotent_and_reports_rejects() -> None:
    Path("log.csv").write_text(
        "Title,ArXiv Link,Paper Date,Date Added\n"
        "Accessing GPT-4 level Olympiad Solutions,https://arxiv.org/abs/2406.07394,"
        "2024-06-11,2024-06-19\n"
        "Old style,http://arxiv.org/pdf/hep-th/9901001v2,1999-01-01,2024-06-19\n"
        "No link,https://example.com/x,2024-06-11,2024-06-19\n"
        ",https://arxiv.org/abs/2406.08702,2024-06-13,2024-06-19\n",
        encoding="utf-8",
    )
    out = invoke("feedback", "import", "log.csv", "--label", "downloaded")
    assert "2 added, 0 already there, 2 rejected" in out
    assert "line 4: not an arXiv link" in out and "line 5: no title" in out
    again = invoke("feedback", "import", "log.csv", "--label", "downloaded")
    assert "0 added, 2 already there" in again
    invoke("feedback", "import", "log.csv", "--label", "kept")
    assert rows() == [
        ("2406.07394", "downloaded", 1, "import"),
        ("2406.07394", "kept", 1, "import"),
        ("hep-th/9901001", "downloaded", 1, "import"),
        ("hep-th/9901001", "kept", 1, "import"),
    ]


def test_import_wrong_columns() -> None:
    Path("log.csv").write_text("id,title\n2406.07394,x\n")
    result = CliRunner().invoke(app, ["feedback", "import", "log.csv", "--label", "kept"])
    assert result.exit_code == 1 and "needs the columns Title,ArXiv Link" in result.output


def test_training_history_labels(
    arxiv_server: ArxivAPIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.store.feedback import training_history

    monkeypatch.setenv("NEWSLETTER_ARXIV_URL", arxiv_server.url)
    monkeypatch.setenv("NEWSLETTER_ARXIV_DELAY_SECONDS", "0")
    monkeypatch.setenv("NEWSLETTER_HIGHLIGHTS", "2")
    monkeypatch.setenv("NEWSLETTER_ALSO_THIS_WEEK", "3")
    invoke("fetch", "--week", "2026-W25")
    invoke("rank", "--week", "2026-W25")  # places 5 papers: shown
    invoke("feedback", "add", "2606.90004", "--like")
    invoke("feedback", "add", "2606.90005", "--dislike")
    Path("log.csv").write_text(
        "Title,ArXiv Link,Paper Date,Date Added\n"
        "An older paper I kept,https://arxiv.org/abs/2401.00001,2024-01-02,2024-01-05\n"
    )
    invoke("feedback", "import", "log.csv", "--label", "kept")
    engine = open_database(cli_database_url())
    history = {h.paper_id: h for h in training_history(engine)}
    engine.dispose()
    assert history["2606.90004"].label == 1 and history["2606.90005"].label == 0
    assert history["2401.00001"].label == 1
    assert history["2401.00001"].title == "An older paper I kept"
    assert history["2401.00001"].abstract == ""
    shown = [
        h for h in history.values() if h.paper_id not in {"2606.90004", "2606.90005", "2401.00001"}
    ]
    assert len(shown) >= 3 and all(h.label == 0 and h.abstract for h in shown)
