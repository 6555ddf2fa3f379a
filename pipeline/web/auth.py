"""Who may use the editor's desk: the editor's password, a signed session cookie, CSRF tokens
and a limit on sign-in attempts.

- The password (NEWSLETTER_EDITOR_PASSWORD) is kept only as a scrypt digest with a random salt
  made at start; a typed password is hashed the same way and the digests are compared with
  `hmac.compare_digest`, so neither the comparison's time nor memory gives it away.
- A session is a cookie signed with NEWSLETTER_SECRET_KEY (itsdangerous, a salt of its own, so
  no emailed token is a session and no session is a token).  It holds the editor's name (the
  author of their changes), a random CSRF token and this process's start nonce: restarting
  `serve` signs everyone out.  HttpOnly, SameSite=Strict, Path=/desk, Secure behind https,
  valid for `SESSION_HOURS`.
- Every state change carries the session's CSRF token (a form field or the X-CSRF-Token
  header), compared in constant time; a request without it changes nothing.
- Sign-in attempts, right or wrong, are limited per client address and in total.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from pipeline.web.ratelimit import RateLimit

COOKIE = "desk_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_HOURS = 12
MAX_PASSWORD = 1024  # characters; longer input is refused before hashing
MAX_AUTHOR = 80
_SALT = "arxiv-newsletter:desk-session"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_AUTHOR_OK = re.compile(r"[^\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Session:
    author: str
    csrf: str


def clean_author(name: str) -> str:
    """The name an editor signs in with, as stored with their changes ("editor" if blank)."""
    name = " ".join(name.split())[:MAX_AUTHOR]
    return name if _AUTHOR_OK.fullmatch(name) else "editor"


class EditorAuth:
    """Checks the editor's password, and makes and reads session cookies."""

    def __init__(self, password: str, secret_key: str, *, secure: bool = False) -> None:
        if not password:
            raise ValueError("the desk needs an editor password")
        self._salt = secrets.token_bytes(16)
        self._digest = self._hash(password)
        self._boot = secrets.token_hex(8)
        self._serializer = URLSafeTimedSerializer(secret_key, salt=_SALT)
        self.secure = secure
        self.max_age = SESSION_HOURS * 3600
        # Sign-in attempts: 10 per client and 50 in all in any 10 minutes.
        self.per_client = RateLimit(10, 600.0)
        self.overall = RateLimit(50, 600.0)

    def _hash(self, password: str) -> bytes:
        return hashlib.scrypt(password.encode("utf-8"), salt=self._salt, **_SCRYPT)

    def wait_before_attempt(self, client: str) -> float:
        """0 when a sign-in attempt from `client` may be checked now (it is counted), else
        the seconds to wait."""
        return self.per_client.retry_after(client) or self.overall.retry_after("*")

    def password_matches(self, typed: str) -> bool:
        if not typed or len(typed) > MAX_PASSWORD:
            return False
        return hmac.compare_digest(self._hash(typed), self._digest)

    def new_session(self, author: str) -> tuple[Session, str]:
        """A fresh session and its cookie value."""
        session = Session(clean_author(author), secrets.token_urlsafe(24))
        value = self._serializer.dumps({"a": session.author, "c": session.csrf, "b": self._boot})
        return session, str(value)

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie stands for; None when it is missing, forged, expired or from
        before this process started."""
        if not cookie or len(cookie) > 4096:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(data, dict) or data.get("b") != self._boot:
            return None
        author, csrf = data.get("a"), data.get("c")
        if not isinstance(author, str) or not isinstance(csrf, str) or not csrf:
            return None
        return Session(author, csrf)

    @staticmethod
    def csrf_ok(session: Session, token: object) -> bool:
        return isinstance(token, str) and hmac.compare_digest(
            token.encode("utf-8"), session.csrf.encode("utf-8")
        )
