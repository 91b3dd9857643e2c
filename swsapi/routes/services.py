"""Services: apply (create or update by name), list, get and delete the caller's services."""

from flask import Blueprint, current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from swsapi import store
from swsapi.auth import authenticate
from swsapi.errors import ApiError, invalid_request
from swsapi.schemas import service_schema
from swsapi.spec import load_definition, loads_json

bp = Blueprint("services", __name__, url_prefix="/v1/services")
bp.before_request(authenticate)


def json_object() -> dict:
    """The request body as a JSON object, or a 4xx saying what is wrong with it."""
    if not request.is_json:
        raise ApiError(415, "invalid_request", "send the definition as application/json")
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
    """List the caller's services by name."""
    return {"services": service_schema.dump(store.list_services(g.user), many=True)}


@bp.put("/<name>")
def apply(name):
    """Apply a service definition: create it or update it by name."""
    definition = load_definition(json_object())
    if definition.name != name:
        raise invalid_request(
            f"the URL names {name!r} but the definition names {definition.name!r}",
            {"spec.name": f"must be {name!r}, the name in the URL"},
        )
    service, result = store.apply_service(g.user, definition)
    return {**service_schema.dump(service), "result": result}, 201 if result == "created" else 200


@bp.get("/<name>")
def get(name):
    """Show one of the caller's services with its status."""
    return service_schema.dump(store.get_service(g.user, name))


@bp.delete("/<name>")
def delete(name):
    """Mark one of the caller's services for removal (with ?purge=true, its volume too)."""
    service = store.delete_service(g.user, name, purge=purge_flag())
    return service_schema.dump(service), 202


PURGE_VALUES = {"true": True, "1": True, "false": False, "0": False}


def purge_flag() -> bool:
    """The delete's `purge` query parameter: true/1 or false/0, absent meaning false."""
    values = request.args.getlist("purge")
    if not values:
        return False
    if len(values) > 1 or values[0] not in PURGE_VALUES:
        raise invalid_request(
            "purge must be true or false (or 1 or 0), given once",
            {"purge": "must be true, false, 1 or 0"},
        )
    return PURGE_VALUES[values[0]]
