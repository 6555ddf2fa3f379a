"""Signed tokens for the links in emails: unsubscribe, confirm a subscription, feedback.

HMAC-signed with the secret key from `NEWSLETTER_SECRET_KEY` (itsdangerous), one salt per
purpose so a token made for one link is worthless for another.  Confirmation links expire;
unsubscribe and feedback links do not (an old issue's unsubscribe link must keep working).
A forged, tampered, expired or misused token raises `BadToken` and changes nothing.

Tokens are made here in itsdangerous's format (`URLSafeTimedSerializer`: base64 of the
compact JSON, the timestamp, the HMAC-SHA1 of both under the derived key) but never
zlib-compressed: `dumps` tries zlib on every payload, which was four fifths of the cost
of an email's eleven links.  `loads` reads both forms, so old links keep working.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from pipeline.env import SECRET_KEY, secret_key
from pipeline.errors import BadToken, ConfigError

SECRET_ENV = SECRET_KEY
MIN_SECRET = 16
CONFIRM_MAX_AGE = 7 * 24 * 3600  # seconds a confirmation link stays valid

UNSUBSCRIBE = "unsubscribe"
CONFIRM = "confirm"
FEEDBACK = "feedback"
SIGNALS = ("like", "dislike")


def secret_from_env() -> str:
    key = secret_key()
    if len(key) < MIN_SECRET:
        raise ConfigError(
            f"{SECRET_ENV} must be set to a random string of at least {MIN_SECRET} characters "
            "(e.g. the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return key


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


@dataclass(frozen=True)
class FeedbackToken:
    subscriber_id: int
    week: str
    paper_id: str
    signal: str


class Signer:
    """Makes and checks the tokens of every link purpose with one secret."""

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET:
            raise ConfigError(f"the secret key needs at least {MIN_SECRET} characters")
        self._by_purpose = {
            purpose: URLSafeTimedSerializer(secret, salt=f"arxiv-newsletter:{purpose}")
            for purpose in (UNSUBSCRIBE, CONFIRM, FEEDBACK)
        }
        # purpose -> an HMAC keyed with that purpose's derived key, copied per token
        self._macs: dict[str, hmac.HMAC] = {}
        self._sep = b"."
        for purpose, serializer in self._by_purpose.items():
            signer = serializer.make_signer()
            self._macs[purpose] = hmac.new(signer.derive_key(), digestmod=signer.digest_method)
            self._sep = signer.sep

    def _dumps(self, purpose: str, payload: Any) -> str:
        """`URLSafeTimedSerializer.dumps(payload)` without the zlib attempt."""
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        now = int(time.time())
        stamp = _b64(now.to_bytes((now.bit_length() + 7) // 8, "big"))
        value = _b64(data) + self._sep + stamp
        mac = self._macs[purpose].copy()
        mac.update(value)
        return (value + self._sep + _b64(mac.digest())).decode("ascii")

    def _loads(self, purpose: str, token: str, max_age: int | None = None) -> Any:
        try:
            return self._by_purpose[purpose].loads(token, max_age=max_age)
        except SignatureExpired:
            raise BadToken("this link has expired; ask for a new one") from None
        except BadSignature:
            raise BadToken("this link is not valid (it may have been cut or altered)") from None

    def unsubscribe(self, subscriber_id: int) -> str:
        return self._dumps(UNSUBSCRIBE, subscriber_id)

    def check_unsubscribe(self, token: str) -> int:
        value = self._loads(UNSUBSCRIBE, token)
        if not isinstance(value, int):
            raise BadToken("this link is not valid")
        return value

    def confirm(self, email: str) -> str:
        return self._dumps(CONFIRM, email)

    def check_confirm(self, token: str, max_age: int = CONFIRM_MAX_AGE) -> str:
        value = self._loads(CONFIRM, token, max_age=max_age)
        if not isinstance(value, str):
            raise BadToken("this link is not valid")
        return value

    def feedback(self, subscriber_id: int, week: str, paper_id: str, signal: str) -> str:
        if signal not in SIGNALS:
            raise ValueError(f"unknown feedback signal {signal!r}")
        return self._dumps(FEEDBACK, [subscriber_id, week, paper_id, signal])

    def check_feedback(self, token: str) -> FeedbackToken:
        value = self._loads(FEEDBACK, token)
        if (
            not isinstance(value, list)
            or len(value) != 4
            or not isinstance(value[0], int)
            or not all(isinstance(v, str) for v in value[1:])
            or value[3] not in SIGNALS
        ):
            raise BadToken("this link is not valid")
        return FeedbackToken(value[0], value[1], value[2], value[3])
