"""`newsletter feedback add|import`: what the reader likes, for the ranker to learn from."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import DbOpt, add_group, err, out, user_errors
from pipeline.clock import utcnow
from pipeline.errors import ConfigError, NotFoundError, UserInputError
from pipeline.records import ARXIV_ID
from pipeline.store.db import open_database
from pipeline.store.feedback import Imported

# "seen": titles shown and not picked (the editor's desk logs these too): negative examples.
IMPORT_LABELS = {
    "seen": "seen",
    "downloaded": "downloaded",
    "kept": "kept",
    "liked": "like",
    "disliked": "dislike",
}
_LINK_ID = re.compile(rf"arxiv\.org/(?:abs|pdf|html)/({ARXIV_ID})(?:v\d+)?(?:\.pdf)?/?$")


def register(app: typer.Typer) -> None:
    help = "Tell the ranker what you like: it learns from this."
    add_group(app, "feedback", help, {"add": feedback_add, "import": feedback_import})


@user_errors
def feedback_add(
    ctx: typer.Context,
    paper_id: Annotated[str, typer.Argument(metavar="ID", help="arXiv id, e.g. 2606.14173.")],
    like: Annotated[bool, typer.Option("--like", help="More papers like this.")] = False,
    dislike: Annotated[bool, typer.Option("--dislike", help="Fewer papers like this.")] = False,
    database_url: DbOpt = None,
) -> None:
    """Record that you like or dislike a paper."""
    from pipeline.store.feedback import add_feedback

    if like == dislike:
        raise ConfigError("give exactly one of --like or --dislike")
    settings = ctx.obj.settings(database_url=database_url)
    engine = open_database(settings.database_url)
    paper_id = paper_id.strip()
    try:
        row = add_feedback(engine, paper_id, "like" if like else "dislike")
    finally:
        engine.dispose()
    if row is None:
        raise NotFoundError(
            f"paper {paper_id} is not in the database: fetch its week first, or record "
            "papers you read elsewhere with `newsletter feedback import`"
        )
    out.print(f"recorded: {row.signal} {row.paper_id} ({row.title})", markup=False)


@user_errors
def feedback_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="FILE.csv", help="Title,ArXiv Link,... CSV.")],
    label: Annotated[
        str,
        typer.Option(help="What the rows mean: seen, downloaded, kept, liked or disliked."),
    ],
    database_url: DbOpt = None,
) -> None:
    """Import a reading log (columns Title,ArXiv Link,Paper Date,Date Added); idempotent."""
    from pipeline.store.feedback import add_imported

    settings = ctx.obj.settings(database_url=database_url)
    engine = open_database(settings.database_url)
    try:
        signal, report, rows = read_reading_log(path, label)
        report.added, report.already = add_imported(engine, signal, rows)
    finally:
        engine.dispose()
    out.print(
        f"imported {path}: {report.added} added, {report.already} already there, "
        f"{len(report.rejected)} rejected",
        markup=False,
    )
    for reason in report.rejected[:20]:
        err.print(f"  rejected {reason}", markup=False)
    if len(report.rejected) > 20:
        err.print(f"  ... and {len(report.rejected) - 20} more", markup=False)


@dataclass
class ImportReport:
    added: int = 0
    already: int = 0
    rejected: list[str] = field(default_factory=list)


def read_reading_log(path: Path, label: str) -> tuple[str, ImportReport, list[Imported]]:
    """A reading log with columns Title,ArXiv Link,Paper Date,Date Added: the signal its
    label stands for, the rows rejected (in the report) and the rows to record, one per
    paper (the last row of a paper wins)."""
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
    parsed: dict[str, Imported] = {}
    for line, row in enumerate(rows, start=2):
        m = _LINK_ID.search((row.get("ArXiv Link") or "").strip())
        title = " ".join((row.get("Title") or "").split())
        if not m:
            report.rejected.append(f"line {line}: not an arXiv link: {row.get('ArXiv Link')!r}")
            continue
        if not title:
            report.rejected.append(f"line {line}: no title")
            continue
        parsed[m.group(1)] = Imported(
            paper_id=m.group(1),
            title=title,
            paper_date=_date(row.get("Paper Date")),
            at=_date(row.get("Date Added")) or utcnow(),
        )
    return signal, report, list(parsed.values())


def _date(text: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat((text or "").strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
