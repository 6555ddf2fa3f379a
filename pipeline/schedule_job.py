"""The job the scheduler fires (referenced by name from the job store, so it lives alone)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def weekly_run(config: str | None = None, overrides: dict[str, Any] | None = None) -> None:
    """`newsletter run` for the last complete week (then `send` when `schedule_send`), with
    the settings the scheduler was started with (re-read each time, so an edited
    newsletter.toml applies next week)."""
    from pipeline import preflight, runner
    from pipeline.cli_common import pipeline_for
    from pipeline.config import load_settings

    settings = load_settings(Path(config) if config else None, overrides)
    preflight.check_llm(settings)
    if settings.schedule_send:
        preflight.check_smtp(settings)
    with pipeline_for(settings) as p:
        result = runner.run(p)
        if settings.schedule_send:
            from pipeline.mail.send import send_issue

            log.warning("%s", send_issue(p.engine, settings, result.week).summary())
    s = result.summarized
    log.warning(
        "weekly run of %s: %d candidates, %d summaries made, %d failed, %d files",
        result.week,
        result.ranked.candidates,
        s.made,
        s.failed,
        len(result.files),
    )
