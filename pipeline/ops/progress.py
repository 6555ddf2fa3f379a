"""Progress bars for long stages (fetch, ranking, summaries, sending): rich on a terminal,
silent otherwise (cron, systemd, CI logs get the one-line summaries instead)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


class Tracker(Protocol):
    def advance(self, n: int = 1) -> None: ...


class Reporter(Protocol):
    def task(self, label: str, total: int | None = None) -> AbstractContextManager[Tracker]: ...


class _Null:
    def advance(self, n: int = 1) -> None:
        pass


class Quiet:
    """No output at all."""

    @contextmanager
    def task(self, label: str, total: int | None = None) -> Iterator[Tracker]:
        yield _Null()


class _RichTask:
    def __init__(self, progress: Progress, task_id: int) -> None:
        self._progress, self._id = progress, task_id

    def advance(self, n: int = 1) -> None:
        self._progress.advance(self._id, n)  # type: ignore[arg-type]


class Bars:
    """A rich progress bar per task, on `console` (stderr), only when it is a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @contextmanager
    def task(self, label: str, total: int | None = None) -> Iterator[Tracker]:
        if not self.console.is_terminal:
            yield _Null()
            return
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as progress:
            yield _RichTask(progress, progress.add_task(label, total=total))
