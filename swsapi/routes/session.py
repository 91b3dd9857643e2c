"""The web view's sign-in: trade a token for a session cookie, look at it, sign out."""

from flask import Blueprint, g

from swsapi import sessions
from swsapi.auth import authenticate, token_owner
from swsapi.errors import invalid_request
from swsapi.routes.services import json_object

bp = Blueprint("session", __name__, url_prefix="/v1")


@bp.post("/session")
def sign_in():
    """Sign in with a token (JSON body, never the URL); answer with the CSRF token."""
    body = json_object()
    token = body.get("token")
    if set(body) != {"token"} or not isinstance(token, str) or not token.strip():
        raise invalid_request(
            'send {"token": "<your token>"} and nothing else',
            {"token": "required: your access token as a string"},
        )
    token_row, user = token_owner(token.strip())
    csrf = sessions.start(token_row)
    return {"name": user.name, "admin": user.is_admin, "csrf_token": csrf}


@bp.get("/session")
def current():
    """Tell the signed-in caller who they are and their session's CSRF token."""
    authenticate()
    return {"name": g.user.name, "admin": g.user.is_admin, "csrf_token": sessions.csrf_token()}


@bp.delete("/session")
def sign_out():
    """Sign out: the session cookie is cleared."""
    authenticate()
    sessions.end()
    return "", 204
