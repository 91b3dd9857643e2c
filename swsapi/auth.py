"""Users and bearer tokens: tokens are random, shown once, and stored only as sha256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from flask import g, request
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from swsapi import guesses, sessions
from swsapi.errors import conflict, invalid_request, not_found, unauthorized
from swsapi.extensions import db
from swsapi.models import Token, User
from swscore.spec import NAME_RE

TOKEN_PREFIX = "sws_"
# last_used_at is a hint for operators, not an audit log: writing it at most once a
# minute keeps a read request from turning into a write every time.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token(user: User) -> str:
    """Add a fresh token for the user to the session; the caller commits and shows it once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(Token(user=user, token_hash=hash_token(token), prefix=token[:12]))
    return token


def create_user(name: str, admin: bool = False) -> str:
    """Create a user and return its first token."""
    if not NAME_RE.match(name):
        raise invalid_request(
            f"user name {name!r} must be lowercase letters, digits and '-' (at most 63)"
        )
    user = User(name=name, is_admin=admin)
    db.session.add(user)
    token = new_token(user)
    try:
        db.session.commit()
    except IntegrityError:  # the unique name, also when two creates race
        db.session.rollback()
        raise conflict(f"user {name} already exists") from None
    return token


def issue_token(name: str) -> str:
    """Give an existing user one more token."""
    user = db.session.scalar(select(User).where(User.name == name))
    if user is None:
        raise not_found(f"no user {name}")
    token = new_token(user)
    db.session.commit()
    return token


def revoke_tokens(name: str) -> int:
    """Revoke every live token of a user; return how many were revoked."""
    user_id = db.session.scalar(select(User.id).where(User.name == name))
    if user_id is None:
        raise not_found(f"no user {name}")
    result = db.session.execute(
        update(Token)
        .where(Token.user_id == user_id, Token.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    db.session.commit()
    return result.rowcount


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise unauthorized("missing token: send 'Authorization: Bearer <token>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("malformed Authorization header: expected 'Bearer <token>'")
    return token.strip()


def token_owner(token: str) -> tuple[Token, User]:
    """The live token and its user, or 401 (429 after too many wrong ones from the client's
    address: swsapi/guesses.py); notes when the token was last used."""
    guesses.refuse_if_blocked()
    token_hash = hash_token(token)
    row = db.session.execute(
        select(Token, User)
        .join(User, Token.user_id == User.id)
        .where(Token.token_hash == token_hash, Token.revoked_at.is_(None))
    ).first()
    if row is None:
        guesses.note_failure()
        raise unauthorized("invalid or revoked token")
    token_row, user = row
    now = datetime.now(UTC)
    if token_row.last_used_at is None or now - token_row.last_used_at > LAST_USED_RESOLUTION:
        token_row.last_used_at = now
        db.session.commit()
    return token_row, user


def authenticate() -> None:
    """Blueprint before_request hook: put the caller in g.user or answer 401.

    A bearer token wins; without one, the web view's session cookie is accepted (and a
    change made with it needs its CSRF header, see swsapi/sessions.py).
    """
    if "Authorization" not in request.headers and sessions.signed_in():
        g.user = sessions.session_user()
        return
    g.user = token_owner(_bearer_token())[1]
