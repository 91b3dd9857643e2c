"""The swarm's nodes for administrators (issue 28): each node's state, the SWS services on it,
and the free memory and disk it last reported (the agent writes them; empty on a single host)."""

from flask import Blueprint, g

from swsapi import administration
from swsapi.auth import authenticate
from swsapi.schemas import node_schema

bp = Blueprint("nodes", __name__, url_prefix="/v1/nodes")
bp.before_request(authenticate)


@bp.get("")
def listing():
    """List the swarm's nodes (administrators)."""
    return {"nodes": node_schema.dump(administration.nodes(g.user), many=True)}
