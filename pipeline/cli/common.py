"""What every command shares: output consoles, error handling, the global options and
settings, the common flags, and the pipeline's clients (built by `pipeline.wiring`).

User errors (`NewsletterError`) become one line on stderr and an exit code;
anything else is a bug and raises.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from pipeline import runner, wiring
from pipeline.config import Settings, load_settings, parse_sets
from pipeline.errors import NewsletterError
from pipeline.ops import logfile
from pipeline.ops.progress import Bars
from pipeline.records import last_complete_week, parse_week

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)
P = ParamSpec("P")
R = TypeVar("R")


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a NewsletterError into one line on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except NewsletterError as exc:
            err.print(f"error: {exc}", markup=False, emoji=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


class State:
    def __init__(self, config: Path | None, sets: list[str]) -> None:
        self.config = config
        self.sets = sets

    def overrides(self) -> dict[str, Any]:
        """The `--set key=value` pairs."""
        return parse_sets(self.sets)

    def settings(self, **flags: Any) -> Settings:
        overrides = self.overrides()
        overrides.update({k: v for k, v in flags.items() if v is not None})
        settings = load_settings(self.config, overrides)
        logfile.log_to_file(settings.log_path)
        return settings


def add_group(
    app: typer.Typer, name: str, help: str, commands: dict[str, Callable[..., None]]
) -> None:
    """Register `newsletter NAME COMMAND ...`: a command group with its subcommands."""
    group = typer.Typer(help=help)
    for command, fn in commands.items():
        group.command(command)(fn)
    app.add_typer(group, name=name)


def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Settings file (default: ./newsletter.toml)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override any setting: --set highlights=7 (repeatable)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    logfile.configure(verbose)
    ctx.obj = State(config, set_ or [])


WeekOpt = Annotated[str | None, typer.Option("--week", "-w", help="ISO week, e.g. 2026-W25.")]
OutOpt = Annotated[Path | None, typer.Option("--output-dir", help="Where issues are written.")]
DbOpt = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy database URL.")]
BudgetOpt = Annotated[
    float | None,
    typer.Option("--budget", min=0, help="Stop starting LLM calls once this many USD are spent."),
]
TemplatesOpt = Annotated[
    Path | None, typer.Option(help="Template directory that overrides the built-ins.")
]
AudioOpt = Annotated[
    bool,
    typer.Option("--audio", help="Also make podcast.mp3 (the engine of [podcast] tts)."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        max=64,
        help="SMTP connections to send over at once (default: smtp_workers, 1); smtp_rate "
        "caps them together.",
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the LLM calls, tokens and cost; send nothing.")
]


def pipeline_for(settings: Settings) -> AbstractContextManager[runner.Pipeline]:
    """The stages' clients (see `pipeline.wiring`), with progress bars on `err`."""
    return wiring.pipeline_for(settings, Bars(err))


def week_or_default(value: str | None, p: runner.Pipeline) -> str:
    return parse_week(value) if value else last_complete_week(p.now())
