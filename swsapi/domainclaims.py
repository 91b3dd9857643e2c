"""Which service a domain belongs to (issue 27): a spec's domain, aliases and redirects share
one namespace on the host, across all users.

The check answers a clear 409 naming the spec field; the table service_domains (its primary
key is the domain) is what keeps two racing applies from both winning: the loser's insert
fails, and the store's retry finds the winner's claim and answers that 409 (store.py).
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import delete, insert, or_, select

from swsapi.errors import conflict
from swsapi.extensions import db
from swsapi.models import Service, ServiceDomain, User
from swscore.spec import Definition

ROLES = {"domain": "domain", "aliases": "alias", "redirects": "redirect"}


def named_fields(definition: Definition) -> dict[str, tuple[str, str]]:
    """{domain: (its spec field, role)}: spec.domain, spec.aliases[1], spec.redirects[0]."""
    named = {}
    if definition.domain:
        named[definition.domain] = ("spec.domain", "domain")
    site = definition.site
    for key, values in (("aliases", site and site.aliases), ("redirects", site and site.redirects)):
        for index, domain in enumerate(values or ()):
            named[domain] = (f"spec.{key}[{index}]", ROLES[key])
    return named


def check_reserved(definition: Definition) -> None:
    """The operator's reserved domains (SWS_RESERVED_DOMAINS) are no service's, in any field."""
    reserved = current_app.config["SWS_RESERVED_DOMAINS"]
    for domain, (path, _) in named_fields(definition).items():
        if domain in reserved:
            raise conflict(
                f"domain {domain} is reserved on this host",
                {path: f"{domain} is reserved (SWS_RESERVED_DOMAINS)"},
            )


def check_free(owner: User, definition: Definition) -> None:
    """Each domain of the spec is free: claimed by no other service in any field, and not
    still served by another (an update to another domain that has not gone live keeps its
    old domain routed, so reserved: services.served_domain)."""
    named = named_fields(definition)
    if not named:
        return  # a private service claims no domain
    wanted = list(named)
    claimed = db.session.execute(
        select(ServiceDomain.domain, Service.name, Service.owner_id, ServiceDomain.role)
        .join(Service, Service.id == ServiceDomain.service_id)
        .where(ServiceDomain.domain.in_(wanted), Service.name != definition.name)
    ).first()
    if claimed is not None:
        _refuse(owner, named, claimed.domain, claimed.name, claimed.owner_id, "already used")
    served = db.session.execute(
        select(Service.name, Service.owner_id, Service.domain, Service.served_domain).where(
            or_(Service.domain.in_(wanted), Service.served_domain.in_(wanted)),
            Service.name != definition.name,
        )
    ).first()
    if served is not None:
        domain = served.domain if served.domain in named else served.served_domain
        how = (
            "already used"
            if domain == served.domain
            else "still served (until its update goes live)"
        )
        _refuse(owner, named, domain, served.name, served.owner_id, how)


def _refuse(owner: User, named: dict, domain: str, holder: str, holder_owner: int, how: str):
    whose = f"your service {holder}" if holder_owner == owner.id else "another user's service"
    path = named[domain][0]
    raise conflict(f"domain {domain} is {how} by {whose}", {path: f"{domain} is {how} by {whose}"})


def claim(service: Service, definition: Definition, fresh: bool = False) -> None:
    """Make the service's claims exactly its spec's domains (after check_free, in the apply's
    transaction; the service's row is flushed). Its old claims go first, so a name moving from
    one field to another, or given up, is never held twice; a name another service took in the
    meantime makes the insert fail (IntegrityError on pk_service_domains). fresh: the service
    was created in this transaction, so it has no claims to clear."""
    if not fresh:
        db.session.execute(delete(ServiceDomain).where(ServiceDomain.service_id == service.id))
    rows = [
        {"domain": domain, "service_id": service.id, "role": role}
        for domain, (_, role) in named_fields(definition).items()
    ]
    if rows:
        db.session.execute(insert(ServiceDomain), rows)
