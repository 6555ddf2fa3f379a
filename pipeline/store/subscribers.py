"""The mailing list: who is sent each issue, and how an address moves between statuses.

Addresses are stored normalised (`normalise_email`): checked by `email-validator`, then the
whole address is lowercased. Assumption: mailbox names are case-insensitive, as at every major
provider, so `Ann@Example.org` and `ann@example.org` are one subscriber.

Statuses: pending (signed up, not yet confirmed), active (sent each issue), unsubscribed (asked
to leave), bounced (the address does not take mail). Only active addresses are sent an issue.

- `add` and `import_csv` (the operator): a new address is inserted with the status given.
  A pending address becomes active when added as active; an active one is never set back to
  pending. An unsubscribed or bounced address is left exactly as it is: re-importing an old
  list must not put back someone who left. `reactivate=True` (`--reactivate`) is the explicit
  override. Adding as unsubscribed records an opt-out and applies to any address. A non-empty
  name replaces the stored one.
- `subscribe_pending` (web sign-up): a new address is pending; a pending or active one is
  returned unchanged; an unsubscribed or bounced one goes back to pending (the person asked
  again) and becomes active only by confirming.
- `confirm`: pending -> active. Active stays active; unsubscribed and bounced are not changed.
- `unsubscribe` and `remove`: any status -> unsubscribed; idempotent.
- `mark_bounced`: -> bounced, except that unsubscribed stays unsubscribed (bounced_at is set).

`confirmed_at`, `unsubscribed_at` and `bounced_at` record when that last happened and are kept
as history when the status changes again. Names are stored as given (stripped), but a name with
a line break or control character is refused: names end up in email headers.

CSV import reads `email` and the optional `name` and `status` (active, pending, unsubscribed)
and ignores other columns, so a file from `export_csv` imports back with its statuses, except
bounced rows: export writes them, import rejects them. Imported rows get source "import".
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from pipeline.clock import utcnow
from pipeline.errors import NotFoundError, UserInputError
from pipeline.store.db import session
from pipeline.store.models import Subscriber

log = logging.getLogger(__name__)

STATUSES = ("pending", "active", "unsubscribed", "bounced")
IMPORT_STATUSES = ("active", "pending", "unsubscribed")
EXPORT_COLUMNS = ("email", "name", "status", "source", "created", "confirmed_at", "unsubscribed_at")
MAX_EMAIL_LENGTH = 254
_UNSAFE = {"Cc", "Zl", "Zp"}  # control characters, line and paragraph separators
_LEFT = ("unsubscribed", "bounced")
T = TypeVar("T")


def _unsafe(text: str) -> bool:
    return any(unicodedata.category(c) in _UNSAFE for c in text)


def _show(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def normalise_email(raw: str) -> str:
    """The address as stored: stripped, validated, lowercased; UserInputError if unusable."""
    text = raw.strip()
    if _unsafe(text):
        reason = "it contains a line break or control character"
    elif len(text) > MAX_EMAIL_LENGTH:
        reason = f"longer than {MAX_EMAIL_LENGTH} characters"
    else:
        try:
            return validate_email(text, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            reason = str(exc)
    raise UserInputError(f"not an email address: {_show(text)} ({reason})")


def check_name(name: str) -> str:
    """The name stripped; UserInputError if it has a line break or control character."""
    text = name.strip()
    if _unsafe(text):
        raise UserInputError(f"name {_show(text)} contains a line break or control character")
    return text


def _transaction(engine: Engine, work: Callable[[Session], T]) -> T:
    """Run `work` in one transaction; once more if a concurrent insert took the same address."""
    try:
        with session(engine) as s:
            return work(s)
    except IntegrityError:
        with session(engine) as s:
            return work(s)


def _by_email(s: Session, address: str) -> Subscriber | None:
    return s.exec(select(Subscriber).where(Subscriber.email == address)).first()


def _apply(
    s: Session,
    row: Subscriber | None,
    address: str,
    name: str,
    status: str,
    source: str,
    reactivate: bool,
) -> tuple[Subscriber, str]:
    """The operator's add rules; the outcome is added, updated, unchanged or kept (left out)."""
    now = utcnow()
    if row is None:
        row = Subscriber(email=address, name=name, status=status, source=source, created=now)
        row.confirmed_at = now if status == "active" else None
        row.unsubscribed_at = now if status == "unsubscribed" else None
        s.add(row)
        return row, "added"
    if row.status in _LEFT and status != "unsubscribed" and not reactivate:
        return row, "kept"
    before = (row.status, row.name)
    row.name = name or row.name
    if status == "unsubscribed" and row.status != "unsubscribed":
        row.status, row.unsubscribed_at = "unsubscribed", now
    elif status != "unsubscribed" and row.status in _LEFT:  # reactivate
        row.status = status
        row.confirmed_at = now if status == "active" else row.confirmed_at
    elif status == "active" and row.status == "pending":
        row.status, row.confirmed_at = "active", now
    if (row.status, row.name) == before:
        return row, "unchanged"
    s.add(row)
    return row, "updated"


def add(
    engine: Engine,
    email: str,
    name: str = "",
    *,
    status: str = "active",
    source: str = "cli",
    reactivate: bool = False,
) -> tuple[Subscriber, bool]:
    """Add or update one address by the rules above; True when it was new."""
    if status not in IMPORT_STATUSES:
        raise ValueError(f"add cannot set status {status!r}")
    address, clean = normalise_email(email), check_name(name)

    def work(s: Session) -> tuple[Subscriber, bool]:
        row, outcome = _apply(s, _by_email(s, address), address, clean, status, source, reactivate)
        return row, outcome == "added"

    return _transaction(engine, work)


def subscribe_pending(
    engine: Engine, email: str, name: str = "", source: str = "web"
) -> Subscriber:
    """A sign-up: a new or departed address becomes pending; others are returned as they are."""
    address, clean = normalise_email(email), check_name(name)

    def work(s: Session) -> Subscriber:
        row = _by_email(s, address)
        if row is None:
            row = Subscriber(
                email=address, name=clean, status="pending", source=source, created=utcnow()
            )
        elif row.status in _LEFT:
            row.status, row.name = "pending", clean or row.name
        else:
            return row
        s.add(row)
        return row

    return _transaction(engine, work)


def _missing(address: str) -> NotFoundError:
    return NotFoundError(f"no subscriber {address}; see `newsletter subscribers list`")


def confirm(engine: Engine, email: str) -> Subscriber:
    """Pending -> active (sets confirmed_at); any other status is left as it is."""
    address = normalise_email(email)
    with session(engine) as s:
        row = _by_email(s, address)
        if row is None:
            raise _missing(address)
        if row.status == "pending":
            row.status, row.confirmed_at = "active", utcnow()
            s.add(row)
        return row


def _unsubscribe(s: Session, row: Subscriber) -> Subscriber:
    if row.status != "unsubscribed":
        row.status, row.unsubscribed_at = "unsubscribed", utcnow()
        s.add(row)
    return row


def unsubscribe(engine: Engine, subscriber_id: int) -> Subscriber | None:
    """Unsubscribe by id (idempotent); None when there is no such subscriber."""
    with session(engine) as s:
        row = s.get(Subscriber, subscriber_id)
        return None if row is None else _unsubscribe(s, row)


def remove(engine: Engine, email: str) -> Subscriber:
    """Unsubscribe by address: the row stays, so a re-import cannot put them back."""
    address = normalise_email(email)
    with session(engine) as s:
        row = _by_email(s, address)
        if row is None:
            raise _missing(address)
        return _unsubscribe(s, row)


def mark_bounced(engine: Engine, subscriber_id: int, reason: str) -> Subscriber | None:
    """The address does not take mail: stop sending to it. None when there is no such id."""
    with session(engine) as s:
        row = s.get(Subscriber, subscriber_id)
        if row is None:
            return None
        log.warning("subscriber %s bounced: %s", subscriber_id, reason)
        row.bounced_at = utcnow()
        if row.status != "unsubscribed":
            row.status = "bounced"
        s.add(row)
        return row


def get(engine: Engine, subscriber_id: int) -> Subscriber | None:
    with session(engine) as s:
        return s.get(Subscriber, subscriber_id)


def active_ids(engine: Engine) -> list[int]:
    with session(engine) as s:
        query = (
            select(Subscriber.id).where(Subscriber.status == "active").order_by(col(Subscriber.id))
        )
        return [i for i in s.exec(query).all() if i is not None]


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise UserInputError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    return status


def list_subscribers(engine: Engine, status: str | None = None) -> list[Subscriber]:
    """Every subscriber (or those with one status), ordered by address."""
    query = select(Subscriber).order_by(Subscriber.email)
    if status is not None:
        query = query.where(Subscriber.status == check_status(status))
    with session(engine) as s:
        return list(s.exec(query).all())


def counts(engine: Engine) -> dict[str, int]:
    """How many subscribers have each status (every status listed, zeros included)."""
    with session(engine) as s:
        found = s.exec(select(Subscriber.status, func.count()).group_by(Subscriber.status)).all()
    return {name: 0 for name in STATUSES} | dict(found)


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0  # of the unchanged: unsubscribed or bounced, not put back without reactivate
    rejected: list[str] = field(default_factory=list)  # "line 7: reason"


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The lowercased header and the rows, each with the line it starts on."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip().lower() for h in next(reader, [])]
            rows: list[tuple[int, list[str]]] = []
            line = reader.line_num + 1
            for cells in reader:
                rows.append((line, cells))
                line = reader.line_num + 1
    except OSError as exc:
        raise UserInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{path} is not UTF-8 text; save it as UTF-8 CSV") from None
    except csv.Error as exc:
        raise UserInputError(
            f"{path}, line {reader.line_num}: not readable as CSV: {exc}"
        ) from None
    if "email" not in header:
        raise UserInputError(
            f"{path}: the first row must be a header with an `email` column "
            f"(optional: name, status); found {_show(','.join(header))}"
        )
    return header, rows


def import_csv(engine: Engine, path: Path, *, reactivate: bool = False) -> ImportReport:
    """Add or update every row by the rules above, in one transaction; bad rows are reported."""
    header, rows = _read_csv(Path(path))
    column = {name: header.index(name) for name in ("email", "name", "status") if name in header}
    rejected: list[str] = []
    wanted: dict[str, tuple[str, str]] = {}  # address -> (name, status), the first row wins
    first_line: dict[str, int] = {}
    for line, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        email, name, status = (
            cells[column[k]] if k in column and column[k] < len(cells) else ""
            for k in ("email", "name", "status")
        )
        status = status.strip().lower() or "active"
        try:
            if not email.strip():
                raise UserInputError("no email address")
            address, name = normalise_email(email), check_name(name)
            if status == "bounced":
                raise UserInputError("bounced addresses are not imported")
            if status not in IMPORT_STATUSES:
                raise UserInputError(
                    f"unknown status {_show(status)}; use active, pending or unsubscribed"
                )
            if address in wanted:
                raise UserInputError(f"{address} repeats line {first_line[address]}")
        except UserInputError as exc:
            rejected.append(f"line {line}: {exc}")
            continue
        wanted[address], first_line[address] = (name, status), line

    def work(s: Session) -> ImportReport:
        report = ImportReport(rejected=rejected)
        addresses = list(wanted)
        existing: dict[str, Subscriber] = {}
        for start in range(0, len(addresses), 500):
            chunk = addresses[start : start + 500]
            query = select(Subscriber).where(col(Subscriber.email).in_(chunk))
            existing.update((row.email, row) for row in s.exec(query).all())
        for address, (name, status) in wanted.items():
            row = existing.get(address)
            _, outcome = _apply(s, row, address, name, status, "import", reactivate)
            if outcome == "kept":
                report.kept += 1
                outcome = "unchanged"
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    return _transaction(engine, work)


def _iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


def export_csv(engine: Engine, path: Path, status: str | None = None) -> int:
    """Write the list as CSV, atomically and readable by the owner only (it is personal data)."""
    rows, target = list_subscribers(engine, status), Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UserInputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(EXPORT_COLUMNS)
            for r in rows:
                writer.writerow(
                    [r.email, r.name, r.status, r.source, _iso(r.created)]
                    + [_iso(r.confirmed_at), _iso(r.unsubscribed_at)]
                )
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserInputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(rows)
