"""The command line: `newsletter` (the console script `pipeline.cli:main`), also run as
`python -m pipeline.cli`. It parses flags, builds settings and clients once (through
`pipeline.wiring`) and calls the stages; a user error (`NewsletterError`) becomes one line on
stderr and an exit code, anything else is a bug and raises.

Each module below registers one group of commands, and `GROUPS` is the one list of them, in
the order `newsletter --help` shows (Typer lists the two with subcommands last):

    run           run, demo: the weekly job
    stages        fetch, rank, summarize, render, regenerate: one stage at a time
    send          send: an issue to the mailing list
    subscribers   subscribers add|remove|list|import|export
    feedback      feedback add|import
    serve         serve: the archive site and the links in emails
    schedule      schedule: the weekly job on a cron rule
    status        status
    desk          pin, unpin, drop, restore, edit, approve, export: the editor's desk
    devtools      arxiv-server, rank-csv: for demos and benchmarks

What the commands share is in `common` (flags, settings, errors) and `report` (what the
stage commands print).
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from pipeline.cli import (
    desk,
    devtools,
    feedback,
    run,
    schedule,
    send,
    serve,
    stages,
    status,
    subscribers,
)
from pipeline.cli.common import main_options

GROUPS: tuple[Callable[[typer.Typer], None], ...] = (
    run.register,
    stages.register,
    send.register,
    subscribers.register,
    feedback.register,
    serve.register,
    schedule.register,
    status.register,
    desk.register,
    devtools.register,
)


def build_app() -> typer.Typer:
    """The Typer app with the global options and every command group."""
    app = typer.Typer(
        help="Turn each week's new arXiv papers into a newsletter.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(main_options)
    for register in GROUPS:
        register(app)
    return app


app = build_app()


def main() -> None:
    app()


__all__ = ["GROUPS", "app", "build_app", "main"]
