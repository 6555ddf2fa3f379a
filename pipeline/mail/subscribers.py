"""The mailing list as the operator and the sign-up form see it: addresses and names checked,
CSV files read and written, and the user's wording. The rows and the status rules (who may be
put back on the list, and how) are in `pipeline.store.subscribers`.

Addresses are stored normalised (`normalise_email`): checked by `email-validator`, then the
whole address is lowercased. Assumption: mailbox names are case-insensitive, as at every major
provider, so `Ann@Example.org` and `ann@example.org` are one subscriber. Names are stored as
given (stripped), but a name with a line break or control character is refused: names end up
in email headers.

CSV import reads `email` and the optional `name` and `status` (active, pending, unsubscribed)
and ignores other columns, so a file from `export_csv` imports back with its statuses, except
bounced rows: export writes them, import rejects them. Imported rows get source "import".
"""

from __future__ import annotations

import csv
import os
import tempfile
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Engine

from pipeline.errors import NotFoundError, UserInputError
from pipeline.store import subscribers as rows
from pipeline.store.models import Subscriber
from pipeline.store.subscribers import IMPORT_STATUSES, STATUSES, ImportCounts

EXPORT_COLUMNS = ("email", "name", "status", "source", "created", "confirmed_at", "unsubscribed_at")
MAX_EMAIL_LENGTH = 254
_UNSAFE = {"Cc", "Zl", "Zp"}  # control characters, line and paragraph separators


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


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise UserInputError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    return status


def add(
    engine: Engine,
    email: str,
    name: str = "",
    *,
    status: str = "active",
    source: str = "cli",
    reactivate: bool = False,
) -> tuple[Subscriber, bool]:
    """Add or update one address (`pipeline.store.subscribers.add`); True when it was new."""
    address, clean = normalise_email(email), check_name(name)
    return rows.add(engine, address, clean, status, source, reactivate)


def subscribe_pending(
    engine: Engine, email: str, name: str = "", source: str = "web"
) -> Subscriber:
    """A sign-up: a new or departed address becomes pending; others are returned as they are."""
    return rows.subscribe_pending(engine, normalise_email(email), check_name(name), source)


def _found(address: str, row: Subscriber | None) -> Subscriber:
    if row is None:
        raise NotFoundError(f"no subscriber {address}; see `newsletter subscribers list`")
    return row


def confirm(engine: Engine, email: str) -> Subscriber:
    """Pending -> active; NotFoundError when the address is not on the list."""
    address = normalise_email(email)
    return _found(address, rows.confirm(engine, address))


def remove(engine: Engine, email: str) -> Subscriber:
    """Unsubscribe by address (the row stays); NotFoundError when it is not on the list."""
    address = normalise_email(email)
    return _found(address, rows.remove(engine, address))


def list_subscribers(engine: Engine, status: str | None = None) -> list[Subscriber]:
    """Every subscriber (or those with one status, which must be known), ordered by address."""
    return rows.list_subscribers(engine, None if status is None else check_status(status))


@dataclass
class ImportReport(ImportCounts):
    rejected: list[str] = field(default_factory=list)  # "line 7: reason"


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The lowercased header and the rows, each with the line it starts on."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip().lower() for h in next(reader, [])]
            lines: list[tuple[int, list[str]]] = []
            line = reader.line_num + 1
            for cells in reader:
                lines.append((line, cells))
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
    return header, lines


def import_csv(engine: Engine, path: Path, *, reactivate: bool = False) -> ImportReport:
    """Add or update every row by the store's rules, in one transaction; bad rows are reported."""
    header, lines = _read_csv(Path(path))
    column = {name: header.index(name) for name in ("email", "name", "status") if name in header}
    rejected: list[str] = []
    wanted: dict[str, tuple[str, str]] = {}  # address -> (name, status), the first row wins
    first_line: dict[str, int] = {}
    for line, cells in lines:
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
    counts = rows.import_rows(engine, wanted, reactivate=reactivate)
    return ImportReport(**asdict(counts), rejected=rejected)


def _iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


def export_csv(engine: Engine, path: Path, status: str | None = None) -> int:
    """Write the list as CSV, atomically and readable by the owner only (it is personal data)."""
    found, target = list_subscribers(engine, status), Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UserInputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(EXPORT_COLUMNS)
            for r in found:
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
    return len(found)
