"""`newsletter feedback add|import`: what the reader likes, for the ranker to learn from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import DbOpt, add_group, err, out, user_errors
from pipeline.errors import ConfigError
from pipeline.store.db import open_database


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
    try:
        row = add_feedback(engine, paper_id.strip(), "like" if like else "dislike")
    finally:
        engine.dispose()
    out.print(f"recorded: {row.signal} {row.paper_id} ({row.title})", markup=False)


@user_errors
def feedback_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="FILE.csv", help="Title,ArXiv Link,... CSV.")],
    label: Annotated[
        str, typer.Option(help="What the rows mean: downloaded, kept, liked or disliked.")
    ],
    database_url: DbOpt = None,
) -> None:
    """Import a reading log (columns Title,ArXiv Link,Paper Date,Date Added); idempotent."""
    from pipeline.store.feedback import import_reading_log

    settings = ctx.obj.settings(database_url=database_url)
    engine = open_database(settings.database_url)
    try:
        report = import_reading_log(engine, path, label)
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
