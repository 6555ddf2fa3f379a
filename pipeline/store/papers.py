"""Paper rows: dedup by versionless id, version updates, near-duplicate links."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from pipeline.records import PaperRecord, title_key
from pipeline.store.db import locked_connection
from pipeline.store.models import Paper

PAPER = Paper.__table__  # type: ignore[attr-defined]

ExcludeReason = Callable[[str, str], "str | None"]
"""Why a paper (title, abstract) is excluded, or None: `fetch.filters.TermFilter.reason`."""


@dataclass
class IngestCounts:
    """What storing papers changed: how many of each outcome, and the new papers' ids."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    excluded: int = 0
    near_duplicates: int = 0
    new_ids: list[str] = field(default_factory=list)

    def add(self, other: IngestCounts) -> None:
        for name, n in other.as_dict().items():
            setattr(self, name, getattr(self, name) + n)
        self.new_ids.extend(other.new_ids)

    def as_dict(self) -> dict[str, int]:
        """The counts by name, in field order (`new_ids` left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "new_ids"}


def content_hash(r: PaperRecord) -> str:
    """What can change in a paper's metadata within one version. The dates are left out:
    `published` (v1's submission) and `updated` (the latest version's) move only with the
    version, and a repeated listing that reports another day is the same paper, not an
    update."""
    payload = "\x1f".join(
        (
            str(r.version),
            r.title,
            r.abstract,
            "\x1e".join(r.authors),
            "\x1e".join(r.categories),
            r.primary_category,
            r.comment or "\x00",
            r.journal_ref or "\x00",
            r.doi or "\x00",
        )
    )
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=16).hexdigest()


def _row(
    r: PaperRecord, digest: str, key: str, reason: str | None, now: datetime
) -> dict[str, object]:
    return {
        "id": r.id,
        "version": r.version,
        "title": r.title,
        "abstract": r.abstract,
        "authors": list(r.authors),
        "categories": list(r.categories),
        "primary_category": r.primary_category,
        "comment": r.comment,
        "journal_ref": r.journal_ref,
        "doi": r.doi,
        "published": r.published,
        "updated": r.updated,
        "last_changed": now,
        "title_key": key,
        "excluded_reason": reason,
        "content_hash": digest,
    }


def store_page(
    engine: Engine, records: Sequence[PaperRecord], excluded: ExcludeReason, now: datetime
) -> IngestCounts:
    """Store one page of records in one transaction, each new or changed one with the reason
    `excluded` gives (None: included); returns what changed. The rows read are locked; when
    a concurrent fetch inserted one of the papers first (IntegrityError on the id), the page
    is stored once more, against what that one wrote."""
    try:
        return _store_page(engine, records, excluded, now)
    except IntegrityError:
        return _store_page(engine, records, excluded, now)


def _store_page(
    engine: Engine, records: Sequence[PaperRecord], excluded: ExcludeReason, now: datetime
) -> IngestCounts:
    counts = IngestCounts()
    latest: dict[str, PaperRecord] = {}
    for r in records:
        seen = latest.get(r.id)
        if seen is not None:
            counts.unchanged += 1  # a repeated listing inside the page
            if r.version <= seen.version:
                continue
        latest[r.id] = r
    if not latest:
        return counts
    with locked_connection(engine) as conn:
        existing = {
            row.id: row
            for row in conn.execute(
                select(PAPER.c.id, PAPER.c.version, PAPER.c.content_hash)
                .where(PAPER.c.id.in_(list(latest)))
                .order_by(PAPER.c.id)
                .with_for_update()
            )
        }
        inserts: list[dict[str, object]] = []
        updates: list[dict[str, object]] = []
        for r in latest.values():
            digest = content_hash(r)
            old = existing.get(r.id)
            if old is not None and (
                r.version < old.version or (r.version == old.version and digest == old.content_hash)
            ):
                counts.unchanged += 1
                continue
            reason = excluded(r.title, r.abstract)
            counts.excluded += reason is not None
            row = _row(r, digest, title_key(r.title), reason, now)
            if old is None:
                counts.new += 1
                counts.new_ids.append(r.id)
                row["first_seen"] = now
                inserts.append(row)
            else:
                counts.updated += 1
                row["b_id"] = row.pop("id")
                updates.append(row)
        if inserts:
            _link_near_duplicates(conn, inserts)
            counts.near_duplicates += sum(1 for row in inserts if row["duplicate_of"])
            conn.execute(PAPER.insert(), inserts)
        if updates:
            cols: dict[str, Any] = {k: bindparam(k) for k in updates[0] if k != "b_id"}
            conn.execute(update(PAPER).where(PAPER.c.id == bindparam("b_id")).values(cols), updates)
    return counts


def _link_near_duplicates(conn: Connection, rows: list[dict[str, object]]) -> None:
    """A new paper whose normalised title matches an earlier paper's points at it."""
    keys = {str(r["title_key"]) for r in rows}
    first: dict[str, str] = {}
    for row in conn.execute(
        select(PAPER.c.title_key, PAPER.c.id)
        .where(PAPER.c.title_key.in_(keys))
        .order_by(PAPER.c.published, PAPER.c.id)
    ):
        first.setdefault(row.title_key, row.id)
    for r in rows:
        key = str(r["title_key"])
        original = first.get(key) if len(key) >= 12 else None
        r["duplicate_of"] = original if original != r["id"] else None
        first.setdefault(key, str(r["id"]))


def papers_by_ids(engine: Engine, ids: Iterable[str]) -> dict[str, Paper]:
    from sqlmodel import Session

    wanted = list(ids)
    with Session(engine) as s:
        rows = s.exec(select(Paper).where(Paper.id.in_(wanted))).all()  # type: ignore[attr-defined,call-overload]
    return {p.id: p for p in rows}


def apply_terms(engine: Engine, papers: Sequence[Paper], excluded: ExcludeReason) -> list[Paper]:
    """Re-apply the current include/exclude terms (`excluded`) to `papers`: a paper they now
    exclude gets its `excluded_reason` recorded and is left out of the result (and the other
    way round)."""
    keep: list[Paper] = []
    changed: list[dict[str, object]] = []
    for paper in papers:
        reason = excluded(paper.title, paper.abstract)
        if reason != paper.excluded_reason:
            changed.append({"b_id": paper.id, "excluded_reason": reason})
        if reason is None:
            keep.append(paper)
    if changed:
        with engine.begin() as conn:
            conn.execute(
                update(PAPER)
                .where(PAPER.c.id == bindparam("b_id"))
                .values(excluded_reason=bindparam("excluded_reason")),
                changed,
            )
    return keep
