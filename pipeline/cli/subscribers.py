"""`newsletter subscribers add|remove|list|import|export`: the mailing list.

The status rules (who may be put back on the list, and how) are in `pipeline.store.subscribers`,
the address checks and CSV files in `pipeline.mail.subscribers`.
Names and addresses are printed as plain text, never as rich markup.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.cells import cell_len
from sqlalchemy import Engine

from pipeline.cli.common import DbOpt, add_group, err, out, user_errors
from pipeline.errors import UserInputError
from pipeline.store.db import open_database

StatusOpt = Annotated[
    str | None,
    typer.Option("--status", help="Only this status: pending, active, unsubscribed, bounced."),
]
ReactivateOpt = Annotated[
    bool,
    typer.Option(
        "--reactivate",
        help="Put back unsubscribed or bounced addresses (only if they asked to come back).",
    ),
]


def _say(text: str, *, stderr: bool = False) -> None:
    """Print untrusted text as it is: no markup, no :emoji: codes."""
    (err if stderr else out).print(text, markup=False, emoji=False, soft_wrap=True)


def _engine(ctx: typer.Context, database_url: str | None) -> Engine:
    return open_database(ctx.obj.settings(database_url=database_url).database_url)


def register(app: typer.Typer) -> None:
    help = "The mailing list: add, remove, list, import, export."
    commands: dict[str, Callable[..., None]] = {
        "add": subscribers_add,
        "remove": subscribers_remove,
        "list": subscribers_list,
        "import": subscribers_import,
        "export": subscribers_export,
    }
    add_group(app, "subscribers", help, commands)


@user_errors
def subscribers_add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The address to add.")],
    name: Annotated[str, typer.Option("--name", help="How to greet them.")] = "",
    pending: Annotated[
        bool, typer.Option("--pending", help="Add as pending: active once they confirm.")
    ] = False,
    reactivate: ReactivateOpt = False,
    database_url: DbOpt = None,
) -> None:
    """Add an address (active unless --pending); an existing one keeps its row."""
    from pipeline.mail.subscribers import add

    wanted = "pending" if pending else "active"
    engine = _engine(ctx, database_url)
    try:
        row, created = add(engine, email, name, status=wanted, reactivate=reactivate)
    finally:
        engine.dispose()
    if row.status in ("unsubscribed", "bounced"):
        raise UserInputError(
            f"{row.email} is {row.status} and was left so; add --reactivate only if they "
            "asked to be put back"
        )
    verb = "added" if created else "already on the list:"
    _say(f"{verb} {row.email} ({row.status})")


@user_errors
def subscribers_remove(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The address to unsubscribe.")],
    database_url: DbOpt = None,
) -> None:
    """Unsubscribe an address; its row stays, so a later import cannot put it back."""
    from pipeline.mail.subscribers import remove

    engine = _engine(ctx, database_url)
    try:
        row = remove(engine, email)
    finally:
        engine.dispose()
    _say(f"unsubscribed {row.email}")


@user_errors
def subscribers_list(
    ctx: typer.Context, status: StatusOpt = None, database_url: DbOpt = None
) -> None:
    """Print the subscribers (email, name, status, source, date added) and counts per status."""
    from pipeline.mail.subscribers import list_subscribers
    from pipeline.store.subscribers import counts

    engine = _engine(ctx, database_url)
    try:
        rows = list_subscribers(engine, status)
        per_status = counts(engine)
    finally:
        engine.dispose()
    table = [("EMAIL", "NAME", "STATUS", "SOURCE", "CREATED")] + [
        (r.email, r.name, r.status, r.source, r.created.date().isoformat()) for r in rows
    ]
    widths = [max(cell_len(line[i]) for line in table) for i in range(4)]
    if rows:
        for line in table:
            cells = [c + " " * (w - cell_len(c)) for c, w in zip(line, widths, strict=False)]
            _say("  ".join([*cells, line[4]]))
    else:
        _say("no subscribers" + (f" with status {status}" if status else ""))
    for name, n in per_status.items():
        _say(f"{name}: {n}")


@user_errors
def subscribers_import(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(metavar="FILE.csv", help="A header row with email[,name,status].")
    ],
    reactivate: ReactivateOpt = False,
    database_url: DbOpt = None,
) -> None:
    """Import addresses from CSV (idempotent); unsubscribed ones are not put back."""
    from pipeline.mail.subscribers import import_csv

    engine = _engine(ctx, database_url)
    try:
        report = import_csv(engine, path, reactivate=reactivate)
    finally:
        engine.dispose()
    _say(
        f"imported {path}: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected"
    )
    if report.kept:
        _say(
            f"  {report.kept} unsubscribed or bounced addresses were left so "
            "(--reactivate puts them back, only if they asked)",
            stderr=True,
        )
    for reason in report.rejected[:20]:
        _say(f"  rejected {reason}", stderr=True)
    if len(report.rejected) > 20:
        _say(f"  ... and {len(report.rejected) - 20} more", stderr=True)


@user_errors
def subscribers_export(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="FILE.csv", help="Where to write the CSV.")],
    status: StatusOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Write the list as CSV: email,name,status,source,created,confirmed_at,unsubscribed_at."""
    from pipeline.mail.subscribers import export_csv

    engine = _engine(ctx, database_url)
    try:
        n = export_csv(engine, path, status)
    finally:
        engine.dispose()
    _say(f"exported {n} subscribers to {path}")
