"""The job the scheduler fires: the weekly run, then `send` when `schedule_send` -- or, when
`approval = "required"`, an email to the editor that the issue awaits approval.

Keep this module's name and the function's: `newsletter schedule` stores the job in the
database by reference, as "pipeline.schedule_job:weekly_run" (`WEEKLY_JOB` in
`pipeline.ops.schedule`), and every scheduler started later imports it from there. A stored
job outlives upgrades (it is kept, not re-created, while its rule is unchanged, so that a
missed run still fires). It drives the stages like `newsletter run`, so it sits beside
`runner` and `wiring`, above the stages, not in `pipeline.ops`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def weekly_run(config: str | None = None, overrides: dict[str, Any] | None = None) -> None:
    """`newsletter run` for the last complete week (`newsletter run --send` when
    `schedule_send`: `runner.run` decides what is sent), with the settings the scheduler was
    started with (re-read each time, so an edited newsletter.toml applies next week)."""
    from pipeline import runner, wiring
    from pipeline.config import load_settings
    from pipeline.mail.editor import notify_editor

    settings = load_settings(Path(config) if config else None, overrides)
    wiring.check_llm(settings)
    if settings.schedule.send:
        wiring.check_smtp(settings)
    with wiring.pipeline_for(settings) as p:
        required = settings.desk.approval == "required"
        result = runner.run(p, send=settings.schedule.send and not required)
        if required:
            notify_editor(settings, result.week)  # `send` waits for `newsletter approve`
    s = result.summarized
    log.warning(
        "weekly run of %s: %d candidates, %d summaries made, %d failed, %d files",
        result.week,
        result.ranked.candidates,
        s.made,
        s.failed,
        len(result.files),
    )
    if result.sent is not None:
        log.warning("%s", result.sent.summary())
        if result.sent.stopped:
            log.error("%s", result.sent.stopped_note())
