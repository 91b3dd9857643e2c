"""A user's private-registry credentials (issue 26): log in, log out, list; never a password."""

from flask import Blueprint, g

from swsapi import registrystore
from swsapi.auth import authenticate
from swsapi.routes.services import json_object
from swsapi.schemas import registry_schema

bp = Blueprint("registries", __name__, url_prefix="/v1/registries")
bp.before_request(authenticate)


@bp.get("")
def index():
    """List the registries the user has credentials for."""
    listed = registrystore.list_credentials(g.user)
    return {"registries": registry_schema.dump(listed, many=True)}


@bp.put("/<host>")
def login(host):
    """Store the user's credentials for a registry: {"username", "password"}."""
    return registry_schema.dump(registrystore.login(g.user, host, json_object()))


@bp.delete("/<host>")
def logout(host):
    """Forget the user's credentials for a registry."""
    registrystore.logout(g.user, host)
    return {"host": host.strip().lower(), "registry": "logged out"}
