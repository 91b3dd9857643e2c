"""A service's HTTPS certificates (issue 15): the user's own, uploaded; their state; never a
key. One a domain the service holds (issue 27): `?domain=` names an alias or a redirect, and
the service's own domain is meant without it."""

from flask import Blueprint, g, request

from swsapi import certstore
from swsapi.auth import authenticate
from swsapi.routes.services import json_object
from swsapi.schemas import certificate_schema

bp = Blueprint("certificates", __name__, url_prefix="/v1/services")
bp.before_request(authenticate)


def _domain() -> str | None:
    return request.args.get("domain")


@bp.get("/<name>/certificate")
def show(name):
    """Show a certificate of the service: source, domain, state, fingerprint, expiry."""
    return certificate_schema.dump(certstore.get_certificate(g.user, name, _domain()))


@bp.get("/<name>/certificates")
def index(name):
    """Each domain of the service (domain, aliases, redirects) with its certificate, if any."""
    listed = certstore.list_certificates(g.user, name)
    for item in listed:
        cert = item["certificate"]
        item["certificate"] = certificate_schema.dump(cert) if cert is not None else None
    return {"name": name, "certificates": listed}


@bp.put("/<name>/certificate")
def upload(name):
    """Set the own certificate of one of the service's domains: {"certificate", "key"}."""
    body = json_object()
    return certificate_schema.dump(certstore.upload_certificate(g.user, name, body, _domain()))


@bp.delete("/<name>/certificate")
def remove(name):
    """Forget a certificate of the service."""
    certstore.delete_certificate(g.user, name, _domain())
    return {"name": name, "certificate": "deleted"}
