"""What the API does to the store: apply, delete, list and get services, each in one transaction.

Every change sends NOTIFY on `sws_services` inside the transaction that makes it, so the agent
hears of a change exactly when it is committed. Unique constraints back every ownership check:
when two applies race, the loser's violation becomes a 409, never a 500 or a half-written row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from swsapi import history
from swsapi.errors import UNIQUE_MESSAGES, ApiError, conflict, not_found
from swsapi.extensions import db
from swsapi.models import Service, User
from swsapi.spec import API_VERSION, NAME_RE, Definition, SpecError, load_definition

NOTIFY_CHANNEL = "sws_services"


@dataclass(frozen=True)
class Change:
    """Why a generation is made, as its history records it."""

    cause: str = "apply"  # apply, restart or rollback
    rolled_back_to: int | None = None
    of_existing: bool = False  # restart and rollback: the service must still exist


def notify(name: str, event: str) -> None:
    payload = json.dumps({"name": name, "event": event})
    db.session.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": NOTIFY_CHANNEL, "payload": payload},
    )


def list_services(owner: User) -> list[Service]:
    return list(
        db.session.scalars(
            select(Service)
            .options(joinedload(Service.owner))
            .where(Service.owner_id == owner.id)
            .order_by(Service.name)
        )
    )


def get_service(owner: User, name: str, for_update: bool = False) -> Service:
    """The caller's service by name; another user's service is as absent as a missing one."""
    service = None
    if NAME_RE.match(name):
        query = select(Service).where(Service.name == name, Service.owner_id == owner.id)
        if for_update:
            query = query.with_for_update()
        service = db.session.scalar(query)
    if service is None:
        raise not_found(f"no service named {name!r}")
    return service


def delete_service(owner: User, name: str, purge: bool = False) -> Service:
    """Mark a service for removal; the agent removes its container, route and record, and
    with purge its volume too. A purge is never taken back by a later delete without one."""
    service = get_service(owner, name, for_update=True)
    changed = service.status != "deleting" or (purge and not service.purge_volume)
    service.status = "deleting"
    service.purge_volume = service.purge_volume or purge
    if changed:
        notify(service.name, "delete")
    db.session.commit()
    return service


def apply_service(
    owner: User, definition: Definition, *, force: bool = False, change: Change | None = None
) -> tuple[Service, str]:
    """Create or update the caller's service; return it and created/updated/unchanged.

    With force, an unchanged spec still makes a new generation (result restarted): the agent
    starts a fresh container, which is how a user retries a failed generation by hand.
    """
    _check_reserved(definition.domain)
    change = change or Change()
    try:
        return _apply(owner, definition, force, change)
    except IntegrityError:
        # A concurrent apply won the race for the name or domain: look again, now that its
        # row is committed, and answer as if we had come second (update, unchanged or 409).
        db.session.rollback()
    try:
        return _apply(owner, definition, force, change)
    except IntegrityError as err:
        db.session.rollback()
        constraint = getattr(getattr(err.orig, "diag", None), "constraint_name", None)
        raise conflict(
            UNIQUE_MESSAGES.get(constraint, "the service conflicts with another")
        ) from None


def restart_service(owner: User, name: str) -> tuple[Service, str]:
    """Make a new generation of the service's current spec (the agent starts it afresh)."""
    service = get_service(owner, name, for_update=True)
    definition = _stored_definition(service.spec, f"the current spec of {name}")
    return apply_service(owner, definition, force=True, change=Change("restart", None, True))


def rollback_service(
    owner: User, name: str, generation: int | None = None
) -> tuple[Service, str, int]:
    """Apply a kept generation's spec as a new generation, under today's rules (validation,
    reserved and taken domains); return the service, the result and the generation used."""
    service = get_service(owner, name, for_update=True)
    target = history.rollback_target(service, generation)
    definition = _stored_definition(target.spec, f"generation {target.generation}'s spec")
    change = Change("rollback", target.generation, True)
    service, result = apply_service(owner, definition, change=change)
    return service, result, target.generation


def _stored_definition(spec: dict, what: str) -> Definition:
    """A stored spec checked again: the rules may have tightened since it was applied."""
    try:
        return load_definition({"apiVersion": API_VERSION, "spec": spec})
    except SpecError as err:
        db.session.rollback()
        raise ApiError(
            400, "invalid_definition", f"{what} is not valid under today's rules", err.fields
        ) from None


def _check_reserved(domain: str) -> None:
    if domain in current_app.config["SWS_RESERVED_DOMAINS"]:
        raise conflict(
            f"domain {domain} is reserved on this host",
            {"spec.domain": f"{domain} is reserved (SWS_RESERVED_DOMAINS)"},
        )


def _apply(owner: User, definition: Definition, force: bool, change: Change) -> tuple[Service, str]:
    service = db.session.scalar(
        select(Service).where(Service.name == definition.name).with_for_update()
    )
    if service is not None and service.owner_id != owner.id:
        raise conflict(
            f"service name {definition.name} is taken by another user",
            {"spec.name": f"{definition.name} belongs to another user"},
        )
    if service is None and change.of_existing:
        # Restart and rollback act on a service that existed when they were asked for.
        raise not_found(f"no service named {definition.name!r}")
    if service is not None and service.status == "deleting":
        raise conflict(
            f"service {definition.name} is being deleted; apply it again once it is gone",
            {"spec.name": f"{definition.name} is being deleted"},
        )
    _check_domain_free(owner, definition)
    digest = definition.digest()
    if service is not None and service.spec_digest == digest and not force:
        db.session.commit()  # releases the row lock; nothing changed
        return service, "unchanged"
    if service is None:
        service = Service(name=definition.name, owner=owner, generation=1)
        db.session.add(service)
        result = "created"
    else:
        result = "restarted" if service.spec_digest == digest else "updated"
        service.generation += 1
    service.spec = definition.spec_dict()
    service.spec_digest = digest
    service.domain = definition.domain
    service.status = "pending"
    db.session.flush()
    # A forced apply of an unchanged spec is a restart, whichever endpoint asked for it.
    cause = "restart" if result == "restarted" else change.cause
    history.record(service, cause, change.rolled_back_to)
    notify(service.name, "apply")
    db.session.commit()
    return service, result


def _check_domain_free(owner: User, definition: Definition) -> None:
    holder = db.session.execute(
        select(Service.name, Service.owner_id).where(
            Service.domain == definition.domain, Service.name != definition.name
        )
    ).first()
    if holder is None:
        return
    if holder.owner_id == owner.id:
        whose = f"your service {holder.name}"
    else:
        whose = "another user's service"
    raise conflict(
        f"domain {definition.domain} is already used by {whose}",
        {"spec.domain": f"{definition.domain} is already used by {whose}"},
    )
