"""The one clock: every "now" the program stores, compares or prints comes from `utcnow`.

It is timezone-aware UTC with the full microsecond precision of `datetime.now`, which is
what every stored timestamp has always held (SQLite keeps them as naive
`YYYY-MM-DD HH:MM:SS.ffffff` text, read back as UTC).  Rounding is left to the one place
that needs it: a fetch window ends on a whole minute (`runner.default_window`), and email
headers and file stamps print whole seconds.  Tests replace the clock through
`runner.Pipeline.now`, or by monkeypatching `pipeline.clock.utcnow`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
