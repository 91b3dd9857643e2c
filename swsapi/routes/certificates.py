"""A service's HTTPS certificate (issue 15): the user's own, uploaded; its state; never its key."""

from flask import Blueprint, g

from swsapi import certstore
from swsapi.auth import authenticate
from swsapi.routes.services import json_object
from swsapi.schemas import certificate_schema

bp = Blueprint("certificates", __name__, url_prefix="/v1/services")
bp.before_request(authenticate)


@bp.get("/<name>/certificate")
def show(name):
    """Show the service's certificate: source, domain, state, fingerprint, expiry."""
    return certificate_schema.dump(certstore.get_certificate(g.user, name))


@bp.put("/<name>/certificate")
def upload(name):
    """Set the service's own certificate: {"certificate": PEM chain, "key": PEM key}."""
    return certificate_schema.dump(certstore.upload_certificate(g.user, name, json_object()))


@bp.delete("/<name>/certificate")
def remove(name):
    """Forget the service's certificate."""
    certstore.delete_certificate(g.user, name)
    return {"name": name, "certificate": "deleted"}
