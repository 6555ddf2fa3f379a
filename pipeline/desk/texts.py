"""Asking the LLM again for one paper's texts, on the editor's request."""

from __future__ import annotations

from pipeline import runner
from pipeline.clock import utcnow
from pipeline.errors import NotFoundError
from pipeline.store import editor


def resummarize(p: runner.Pipeline, week: str, paper_id: str) -> int:
    """Write the paper's texts again (summary, narration or one-liner, as its section needs),
    even when cached; the editor's revisions still win. Returns the texts written."""
    if paper_id not in {i.paper_id for i in editor.issue_items(p.engine, week)}:
        raise NotFoundError(f"{paper_id} is not in issue {week}: pin it first")
    with runner.locked(p, week, "resummarize"):
        result = runner.summarize(p, week, force=True, only=frozenset({paper_id}))
    if result.made:
        editor.mark_edited(p.engine, week, utcnow())
    return result.made
