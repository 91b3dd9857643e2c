"""Services: apply (create or update by name), list, get, restart, stop, start and delete the
caller's services."""

from flask import Blueprint, current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from swsapi import stopping, store
from swsapi.auth import authenticate
from swsapi.errors import ApiError, invalid_request
from swsapi.queryargs import whole_number
from swsapi.schemas import service_schema
from swscore.spec import NAME_RE, load_definition, loads_json

bp = Blueprint("services", __name__, url_prefix="/v1/services")
bp.before_request(authenticate)


def json_object() -> dict:
    """The request body as a JSON object, or a 4xx saying what is wrong with it."""
    if not request.is_json:
        raise ApiError(415, "invalid_request", "send the body as application/json")
    data = request.get_data()
    if request.content_length is None and len(data) >= current_app.config["MAX_CONTENT_LENGTH"]:
        # werkzeug cuts a chunked body off at the limit without saying so: call it too large.
        raise RequestEntityTooLarge()
    try:
        body = loads_json(data)
    except (ValueError, RecursionError):
        raise invalid_request("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid_request("the request body must be a JSON object")
    return body


@bp.get("")
def list_services():
    """List the caller's services by name, a page at a time (?limit=N&cursor=...)."""
    services, next_cursor = store.list_services(g.user, page_limit(), page_cursor())
    return {"services": service_schema.dump(services, many=True), "next_cursor": next_cursor}


def page_limit() -> int:
    raw = request.args.get("limit")
    if raw is None:
        return store.PAGE_DEFAULT
    limit = whole_number(raw, 1, store.PAGE_MAX)
    if limit is None:
        raise invalid_request(
            f"limit must be a whole number from 1 to {store.PAGE_MAX}",
            {"limit": f"must be from 1 to {store.PAGE_MAX}"},
        )
    return limit


def page_cursor() -> str | None:
    """The next_cursor of the previous page: the last name it held."""
    raw = request.args.get("cursor")
    if raw is None:
        return None
    if not NAME_RE.match(raw):
        raise invalid_request(
            "cursor must be the next_cursor of a previous page", {"cursor": "not a cursor"}
        )
    return raw


@bp.put("/<name>")
def apply(name):
    """Apply a service definition: create it or update it by name (?force=true: a new
    generation even of an unchanged spec)."""
    force = flag("force")
    definition = load_definition(json_object())
    if definition.name != name:
        raise invalid_request(
            f"the URL names {name!r} but the definition names {definition.name!r}",
            {"spec.name": f"must be {name!r}, the name in the URL"},
        )
    service, result = store.apply_service(g.user, definition, force=force)
    return applied(service, result)


@bp.post("/<name>/restart")
def restart(name):
    """Make a new generation of the service's current spec: the agent starts it afresh."""
    return applied(*store.restart_service(g.user, name))


@bp.post("/<name>/stop")
def stop(name):
    """Stop the service: the agent removes its containers; spec, volume and history stay."""
    return applied(*stopping.stop_service(g.user, name))


@bp.post("/<name>/start")
def start(name):
    """Start a stopped service again: its current generation, as pending."""
    return applied(*stopping.start_service(g.user, name))


def applied(service, result: str, **extra):
    """The answer to a change: the service and what was done, 201 when it was created."""
    body = {**service_schema.dump(service), "result": result, **extra}
    return body, 201 if result == "created" else 200


@bp.get("/<name>")
def get(name):
    """Show one of the caller's services with its status."""
    return service_schema.dump(store.get_service(g.user, name))


@bp.delete("/<name>")
def delete(name):
    """Mark one of the caller's services for removal (with ?purge=true, its volume too)."""
    service = store.delete_service(g.user, name, purge=flag("purge"))
    return service_schema.dump(service), 202


FLAG_VALUES = {"true": True, "1": True, "false": False, "0": False}


def flag(name: str) -> bool:
    """A yes/no query parameter (purge, force, show_secrets): true/1 or false/0, absent
    meaning false."""
    values = request.args.getlist(name)
    if not values:
        return False
    if len(values) > 1 or values[0] not in FLAG_VALUES:
        raise invalid_request(
            f"{name} must be true or false (or 1 or 0), given once",
            {name: "must be true, false, 1 or 0"},
        )
    return FLAG_VALUES[values[0]]
