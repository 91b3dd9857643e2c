"""The agent's own state for administrators: its last passes, what each changed, and which
control-plane component a pass found down (the store's agent_passes; `sws-agent status` on the
host shows the same, with the pause switch)."""

from flask import Blueprint, g, request

from swsapi import administration
from swsapi.auth import authenticate
from swsapi.errors import invalid_request
from swsapi.queryargs import whole_number
from swsapi.schemas import agent_pass_schema

bp = Blueprint("agent", __name__, url_prefix="/v1/agent")
bp.before_request(authenticate)

PASSES_MAX = 100


@bp.get("/passes")
def passes():
    """List the agent's last passes, newest first (administrators)."""
    raw = request.args.get("limit", "10")
    limit = whole_number(raw, 1, PASSES_MAX)
    if limit is None:
        raise invalid_request(
            f"limit must be a whole number from 1 to {PASSES_MAX}",
            {"limit": f"must be from 1 to {PASSES_MAX}"},
        )
    found = administration.agent_passes(g.user, limit)
    return {"passes": agent_pass_schema.dump(found, many=True)}
