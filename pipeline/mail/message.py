"""An issue as email: rendered once per issue, personalised per subscriber in microseconds.

Both parts (text/plain from newsletter.txt.j2, text/html from newsletter.html.j2 through
`finish()`) are rendered once with markers where the per-subscriber links go: the
unsubscribe URL and a 👍/👎 feedback link per highlight.  A marker carries a random nonce
drawn for this rendering, so no paper text can contain one.  Per subscriber the signed URLs
are put in (HTML-escaped in the HTML part) and the MIME bytes assembled directly:

- each body is sent `8bit` when the server offers 8BITMIME and every line fits in 998
  octets, `7bit` when it is ASCII and fits, otherwise quoted-printable;
- headers come from checked parts only.  The subject, title and subscriber name are
  whitespace-collapsed (a CR or LF cannot start a header) and encoded by the `email`
  package (policy SMTP); URLs, Message-ID and List-Id are validated ASCII.

Links: `{public_url}unsubscribe?t=<Signer.unsubscribe(id)>` (also in `List-Unsubscribe`, with
`List-Unsubscribe-Post: List-Unsubscribe=One-Click`, RFC 8058) and
`{public_url}feedback?t=<Signer.feedback(id, week, paper_id, "like"|"dislike")>`.
"""

from __future__ import annotations

import binascii
import hashlib
import html
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError, MessageDefect
from email.header import Header
from email.headerregistry import Address
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.clock import utcnow
from pipeline.config import Settings
from pipeline.errors import BadAddress, ConfigError
from pipeline.mail.tokens import SIGNALS, Signer
from pipeline.render.email_html import finish
from pipeline.render.files import environment
from pipeline.render.issue import IssueView

MAX_LINE = 998  # octets per line, RFC 5321
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})+")
_URL_CHARS = re.compile(r"[!#-;=?-\[\]-~]+")  # printable ASCII but space " < > \
_UNSUBSCRIBE = "u"


@dataclass(frozen=True)
class Recipient:
    id: int  # 0: a test copy (no subscriber)
    email: str
    name: str = ""


@dataclass(frozen=True)
class Outgoing:
    recipient: Recipient
    message_id: str
    data: bytes  # the whole message, CRLF line endings
    eight_bit: bool  # a body is 8bit: send with BODY=8BITMIME
    stuffed: bool = False  # `data` is dot-stuffed (as sent after DATA)


def one_line(text: str) -> str:
    """Control characters and line breaks become spaces; runs of whitespace one space."""
    cleaned = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    return " ".join(cleaned.split())


def _host(public_url: str) -> str:
    host = (urlsplit(public_url).hostname or "").lower()
    host = re.sub(r"[^a-z0-9.-]", "-", host).strip(".-")
    return host or "localhost"


def _phrase(text: str) -> str:
    """An RFC 5322 phrase: a quoted string, or RFC 2047 encoded words when not ASCII."""
    if text.isascii():
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return Header(text, "utf-8").encode(linesep="\r\n")


def list_id(settings: Settings) -> str:
    """The List-Id header value (RFC 2919): `"Title" <label.namespace>`."""
    raw = one_line(settings.smtp.list_id)
    if not raw:
        ident = f"newsletter.{_host(settings.site.public_url)}"
        if not _DOT_ATOM.fullmatch(ident):
            ident = "newsletter.localhost"
        return f"{_phrase(one_line(settings.site.title))} <{ident}>"
    m = re.fullmatch(r"(.*?)\s*<([^<>]*)>", raw)
    name, ident = (m.group(1).strip().strip('"'), m.group(2)) if m else ("", raw)
    if not _DOT_ATOM.fullmatch(ident) or len(ident) > 255:
        raise ConfigError(
            f"bad setting 'list_id': {settings.smtp.list_id!r} needs an id like "
            "'news.example.org' or 'AI papers <news.example.org>' (RFC 2919)"
        )
    return f"{_phrase(name)} <{ident}>" if name else f"<{ident}>"


def _link_base(public_url: str) -> str:
    if not _URL_CHARS.fullmatch(public_url) or len(public_url) > 700:
        raise ConfigError(
            f"bad setting 'public_url': {public_url!r} must be a plain ASCII URL of at most "
            "700 characters to be used in email links (percent-encode the path, punycode the host)"
        )
    return public_url


_ATOMS = re.compile(rf"{_ATEXT}(?: {_ATEXT})*")
_PLAIN_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_ATEXT}(?:\.{_ATEXT})+")
_FOLD_AT = 78  # the `email` package folds longer header lines


def _plain_to(name: str, email: str) -> bytes | None:
    """The To line when name and address need no quoting, encoding or folding (the usual
    case, built without the `email` package's parser: it is what `_folded` gives then);
    None otherwise."""
    if not _PLAIN_ADDRESS.fullmatch(email) or (name and not _ATOMS.fullmatch(name)):
        return None
    line = f"To: {name} <{email}>" if name else f"To: {email}"
    return (line + "\r\n").encode("ascii") if len(line) <= _FOLD_AT else None


def _folded(name: str, value: str | Address) -> bytes:
    return str(SMTP.header_factory(name, value).fold(policy=SMTP)).encode("ascii")


@dataclass(frozen=True)
class _Line:
    """A line of a body with slots in it: its fixed octets and the slots' keys."""

    fixed: int
    keys: tuple[str, ...]


class _Body:
    """One rendered part, pieces encoded once: the fixed text (as sent, and dot-stuffed)
    between the slots, and what each line's length depends on, so that a subscriber's
    message is a join and the transfer encoding is chosen without scanning 60 kB."""

    def __init__(self, pieces: list[str], content_type: bytes) -> None:
        self.content_type = content_type
        raw = [p.encode("utf-8") for p in pieces[0::2]]
        self.keys = pieces[1::2]
        self.fixed = raw
        # A slot's value is a URL (starting "http"), never a line's first ".": only the
        # fixed text needs dot-stuffing (RFC 5321 4.5.2); the body starts a line.
        stuffed = [p.replace(b"\r\n.", b"\r\n..") for p in raw]
        if stuffed[0].startswith(b"."):
            stuffed[0] = b"." + stuffed[0]
        self.stuffed = stuffed
        self.ascii = all(p.isascii() for p in raw)
        self.longest_fixed = 0  # the longest line without a slot
        self.slot_lines: list[_Line] = []
        fixed = 0
        keys: list[str] = []
        for i, piece in enumerate(raw):
            lines = piece.split(b"\r\n")
            for line in lines[:-1]:
                fixed += len(line)
                self._close(fixed, keys)
                fixed, keys = 0, []
            fixed += len(lines[-1])
            if i < len(self.keys):
                keys.append(self.keys[i])
        self._close(fixed, keys)

    def _close(self, fixed: int, keys: list[str]) -> None:
        if keys:
            self.slot_lines.append(_Line(fixed, tuple(keys)))
        else:
            self.longest_fixed = max(self.longest_fixed, fixed)

    def longest(self, values: dict[str, bytes]) -> int:
        """The longest line once `values` fill the slots."""
        with_slots = (
            line.fixed + sum(len(values[k]) for k in line.keys) for line in self.slot_lines
        )
        return max(self.longest_fixed, *with_slots)

    def fill(self, values: dict[str, bytes], *, stuffed: bool = False) -> bytes:
        fixed = self.stuffed if stuffed else self.fixed
        out = [fixed[0]]
        for key, piece in zip(self.keys, fixed[1:], strict=True):
            out += (values[key], piece)
        return b"".join(out)


def _encode(
    body: _Body, values: dict[str, bytes], eight_bit: bool, stuffed: bool
) -> tuple[bytes, bytes]:
    """The body as sent and its Content-Transfer-Encoding."""
    fits = body.longest(values) <= MAX_LINE
    if fits and body.ascii:
        return body.fill(values, stuffed=stuffed), b"7bit"
    if fits and eight_bit:
        return body.fill(values, stuffed=stuffed), b"8bit"
    encoded = binascii.b2a_qp(body.fill(values), istext=True)
    return (dot_stuffed(encoded) if stuffed else encoded), b"quoted-printable"


class IssueMail:
    """One issue's messages: `compose(recipient)` gives the bytes for one subscriber."""

    def __init__(
        self,
        view: IssueView,
        settings: Settings,
        signer: Signer,
        *,
        sender: str,
        templates: Path | None = None,
    ) -> None:
        self.week = view.week
        self.signer = signer
        self.host = _host(settings.site.public_url)
        base = _link_base(settings.site.public_url)
        bases = (f"{base}unsubscribe?t=", f"{base}feedback?t=")  # a link: base + token
        self._plain_bases = (bases[0].encode("ascii"), bases[1].encode("ascii"))
        # A token is URL-safe base64 and ".": a link escaped for HTML is its escaped base.
        self._html_bases = (
            html.escape(bases[0]).encode("ascii"),
            html.escape(bases[1]).encode("ascii"),
        )
        self.nonce = secrets.token_hex(12)
        self.slots: dict[str, tuple[str, str]] = {}  # key -> (paper id, signal)
        self._keys: dict[tuple[str, str], str] = {}
        self.text, self.html = self._render(view, templates or settings.site.templates_dir)
        self.boundary = f"=_{secrets.token_hex(16)}"
        for piece in [*self.text.fixed, *self.html.fixed, base.encode("ascii")]:
            if self.boundary.encode("ascii") in piece:  # pragma: no cover - 128 random bits
                raise RuntimeError("MIME boundary collides with the text")
        subject = one_line(f"{view.title} — week of {view.week_label}")
        self.from_line = _folded("From", sender)
        self.subject_line = _folded("Subject", subject)
        self.list_lines = (
            b"List-Id: " + list_id(settings).encode("ascii") + b"\r\n"
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            b"MIME-Version: 1.0\r\n"
            b'Content-Type: multipart/alternative; boundary="'
            + self.boundary.encode("ascii")
            + b'"\r\n'
        )

    # -- rendering once ----------------------------------------------------------------------

    def _marker(self, key: str) -> str:
        return f"@@{self.nonce}:{key}@@"

    def _feedback_link(self, paper_id: str, signal: str) -> str:
        if signal not in SIGNALS:
            raise ValueError(f"unknown feedback signal {signal!r}")
        key = self._keys.get((paper_id, signal))
        if key is None:
            key = self._keys[paper_id, signal] = f"f{len(self._keys)}"
            self.slots[key] = (paper_id, signal)
        return self._marker(key)

    def _render(self, view: IssueView, templates: Path | None) -> tuple[_Body, _Body]:
        env = environment(templates)
        context = {
            **view.as_context(),
            "unsubscribe_url": self._marker(_UNSUBSCRIBE),
            "feedback_link": self._feedback_link,
        }
        text = env.get_template("newsletter.txt.j2").render(**context)
        page = finish(
            env.get_template("newsletter.html.j2").render(**context, web=False, archive_url="")
        )
        return (
            self._split(text, "newsletter.txt.j2", b"text/plain"),
            self._split(page, "newsletter.html.j2", b"text/html"),
        )

    def _split(self, rendered: str, name: str, content_type: bytes) -> _Body:
        rendered = re.sub(r"\r\n?", "\n", rendered).replace("\n", "\r\n")
        if not rendered.endswith("\r\n"):
            rendered += "\r\n"
        pieces = re.split(f"@@{re.escape(self.nonce)}:([a-z0-9]+)@@", rendered)
        keys = set(pieces[1::2])
        if any(self.nonce in p for p in pieces[0::2]) or not keys <= {_UNSUBSCRIBE, *self.slots}:
            raise RuntimeError(f"{name}: a link marker was altered while rendering")
        if _UNSUBSCRIBE not in keys:
            raise ConfigError(
                f"template {name} does not show `unsubscribe_url`: every email must carry "
                "its unsubscribe link"
            )
        return _Body(pieces, content_type)

    # -- per subscriber ----------------------------------------------------------------------

    def message_id(self, recipient: Recipient) -> str:
        seed = f"{self.week}\0{recipient.id}\0{recipient.email}".encode()
        digest = hashlib.sha256(seed).hexdigest()[:16]
        return f"<{self.week}.{recipient.id}.{digest}@{self.host}>"

    def _tokens(self, subscriber_id: int) -> dict[str, bytes]:
        """The signed token of every slot, by key."""
        tokens = {_UNSUBSCRIBE: self.signer.unsubscribe(subscriber_id).encode("ascii")}
        for key, (paper_id, signal) in self.slots.items():
            token = self.signer.feedback(subscriber_id, self.week, paper_id, signal)
            tokens[key] = token.encode("ascii")
        return tokens

    @staticmethod
    def _links(tokens: dict[str, bytes], bases: tuple[bytes, bytes]) -> dict[str, bytes]:
        """Every slot's URL: (unsubscribe, feedback) `bases` followed by the tokens."""
        unsubscribe, feedback = bases
        return {
            key: (unsubscribe if key == _UNSUBSCRIBE else feedback) + token
            for key, token in tokens.items()
        }

    @staticmethod
    def _to(recipient: Recipient) -> bytes:
        email = recipient.email
        if not email.isascii() or "@" not in email or one_line(email) != email:
            raise BadAddress(f"cannot send to {email!r}: not a plain ASCII address")
        name = one_line(recipient.name)
        plain = _plain_to(name, email)
        if plain is not None:
            return plain
        try:
            return _folded("To", Address(display_name=name, addr_spec=email))
        except (ValueError, IndexError, HeaderParseError, MessageDefect) as exc:
            raise BadAddress(f"cannot send to {email!r}: {exc}") from None

    def compose(
        self,
        recipient: Recipient,
        *,
        eight_bit: bool,
        message_id: str | None = None,
        date: datetime | None = None,
        stuffed: bool = False,
    ) -> Outgoing:
        """The message for one recipient; `eight_bit`: the server offers 8BITMIME;
        `stuffed`: `data` is dot-stuffed, as sent after DATA (`dot_stuffed(data)`)."""
        mid = message_id or self.message_id(recipient)
        tokens = self._tokens(recipient.id)
        plain = self._links(tokens, self._plain_bases)
        text, text_cte = _encode(self.text, plain, eight_bit, stuffed)
        page, page_cte = _encode(
            self.html, self._links(tokens, self._html_bases), eight_bit, stuffed
        )
        delimiter = b"--" + self.boundary.encode("ascii")
        data = b"".join(
            [
                b"Date: " + format_datetime(date or utcnow()).encode("ascii") + b"\r\n",
                self.from_line,
                self._to(recipient),
                self.subject_line,
                b"Message-ID: " + mid.encode("ascii") + b"\r\n",
                b"List-Unsubscribe: <" + plain[_UNSUBSCRIBE] + b">\r\n",
                self.list_lines,
                b"\r\n",
                *self._part(delimiter, self.text.content_type, text_cte, text),
                *self._part(delimiter, self.html.content_type, page_cte, page),
                delimiter + b"--\r\n",
            ]
        )
        return Outgoing(recipient, mid, data, b"8bit" in (text_cte, page_cte), stuffed)

    @staticmethod
    def _part(delimiter: bytes, content_type: bytes, cte: bytes, body: bytes) -> list[bytes]:
        return [
            delimiter + b"\r\n",
            b"Content-Type: " + content_type + b'; charset="utf-8"\r\n',
            b"Content-Transfer-Encoding: " + cte + b"\r\n\r\n",
            body,  # ends with CRLF; the next CRLF belongs to the delimiter (RFC 2046 5.1.1)
            b"\r\n",
        ]


def dot_stuffed(data: bytes) -> bytes:
    """`data` (CRLF line endings) as sent after DATA: a leading "." doubled (RFC 5321 4.5.2)."""
    data = data.replace(b"\r\n.", b"\r\n..")
    return b"." + data if data.startswith(b".") else data
