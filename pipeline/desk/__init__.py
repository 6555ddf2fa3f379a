"""The editor's desk: what an editor does to a week's issue.

    compose    pin, unpin, drop, restore, move papers; edit the texts (revisions)
    review     the week's ranked candidates as the desk shows them; progress; approval state
    approval   approve an issue (texts written and files rendered first)
    learning   screening labels (seen / downloaded / kept) the ranker learns from; the
               cold-start round
    export     a week's kept papers as BibTeX or Markdown notes
    layout     the rule that turns the ranker's proposal and the editor's decisions into the
               issue's items (the rank stage applies it too)

Every function takes plain values (the engine or the `runner.Pipeline`, a week, a paper id,
the author's name) and returns plain values; `pipeline.web.desk` and `pipeline.cli.desk`
are its two callers. An editor's decisions live in their own tables (`store.editor`): no
rerun of a stage overwrites them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.runner import Pipeline


def resummarize(pipeline: Pipeline, week: str, paper_id: str) -> int:
    """Ask the LLM again for the texts of one paper of the issue (an editor's revision of
    a text still wins over the new one); returns how many texts were written."""
    from pipeline.desk.texts import resummarize as run

    return run(pipeline, week, paper_id)


__all__ = ["resummarize"]
