"""A service's history (the specs of its kept generations) and rollback to one of them."""

from flask import Blueprint, g, request

from swsapi import history, store
from swsapi.auth import authenticate
from swsapi.errors import invalid_request
from swsapi.routes.services import applied, flag, json_object
from swsapi.schemas import dump_history

bp = Blueprint("history", __name__, url_prefix="/v1/services")
bp.before_request(authenticate)


@bp.get("/<name>/history")
def list_generations(name):
    """List the service's kept generations, newest first (env masked unless ?show_secrets)."""
    show_secrets = flag("show_secrets")
    service = store.get_service(g.user, name)
    return dump_history(service, history.generations(service), show_secrets)


@bp.post("/<name>/rollback")
def rollback(name):
    """Apply a kept generation's spec as a new generation (default: the previous spec)."""
    service, result, target = store.rollback_service(g.user, name, requested_generation())
    return applied(service, result, rolled_back_to=target)


def requested_generation() -> int | None:
    """The body's optional {"generation": N}; no body at all means the previous spec."""
    if not request.get_data():
        return None
    body = json_object()
    unknown = sorted(set(body) - {"generation"})
    if unknown:
        raise invalid_request(
            f"unknown field {unknown[0]!r}; the body may hold only generation",
            {key: "unknown field" for key in unknown},
        )
    generation = body.get("generation")
    if generation is None:
        return None
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 1:
        raise invalid_request(
            "generation must be a whole number of at least 1",
            {"generation": "must be a whole number of at least 1"},
        )
    return generation
