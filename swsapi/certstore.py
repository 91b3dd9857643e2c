"""What the API does with a service's certificate (issue 15), each in one transaction.

An upload is checked (swscore/certificates.py), its key sealed to the host's public key at
once, and stored; the agent opens it on the host. A NOTIFY wakes the agent, whose pass writes
the certificate to the proxies and rolls them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select

from swsapi.errors import ApiError, conflict, invalid_request, not_found
from swsapi.extensions import db
from swsapi.models import Certificate, User
from swsapi.store import get_service, notify
from swscore import certificates, sealing
from swscore.spec import SpecError

UPLOAD_FIELDS = ("certificate", "key")


def get_certificate(owner: User, name: str) -> Certificate:
    service = get_service(owner, name)
    cert = db.session.scalar(select(Certificate).where(Certificate.service_id == service.id))
    if cert is None:
        raise not_found(f"service {name!r} has no certificate")
    return cert


def upload_certificate(owner: User, name: str, body: dict) -> Certificate:
    """Store the user's own certificate and key for the service's current domain."""
    unknown = sorted(set(body) - set(UPLOAD_FIELDS))
    if unknown:
        raise invalid_request(
            f"unknown field {unknown[0]!r}; the body holds certificate and key",
            {key: "unknown field" for key in unknown},
        )
    missing = [key for key in UPLOAD_FIELDS if key not in body]
    if missing:
        raise invalid_request(
            f"{missing[0]} is required", {key: "required field is missing" for key in missing}
        )
    seal_key = current_app.config["SWS_CERT_SEAL_KEY"]
    if seal_key is None:
        raise ApiError(
            503, "not_configured", "this host takes no certificates (no sealing key was made)"
        )
    service = get_service(owner, name, for_update=True)
    if service.domain is None:
        raise conflict(
            f"service {name} has no domain (it is private): it takes no certificate",
            {"spec.domain": "a private service has no certificate"},
        )
    try:
        checked = certificates.check(service.domain, body["certificate"], body["key"])
    except SpecError as err:
        raise ApiError(400, "invalid_certificate", str(err), err.fields) from None
    cert = db.session.get(Certificate, service.id) or Certificate(service_id=service.id)
    cert.source = "uploaded"
    cert.domain = service.domain
    cert.chain_pem = checked.chain_pem
    cert.key_sealed = sealing.seal(seal_key, checked.key_pem)
    cert.fingerprint = checked.fingerprint
    cert.not_after = checked.not_after
    cert.state = "uploaded"
    cert.message = None
    cert.attempts = 0
    cert.next_attempt_at = None
    cert.updated_at = datetime.now(UTC)
    db.session.add(cert)
    notify(service.name, "certificate")
    db.session.commit()
    return cert


def delete_certificate(owner: User, name: str) -> None:
    """Forget the service's certificate (an ACME one is requested again if the spec asks)."""
    service = get_service(owner, name, for_update=True)
    cert = db.session.get(Certificate, service.id)
    if cert is None:
        raise not_found(f"service {name!r} has no certificate")
    db.session.delete(cert)
    notify(service.name, "certificate")
    db.session.commit()
