"""SQLModel tables. Schema changes go through the migrations in `db/migrations/`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


class Paper(SQLModel, table=True):
    """One row per versionless arXiv id; a newer version updates the row in place."""

    __tablename__ = "paper"

    id: str = Field(primary_key=True)
    version: int
    title: str
    abstract: str
    authors: list[str] = Field(sa_column=Column(JSON, nullable=False))
    categories: list[str] = Field(sa_column=Column(JSON, nullable=False))
    primary_category: str = Field(index=True)
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    published: datetime = Field(index=True)
    updated: datetime
    first_seen: datetime
    last_changed: datetime
    title_key: str = Field(index=True)
    duplicate_of: str | None = None
    excluded_reason: str | None = None
    content_hash: str


class FetchState(SQLModel, table=True):
    """The watermark of one query (the categories): fetched completely up to `until`."""

    __tablename__ = "fetch_state"

    query: str = Field(primary_key=True)
    until: datetime
    updated_at: datetime


class Run(SQLModel, table=True):
    """One stage of one run: what it did, what it cost, how it ended."""

    __tablename__ = "run"

    id: int | None = Field(default=None, primary_key=True)
    stage: str = Field(index=True)
    week: str | None = Field(default=None, index=True)
    started: datetime
    finished: datetime | None = None
    status: str = "running"
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = None


class TextKey(SQLModel):
    """The cache key of an LLM text: paper version, kind, prompt hash, model, parameters."""

    paper_id: str = Field(index=True)
    version: int
    kind: str
    prompt_hash: str
    model: str
    params_hash: str


class Summary(TextKey, table=True):
    """An LLM text about one paper version, cached by prompt hash, model and parameters."""

    __tablename__ = "summary"
    __table_args__ = (
        UniqueConstraint("paper_id", "version", "kind", "prompt_hash", "model", "params_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    created: datetime
    source: str = "abstract"  # what the model read: abstract | html | pdf
    note: str | None = None  # e.g. how the full text was cut
    # What the text says that its source does not, as "kind:value" (pipeline.summarize.faithfulness;
    # older rows hold bare numbers): shown to the reader.
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class SummaryFailure(TextKey, table=True):
    """A text the model was asked for and answered unusably, after its one retry (or that a
    content filter refused), under the same cache key as `Summary`: the next run does not ask
    again; `regenerate --resummarize` does. Transient failures are never stored here."""

    __tablename__ = "summary_failure"
    __table_args__ = (
        UniqueConstraint("paper_id", "version", "kind", "prompt_hash", "model", "params_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    error: str
    created: datetime


class LLMCall(SQLModel, table=True):
    """Every model call, successful or not: you can always answer what it cost and why."""

    __tablename__ = "llm_call"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, index=True)
    model: str
    prompt_name: str
    prompt_hash: str
    paper_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    duration_ms: int = 0
    cost_usd: float = 0.0
    status: str
    error: str | None = None
    created: datetime


class Issue(SQLModel, table=True):
    """One newsletter issue: an ISO week such as 2026-W25."""

    __tablename__ = "issue"

    week: str = Field(primary_key=True)
    status: str = "ranked"
    created: datetime
    model: str = ""
    candidates: int = 0
    # The arXiv categories it covered (empty in issues made before this was stored).
    categories: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    # The editor's desk (pipeline.desk): who approved it and when (cleared by a later change),
    # when the editor last changed it, and whether its files predate that change.
    approved_at: datetime | None = None
    approved_by: str | None = None
    edited_at: datetime | None = None
    stale: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})


class IssueItem(SQLModel, table=True):
    """A paper placed in an issue: its section, position, score and why it was picked."""

    __tablename__ = "issue_item"
    __table_args__ = (
        UniqueConstraint("issue_week", "paper_id"),
        Index("ix_issue_item_order", "issue_week", "section", "position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    issue_week: str = Field(foreign_key="issue.week")
    paper_id: str = Field(foreign_key="paper.id")
    version: int
    section: str
    position: int
    score: float
    explanation: str


class Feedback(SQLModel, table=True):
    """A reader's signal about a paper: liked, disliked, downloaded, kept, clicked.

    The title is kept with it: imported reading logs name papers this database may never
    have fetched, and the ranker learns from their titles."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("paper_id", "signal", "source"),)

    id: int | None = Field(default=None, primary_key=True)
    paper_id: str = Field(index=True)
    signal: str  # like | dislike | downloaded | kept | click | seen
    value: int  # +1 interested, -1 not, 0 shown (a "seen" title not picked, unless picked)
    source: str  # cli | import | email | desk
    title: str = ""
    paper_date: datetime | None = None
    at: datetime


class Embedding(SQLModel, table=True):
    """A cached text embedding of one paper (title + abstract) by one model."""

    __tablename__ = "embedding"

    paper_id: str = Field(primary_key=True)
    model: str = Field(primary_key=True)
    text_hash: str
    dim: int
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Subscriber(SQLModel, table=True):
    """Someone on the mailing list. Only `active` subscribers are sent an issue."""

    __tablename__ = "subscriber"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True)  # normalised: see pipeline.mail.subscribers.normalise_email
    name: str = ""
    status: str = Field(default="pending", index=True)  # pending|active|unsubscribed|bounced
    source: str = "cli"  # cli | import | web
    created: datetime
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    bounced_at: datetime | None = None


class Delivery(SQLModel, table=True):
    """One issue to one subscriber: claimed before sending, marked after; never two."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("issue_week", "subscriber_id"),
        Index("ix_delivery_week_status", "issue_week", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    issue_week: str = Field(foreign_key="issue.week", index=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    status: str = "sending"  # sending | sent | failed
    attempts: int = 0
    message_id: str = ""
    claimed_at: datetime
    claimed_by: str | None = None  # the sender's lock owner (host:pid:random) holding the claim
    sent_at: datetime | None = None
    error: str | None = None


class FeedbackClick(SQLModel, table=True):
    """A 👍/👎 link followed in an emailed issue (the ranker learns from `feedback`)."""

    __tablename__ = "feedback_click"
    __table_args__ = (UniqueConstraint("subscriber_id", "paper_id", "signal"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    paper_id: str
    issue_week: str
    signal: str  # like | dislike
    at: datetime


class RunLock(SQLModel, table=True):
    """Who is building an issue right now; a lock whose heartbeat stops goes stale."""

    __tablename__ = "run_lock"

    name: str = Field(primary_key=True)  # "week:2026-W25"
    owner: str  # host:pid:random, unique per holder
    command: str = ""  # what holds it: run, regenerate, render, send, schedule
    acquired_at: datetime
    heartbeat_at: datetime


class Candidate(SQLModel, table=True):
    """One paper of a week's whole ranked list (the rank stage writes it), with the section
    the ranker proposed for it ("highlight", "also" or "" for the rest)."""

    __tablename__ = "candidate"
    __table_args__ = (Index("ix_candidate_order", "week", "rank"),)

    week: str = Field(primary_key=True)
    paper_id: str = Field(primary_key=True)
    version: int
    rank: int  # 0 = best score
    score: float
    explanation: str
    section: str = ""
    position: int = 0  # within the proposed section


class EditorPlacement(SQLModel, table=True):
    """What the editor decided about one paper of a week: pinned in a section ("highlight"
    or "also", at `position` among that section's pins) or dropped from the issue. Ranker
    reruns never undo it."""

    __tablename__ = "editor_placement"

    week: str = Field(primary_key=True)
    paper_id: str = Field(primary_key=True)
    pinned: bool = False
    section: str = "highlight"  # where a pinned paper goes
    position: int | None = None
    dropped: bool = False
    author: str
    updated: datetime


class EditorRevision(SQLModel, table=True):
    """An editor's text for part of an issue ("intro", "outro", "summary:<id>", ...); the
    newest per (week, target) is shown, older ones are kept as history."""

    __tablename__ = "editor_revision"
    __table_args__ = (Index("ix_editor_revision_target", "week", "target"),)

    id: int | None = Field(default=None, primary_key=True)
    week: str
    target: str
    text: str
    author: str
    created: datetime
