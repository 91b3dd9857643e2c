"""Web sessions: the web view signs in with a token once and then carries a signed cookie.

The cookie (Flask's session, signed with SWS_SECRET_KEY_FILE's key, HttpOnly, SameSite=Strict)
holds the id of the token the user signed in with, never the token, and a random CSRF token.
Each request looks the token up again, so revoking a user's tokens ends their sessions too.
A change made with the cookie must repeat the CSRF token in X-CSRF-Token: a page on another
site can make the browser send the cookie, but cannot read the CSRF token to send it along.
"""

from __future__ import annotations

import hmac
import secrets

from flask import current_app, request, session
from sqlalchemy import select

from swsapi.errors import ApiError, unauthorized
from swsapi.extensions import db
from swsapi.models import Token, User

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def enabled() -> bool:
    return bool(current_app.secret_key)


def signed_in() -> bool:
    """Whether the request carries a valid signed session (the signature is Flask's)."""
    return enabled() and "token_id" in session


def start(token: Token) -> str:
    """Sign the browser in as the token's user; return the session's CSRF token."""
    if not enabled():
        raise ApiError(
            503,
            "not_configured",
            "web sign-in is not configured on this server (SWS_SECRET_KEY_FILE is not set)",
        )
    session.clear()
    session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME (SWS_SESSION_HOURS)
    session["token_id"] = token.id
    session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def end() -> None:
    if enabled():  # without a key Flask has no session to clear (a bearer caller's sign-out)
        session.clear()


def csrf_token() -> str | None:
    return session.get("csrf") if signed_in() else None


def session_user() -> User:
    """The signed-in user; 401 once their token is revoked, 403 for a change without CSRF."""
    row = db.session.execute(
        select(Token, User)
        .join(User, Token.user_id == User.id)
        .where(Token.id == session.get("token_id"), Token.revoked_at.is_(None))
    ).first()
    if row is None:
        session.clear()
        raise unauthorized("the session has ended (its token was revoked); sign in again")
    if request.method not in SAFE_METHODS:
        _check_csrf()
    return row[1]


def _check_csrf() -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    expected = session.get("csrf", "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise ApiError(
            403,
            "forbidden",
            f"a change made with the session cookie needs the session's {CSRF_HEADER} header",
        )
