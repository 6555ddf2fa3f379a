"""Approving an issue: the texts it still lacks are written, its files rendered again if the
editor changed anything since, and only then is it marked approved (and published on the
archive site, which holds issues awaiting approval back). With the setting
`approval = "required"`, `send` refuses an issue that is not
(`pipeline.desk.review.check_approved`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline import runner
from pipeline.clock import utcnow
from pipeline.errors import NotFoundError
from pipeline.render.site import build_site
from pipeline.store import editor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Approved:
    week: str
    texts_written: int  # missing texts the LLM wrote first (e.g. of a newly pinned paper)
    rendered: bool  # whether the files were rendered again


def approve(p: runner.Pipeline, week: str, *, author: str) -> Approved:
    """Write missing texts, re-render when anything changed since the last render, then
    mark the issue approved by `author`. Another editor change clears the approval."""
    issue = editor.get_issue(p.engine, week)
    if issue is None:
        raise NotFoundError(f"no issue {week} yet: run `newsletter run --week {week}` first")
    with runner.locked(p, week, "approve"):
        made = 0
        if runner.estimate_summaries(p, week).calls:
            made = runner.summarize(p, week).made
        issue = editor.get_issue(p.engine, week)
        assert issue is not None
        render = bool(made) or issue.stale or issue.status not in ("rendered", "sent")
        if render:
            runner.render(p, week)
        editor.set_approved(p.engine, week, author=author, now=utcnow())
        build_site(p.engine, p.settings, templates=p.settings.site.templates_dir)  # now public
    log.info("issue %s approved by %s", week, author)
    return Approved(week, made, render)
