"""Progress bars: drawn on a terminal, silent otherwise."""

from __future__ import annotations

import io

from rich.console import Console

from pipeline.ops.progress import Bars, Quiet


def test_bars_draw_on_a_terminal() -> None:
    buf = io.StringIO()
    bars = Bars(Console(file=buf, force_terminal=True, width=100))
    with bars.task("writing summaries", total=3) as bar:
        for _ in range(3):
            bar.advance()
    assert "writing summaries" in buf.getvalue() and "3/3" in buf.getvalue()


def test_bars_are_silent_when_not_a_terminal() -> None:
    buf = io.StringIO()
    with Bars(Console(file=buf, force_terminal=False)).task("fetching", total=None) as bar:
        bar.advance(10)
    with Quiet().task("anything") as bar:
        bar.advance()
    assert buf.getvalue() == ""
