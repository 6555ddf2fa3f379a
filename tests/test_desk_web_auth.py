"""The desk's sign-in rules on plain values: the password check, session cookies (signed,
expiring, valid only for the process that made them) and CSRF tokens."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from pipeline.web.auth import MAX_PASSWORD, EditorAuth, clean_author

SECRET = "a-long-random-secret-for-tests-1234"


@pytest.fixture
def auth() -> EditorAuth:
    return EditorAuth("s3cret pass", SECRET)


def test_the_password_is_compared_as_a_hash(auth: EditorAuth) -> None:
    assert auth.password_matches("s3cret pass")
    for wrong in ("", "s3cret pass ", "S3cret pass", "s3cret", "x" * (MAX_PASSWORD + 1)):
        assert not auth.password_matches(wrong)
    assert b"s3cret" not in repr(vars(auth)).encode()  # only a salted digest is kept
    with pytest.raises(ValueError, match="needs an editor password"):
        EditorAuth("", SECRET)


def test_a_session_cookie_is_signed_and_belongs_to_this_process(auth: EditorAuth) -> None:
    session, cookie = auth.new_session("  Eve\tEditor  ")
    assert session.author == "Eve Editor" and len(session.csrf) >= 32
    assert auth.session(cookie) == session
    assert auth.new_session("Eve")[0].csrf != session.csrf  # a fresh token per sign-in
    tampered = cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB")
    for bad in (None, "", "garbage", tampered, "x" * 5000):
        assert auth.session(bad) is None
    restarted = EditorAuth("s3cret pass", SECRET)  # `serve` started again: signed out
    assert restarted.session(cookie) is None
    other_key = EditorAuth("s3cret pass", "another-secret-key-fedcba9876543210")
    assert other_key.session(cookie) is None
    # An emailed link's token, signed with the same key but another salt, is no session.
    token = URLSafeTimedSerializer(SECRET, salt="arxiv-newsletter:unsubscribe").dumps(1)
    assert auth.session(token) is None


def test_a_session_expires(auth: EditorAuth) -> None:
    _, cookie = auth.new_session("Eve")
    assert auth.max_age == 12 * 3600 and auth.session(cookie) is not None
    auth.max_age = -1  # any age is now too old (no waiting in a test)
    assert auth.session(cookie) is None


def test_csrf_tokens(auth: EditorAuth) -> None:
    session, _ = auth.new_session("Eve")
    assert auth.csrf_ok(session, session.csrf)
    for bad in (None, "", session.csrf[:-1], session.csrf + "x", 42, ["a"]):
        assert not auth.csrf_ok(session, bad)


def test_sign_in_attempts_are_limited(auth: EditorAuth) -> None:
    assert all(auth.wait_before_attempt("10.0.0.1") == 0 for _ in range(10))
    assert auth.wait_before_attempt("10.0.0.1") > 590  # the 11th within 10 minutes waits
    assert auth.wait_before_attempt("10.0.0.2") == 0  # another client does not
    for i in range(39):
        auth.wait_before_attempt(f"10.0.1.{i}")
    assert auth.wait_before_attempt("10.0.2.1") > 0  # 50 in all: everyone waits


def test_author_names() -> None:
    assert clean_author("") == "editor"
    assert clean_author("Ann\x00") == "editor"
    assert clean_author("A" * 200) == "A" * 80
