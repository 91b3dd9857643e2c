"""What the API does with a service's certificates (issue 15), each in one transaction.

A service has one certificate a domain it claims (issue 27: its domain, each alias and each
redirect; service_domains): a request names the domain (`?domain=`), the service's own
domain when it names none. Only a domain the service holds is taken: the owner of the
service holding an alias is the only one who can upload or see its certificate.
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
from swsapi.models import Certificate, Service, ServiceDomain, User
from swsapi.store import get_service, notify
from swscore import certificates, sealing
from swscore.spec import SpecError

UPLOAD_FIELDS = ("certificate", "key")


ROLE_ORDER = {"domain": 0, "alias": 1, "redirect": 2}


def claimed_domains(service: Service) -> dict[str, str]:
    """{domain: role} of the service's claims: its domain, then aliases, then redirects."""
    rows = db.session.execute(
        select(ServiceDomain.domain, ServiceDomain.role).where(
            ServiceDomain.service_id == service.id
        )
    ).all()
    ordered = sorted(rows, key=lambda r: (ROLE_ORDER.get(r.role, 3), r.domain))
    return {row.domain: row.role for row in ordered}


def chosen_domain(service: Service, domain: str | None) -> str:
    """The domain a request is about: the one it names, which the service must hold, else
    the service's domain. Another service's domain reads as absent (nothing said of whose)."""
    if domain is None:
        if service.domain is None:
            raise conflict(
                f"service {service.name} has no domain (it is private): it takes no certificate",
                {"spec.domain": "a private service has no certificate"},
            )
        return service.domain
    domain = domain.strip().lower()
    if domain not in claimed_domains(service):
        raise not_found(f"service {service.name!r} has no domain {domain!r}")
    return domain


def get_certificate(owner: User, name: str, domain: str | None = None) -> Certificate:
    service = get_service(owner, name)
    if domain is None and service.domain is None:
        raise not_found(f"service {name!r} has no certificate (it is private)")
    chosen = chosen_domain(service, domain)
    cert = db.session.get(Certificate, (service.id, chosen))
    if cert is None:
        raise not_found(f"service {name!r} has no certificate for {chosen}")
    return cert


def list_certificates(owner: User, name: str) -> list[dict]:
    """Each of the service's domains with its role and certificate (state none: no row yet),
    then the certificates kept for a domain it no longer holds (role None: not served)."""
    service = get_service(owner, name)
    rows = db.session.scalars(select(Certificate).where(Certificate.service_id == service.id))
    stored = {cert.domain: cert for cert in rows}
    listed = []
    for domain, role in claimed_domains(service).items():
        cert = stored.pop(domain, None)
        listed.append({"role": role, "domain": domain, "certificate": cert})
    listed += [{"role": None, "domain": d, "certificate": c} for d, c in sorted(stored.items())]
    return listed


def upload_certificate(
    owner: User, name: str, body: dict, domain: str | None = None
) -> Certificate:
    """Store the user's own certificate and key for one of the service's domains."""
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
    chosen = chosen_domain(service, domain)
    try:
        checked = certificates.check(chosen, body["certificate"], body["key"])
    except SpecError as err:
        raise ApiError(400, "invalid_certificate", str(err), err.fields) from None
    cert = db.session.get(Certificate, (service.id, chosen))
    cert = cert or Certificate(service_id=service.id, domain=chosen)
    cert.source = "uploaded"
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


def delete_certificate(owner: User, name: str, domain: str | None = None) -> None:
    """Forget a certificate of the service (an ACME one is requested again if the spec asks).
    A domain the service no longer holds may be named too: its certificate is kept, unserved,
    until deleted."""
    service = get_service(owner, name, for_update=True)
    chosen = domain.strip().lower() if domain is not None else service.domain
    cert = chosen and db.session.get(Certificate, (service.id, chosen))
    if cert is None:
        raise not_found(f"service {name!r} has no certificate for {chosen or 'a domain'}")
    db.session.delete(cert)
    notify(service.name, "certificate")
    db.session.commit()
