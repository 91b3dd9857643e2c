"""The caller's own identity."""

from flask import Blueprint, g

from swsapi.auth import authenticate
from swsapi.schemas import whoami_schema

bp = Blueprint("users", __name__, url_prefix="/v1")
bp.before_request(authenticate)


@bp.get("/whoami")
def whoami():
    """Tell the caller who its token belongs to."""
    return whoami_schema.dump(g.user)
