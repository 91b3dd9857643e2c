"""One line for every user about the host itself: which proxy (or the load balancer) the
agent's last pass found down and could not start again. Read from that pass's record
(agent_passes.changed: `down` minus `revived`), once a request; only component names and their
Docker state go out (no exit details, no paths: those stay in the administrators' record)."""

from __future__ import annotations

from flask import g
from sqlalchemy import select

from swsapi.extensions import db
from swsapi.models import AgentPass


def host_notice() -> str | None:
    """The line, or None when the last finished pass left nothing down."""
    if "sws_host_notice" not in g:
        last = db.session.scalar(
            select(AgentPass)
            .where(AgentPass.outcome.is_not(None), AgentPass.outcome != "running")
            .order_by(AgentPass.id.desc())
            .limit(1)
        )
        g.sws_host_notice = describe(last.changed if last is not None else None)
    return g.sws_host_notice


def describe(changed) -> str | None:
    """'sws-proxy-2 is missing; the rest of the host serves meanwhile' from a pass's changes."""
    if not isinstance(changed, dict) or not isinstance(changed.get("down"), dict):
        return None
    revived = set(changed.get("revived") or [])
    still = [
        _state(name, text) for name, text in sorted(changed["down"].items()) if name not in revived
    ]
    if not still:
        return None
    return "; ".join(still) + ": the agent could not start it again, the rest of the host serves"


def _state(name: str, text) -> str:
    # The record says "<name> is <state> (<details>)"; users get the name and the state only.
    state = str(text).removeprefix(f"{name} is ").split(" (")[0].split()[0] if text else "down"
    return f"{name} is {state if state.isalpha() else 'down'}"
