"""The reader's feedback: likes and dislikes, clicks, imported reading logs."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, delete
from sqlmodel import col, select

from pipeline.clock import utcnow
from pipeline.errors import NotFoundError, UserInputError
from pipeline.records import ARXIV_ID
from pipeline.store.db import session
from pipeline.store.models import Feedback, Paper

SIGNALS = {"like": 1, "dislike": -1, "downloaded": 1, "kept": 1, "click": 1}
WEIGHTS = {"like": 2.0, "kept": 2.0, "downloaded": 1.0, "click": 1.0, "dislike": 1.0}
IMPORT_LABELS = {"downloaded": "downloaded", "kept": "kept", "liked": "like", "disliked": "dislike"}
_LINK_ID = re.compile(rf"arxiv\.org/(?:abs|pdf|html)/({ARXIV_ID})(?:v\d+)?(?:\.pdf)?/?$")


def add_feedback(engine: Engine, paper_id: str, signal: str, source: str = "cli") -> Feedback:
    """Record one signal; a like replaces an earlier dislike from the same source (and back)."""
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}")
    with session(engine) as s:
        paper = s.get(Paper, paper_id)
        if paper is None:
            raise NotFoundError(
                f"paper {paper_id} is not in the database: fetch its week first, or record "
                "papers you read elsewhere with `newsletter feedback import`"
            )
        opposite = {"like": "dislike", "dislike": "like"}.get(signal)
        if opposite:
            s.exec(
                delete(Feedback).where(
                    col(Feedback.paper_id) == paper_id,
                    col(Feedback.signal) == opposite,
                    col(Feedback.source) == source,
                )
            )
        row = s.exec(
            select(Feedback).where(
                Feedback.paper_id == paper_id, Feedback.signal == signal, Feedback.source == source
            )
        ).first() or Feedback(
            paper_id=paper_id, signal=signal, value=SIGNALS[signal], source=source, at=utcnow()
        )
        row.title, row.paper_date, row.at = paper.title, paper.published, utcnow()
        s.add(row)
        return row


@dataclass
class ImportReport:
    added: int = 0
    already: int = 0
    rejected: list[str] = field(default_factory=list)


def import_reading_log(engine: Engine, path: Path, label: str) -> ImportReport:
    """A reading log with columns Title,ArXiv Link,Paper Date,Date Added (idempotent)."""
    if label not in IMPORT_LABELS:
        raise UserInputError(f"--label must be one of {', '.join(IMPORT_LABELS)}, not {label!r}")
    signal = IMPORT_LABELS[label]
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise UserInputError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{path} is not UTF-8 text; save it as UTF-8 CSV") from None
    needed = {"Title", "ArXiv Link"}
    if rows and not needed <= set(rows[0]):
        raise UserInputError(
            f"{path}: needs the columns Title,ArXiv Link,Paper Date,Date Added; "
            f"found {','.join(rows[0])}"
        )
    report = ImportReport()
    parsed: dict[str, Feedback] = {}
    for line, row in enumerate(rows, start=2):
        m = _LINK_ID.search((row.get("ArXiv Link") or "").strip())
        title = " ".join((row.get("Title") or "").split())
        if not m:
            report.rejected.append(f"line {line}: not an arXiv link: {row.get('ArXiv Link')!r}")
            continue
        if not title:
            report.rejected.append(f"line {line}: no title")
            continue
        parsed[m.group(1)] = Feedback(
            paper_id=m.group(1),
            signal=signal,
            value=SIGNALS[signal],
            source="import",
            title=title,
            paper_date=_date(row.get("Paper Date")),
            at=_date(row.get("Date Added")) or utcnow(),
        )
    with session(engine) as s:
        existing = set(
            s.exec(
                select(Feedback.paper_id).where(
                    col(Feedback.paper_id).in_(list(parsed)),
                    Feedback.signal == signal,
                    Feedback.source == "import",
                )
            ).all()
        )
        for paper_id, fb in parsed.items():
            if paper_id in existing:
                report.already += 1
            else:
                s.add(fb)
                report.added += 1
    return report


def _date(text: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat((text or "").strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class Labelled:
    """One paper the reader has reacted to (label 1) or was shown and passed over (0)."""

    paper_id: str
    title: str
    abstract: str
    authors: tuple[str, ...]
    date: datetime | None
    label: int
    weight: float = 1.0  # a pick you kept or liked counts double one you only downloaded


def training_history(engine: Engine, before_week: str | None = None) -> list[Labelled]:
    """What the ranker learns from: every paper with feedback (its latest value decides),
    plus papers placed in earlier issues with no positive feedback (shown, not picked)."""
    from pipeline.store.models import IssueItem  # local: only this query needs it

    with session(engine) as s:
        feedback = list(s.exec(select(Feedback).order_by(col(Feedback.at))).all())
        shown_q = select(IssueItem.paper_id)
        if before_week is not None:
            shown_q = shown_q.where(IssueItem.issue_week < before_week)
        shown = set(s.exec(shown_q).all())
        ids = {f.paper_id for f in feedback} | shown
        papers = {p.id: p for p in s.exec(select(Paper).where(col(Paper.id).in_(list(ids))))}
    label: dict[str, int] = {}
    weight: dict[str, float] = {}
    titles: dict[str, tuple[str, datetime | None]] = {}
    for f in feedback:
        label[f.paper_id] = 1 if f.value > 0 else 0
        weight[f.paper_id] = (
            max(weight.get(f.paper_id, 0.0), WEIGHTS[f.signal])
            if f.value > 0
            else WEIGHTS[f.signal]
        )
        titles[f.paper_id] = (f.title, f.paper_date)
    for pid in shown:
        label.setdefault(pid, 0)
    out = []
    for pid, y in label.items():
        paper = papers.get(pid)
        if paper is not None:
            out.append(
                Labelled(
                    pid,
                    paper.title,
                    paper.abstract,
                    tuple(paper.authors),
                    paper.published,
                    y,
                    weight.get(pid, 1.0),
                )
            )
        elif pid in titles and titles[pid][0]:
            title, when = titles[pid]
            out.append(Labelled(pid, title, "", (), when, y, weight.get(pid, 1.0)))
    return out
