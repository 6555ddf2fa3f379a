"""The editor's desk from the command line (the same `pipeline.desk` the /desk pages use):
`pin`, `unpin`, `drop`, `restore`, `edit`, `approve`, `export`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import click
import typer

from pipeline.cli.common import DbOpt, OutOpt, out, pipeline_for, user_errors
from pipeline.env import user_name
from pipeline.errors import UserInputError
from pipeline.records import parse_week
from pipeline.store.db import open_database

WeekArg = Annotated[str, typer.Argument(metavar="WEEK", help="ISO week, e.g. 2026-W25.")]
IdArg = Annotated[str, typer.Argument(metavar="ID", help="arXiv id, e.g. 2606.14173.")]
AuthorOpt = Annotated[
    str | None, typer.Option("--author", help="Recorded with the change (default: your login).")
]


def register(app: typer.Typer) -> None:
    for command in (pin, unpin, drop, restore, edit, approve, export):
        app.command()(command)


def _change(
    ctx: typer.Context, database_url: str | None, week: str, paper_id: str, what: str, author: str
) -> None:
    from pipeline.desk import compose

    settings = ctx.obj.settings(database_url=database_url)
    engine = open_database(settings.database_url)
    try:
        getattr(compose, what)(engine, parse_week(week), paper_id, author=author)
    finally:
        engine.dispose()


@user_errors
def pin(
    ctx: typer.Context,
    week: WeekArg,
    paper_id: IdArg,
    position: Annotated[
        int | None,
        typer.Option("--position", min=1, help="Place among the pinned papers (1 = first)."),
    ] = None,
    also: Annotated[
        bool, typer.Option("--also", help="Pin it among 'also this week', not the highlights.")
    ] = False,
    author: AuthorOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Pin a paper as a highlight of the week's issue (after the other pins by default)."""
    from pipeline.desk import compose

    target = parse_week(week)
    settings = ctx.obj.settings(database_url=database_url)
    engine = open_database(settings.database_url)
    try:
        at = None if position is None else position - 1
        section = "also" if also else "highlight"
        compose.pin(engine, target, paper_id, at, author=author or user_name(), section=section)
    finally:
        engine.dispose()
    out.print(f"pinned {paper_id} in {target}", markup=False)


def _decision(name: str, done: str, doc: str) -> Callable[..., None]:
    """`unpin`, `drop` and `restore`: one decision about one paper; `done` says what
    happened ("{id}", "{week}")."""

    @user_errors
    def command(
        ctx: typer.Context,
        week: WeekArg,
        paper_id: IdArg,
        author: AuthorOpt = None,
        database_url: DbOpt = None,
    ) -> None:
        _change(ctx, database_url, week, paper_id, name, author or user_name())
        out.print(done.format(id=paper_id, week=parse_week(week)), markup=False)

    command.__name__ = command.__qualname__ = name
    command.__doc__ = doc
    return command


unpin = _decision(
    "unpin", "unpinned {id} in {week}", "Unpin a paper: the ranker decides again where it goes."
)
drop = _decision(
    "drop",
    "dropped {id} from {week}",
    "Take a paper out of the week's issue (no rerun brings it back; `restore` does).",
)
restore = _decision(
    "restore",
    "restored {id} in {week}",
    "Undo a drop: the ranker decides again where the paper goes.",
)


@user_errors
def edit(
    ctx: typer.Context,
    week: WeekArg,
    target: Annotated[
        str,
        typer.Argument(
            metavar="TARGET",
            help="intro, outro, summary:ID, narration:ID or oneliner:ID (ID alone = summary:ID).",
        ),
    ],
    author: AuthorOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Edit a text of the issue in $EDITOR; saved as your revision, which no LLM rerun
    overwrites. An empty or unchanged text changes nothing."""
    from pipeline.desk import compose

    week_name = parse_week(week)
    if ":" not in target and target not in (compose.INTRO, compose.OUTRO):
        target = f"summary:{target}"
    compose.parse_target(target)
    settings = ctx.obj.settings(database_url=database_url)
    engine = open_database(settings.database_url)
    try:
        before = compose.current_text(engine, week_name, target) or ""
        after = click.edit(before, extension=".txt", require_save=True)
        if after is None or not after.strip() or after.strip() == before.strip():
            out.print(f"{target} of {week_name}: no change", markup=False)
            return
        compose.edit(engine, week_name, target, after, author=author or user_name())
    finally:
        engine.dispose()
    out.print(f"saved your {target} for {week_name}", markup=False)


@user_errors
def approve(
    ctx: typer.Context,
    week: WeekArg,
    author: AuthorOpt = None,
    output_dir: OutOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Approve the week's issue for sending: missing texts are written and the files
    rendered again first when anything changed since the last render."""
    from pipeline.desk.approval import approve as approve_issue

    target = parse_week(week)
    settings = ctx.obj.settings(database_url=database_url, output_dir=output_dir)
    with pipeline_for(settings) as p:
        done = approve_issue(p, target, author=author or user_name())
    rendered = "re-rendered" if done.rendered else "files unchanged"
    out.print(
        f"approved {target} ({done.texts_written} texts written, {rendered}); "
        f"`newsletter send {target}` emails it",
        markup=False,
    )


@user_errors
def export(
    ctx: typer.Context,
    week: WeekArg,
    bibtex: Annotated[
        Path | None, typer.Option("--bibtex", metavar="FILE", help="Write BibTeX here.")
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option("--markdown", metavar="DIR", help="Write one Markdown note per paper here."),
    ] = None,
    database_url: DbOpt = None,
) -> None:
    """Export the week's kept papers as BibTeX or as Markdown notes (YAML front matter)."""
    from pipeline.desk import export as exporting
    from pipeline.render.files import write_atomic

    if (bibtex is None) == (markdown is None):
        raise UserInputError("give one of --bibtex FILE or --markdown DIR")
    target = parse_week(week)
    settings = ctx.obj.settings(database_url=database_url)
    engine = open_database(settings.database_url)
    try:
        if bibtex is not None:
            text = exporting.bibtex(engine, target)
            write_atomic(bibtex, text)
            count = text.count("\n@") + (1 if text.startswith("@") else 0)
            out.print(f"wrote {count} entries to {bibtex}", markup=False)
        elif markdown is not None:
            paths = exporting.markdown_notes(engine, target, markdown)
            out.print(f"wrote {len(paths)} notes to {markdown}", markup=False)
    finally:
        engine.dispose()
