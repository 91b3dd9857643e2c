"""What the API does to the store: apply, delete, list and get services, each in one transaction.

Every change sends NOTIFY on `sws_services` inside the transaction that makes it, so the agent
hears of a change exactly when it is committed. Unique constraints back every ownership check:
when two applies race, the loser's violation becomes a 409, never a 500 or a half-written row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from swsapi import domainclaims, history
from swsapi.errors import (
    UNIQUE_MESSAGES,
    ApiError,
    conflict,
    in_item,
    not_found,
)
from swsapi.extensions import db
from swsapi.models import Service, User, Volume
from swscore.channel import NOTIFY_CHANNEL
from swscore.contract import ServiceStatus
from swscore.spec import API_VERSION, NAME_RE, Definition, SpecError, load_definition

# GET /v1/services pages: by name, `limit` services a page (default and most).
PAGE_DEFAULT = 100
PAGE_MAX = 500
VOLUME_SUFFIX = "-volume"


def volume_name(service: str) -> str:
    """The seed's name for a service's volume."""
    return service + VOLUME_SUFFIX


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


def list_services(
    owner: User, limit: int = PAGE_DEFAULT, after: str | None = None
) -> tuple[list[Service], str | None]:
    """One page of the caller's services by name, after the name `after`; and the cursor of
    the next page (None on the last). Names are unique, so pages neither skip nor repeat."""
    query = select(Service).options(joinedload(Service.owner)).where(Service.owner_id == owner.id)
    if after is not None:
        query = query.where(Service.name > after)
    rows = list(db.session.scalars(query.order_by(Service.name).limit(limit + 1)))
    page = rows[:limit]
    return page, (page[-1].name if len(rows) > limit else None)


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
    mark_deleting(service, purge)
    db.session.commit()
    return service


def mark_deleting(service: Service, purge: bool) -> None:
    """A delete of one service, inside the caller's transaction (a stack's delete marks all)."""
    changed = service.status != ServiceStatus.DELETING or (purge and not service.purge_volume)
    service.status = ServiceStatus.DELETING
    service.purge_volume = service.purge_volume or purge
    if changed:
        notify(service.name, "delete")


def apply_service(
    owner: User, definition: Definition, *, force: bool = False, change: Change | None = None
) -> tuple[Service, str]:
    """Create or update the caller's service; return it and created/updated/unchanged.

    With force, an unchanged spec still makes a new generation (result restarted): the agent
    starts a fresh container, which is how a user retries a failed generation by hand.
    """
    (applied,) = _apply_in_one_transaction(owner, [definition], force, change or Change())
    return applied


def apply_services(owner: User, definitions: list[Definition]) -> list[tuple[Service, str]]:
    """Create or update several services of the caller, all or none: one transaction, and an
    error names its item (items[2].spec.domain), so nothing is stored when one is refused."""
    return _apply_in_one_transaction(owner, definitions, False, Change(), numbered=True)


def _apply_in_one_transaction(
    owner: User, definitions: list[Definition], force: bool, change: Change, numbered=False
) -> list[tuple[Service, str]]:
    for index, definition in enumerate(definitions):
        with _item(index if numbered else None, definition.name):
            domainclaims.check_reserved(definition)
            _check_resources(definition)
            _check_job_timeouts(definition)
    try:
        return _apply_all(owner, definitions, force, change, numbered)
    except IntegrityError:
        # A concurrent apply won the race for a name or a domain: look again, now that its
        # row is committed, and answer as if we had come second (update, unchanged or 409).
        db.session.rollback()
    try:
        return _apply_all(owner, definitions, force, change, numbered)
    except IntegrityError as err:
        db.session.rollback()
        constraint = getattr(getattr(err.orig, "diag", None), "constraint_name", None)
        raise conflict(
            UNIQUE_MESSAGES.get(constraint, "the service conflicts with another")
        ) from None


def _apply_all(
    owner: User, definitions: list[Definition], force: bool, change: Change, numbered: bool
) -> list[tuple[Service, str]]:
    applied = []
    try:
        for index, definition in enumerate(definitions):
            with _item(index if numbered else None, definition.name):
                applied.append(_apply(owner, definition, force, change))
    except (ApiError, SpecError):
        db.session.rollback()  # all or none: the items applied before this one go too
        raise
    db.session.commit()
    return applied


@contextmanager
def _item(index: int | None, name: str) -> Iterator[None]:
    """An item's errors named by its place in a multi-document apply (None: a single one)."""
    if index is None:
        yield
        return
    try:
        yield
    except (ApiError, SpecError) as err:
        raise in_item(err, index, name) from None


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


def _check_job_timeouts(definition: Definition) -> None:
    """spec.jobs' timeouts within the operator's cap (issue 26)."""
    cap = current_app.config["SWS_MAX_JOB_TIMEOUT"]
    problems = {
        f"spec.jobs[{index}].timeout": (
            f"must be at most {cap} seconds on this host (SWS_MAX_JOB_TIMEOUT)"
        )
        for index, job in enumerate(definition.jobs or ())
        if job.timeout_seconds is not None and job.timeout_seconds > cap
    }
    if problems:
        raise SpecError(problems)


def _check_resources(definition: Definition) -> None:
    """The spec's resources and replicas within the operator's caps (their shape is spec.py's)."""
    config = current_app.config
    problems = {}
    if definition.replica_count > config["SWS_MAX_REPLICAS"]:
        problems["spec.replicas"] = (
            f"must be at most {config['SWS_MAX_REPLICAS']} on this host (SWS_MAX_REPLICAS)"
        )
    if definition.resources is None:
        if problems:
            raise SpecError(problems)
        return
    memory = definition.resources.memory_bytes
    if memory is not None and memory > config["SWS_MAX_MEMORY"]:
        problems["spec.resources.memory"] = (
            f"must be at most {config['SWS_MAX_MEMORY']} bytes on this host (SWS_MAX_MEMORY)"
        )
    cpus = definition.resources.cpus
    if cpus is not None and Decimal(cpus) > config["SWS_MAX_CPUS"]:
        problems["spec.resources.cpus"] = (
            f"must be at most {config['SWS_MAX_CPUS']} on this host (SWS_MAX_CPUS)"
        )
    disk = definition.resources.disk_bytes
    if disk is not None and disk > config["SWS_MAX_DISK"]:
        problems["spec.resources.disk"] = (
            f"must be at most {config['SWS_MAX_DISK']} bytes on this host (SWS_MAX_DISK)"
        )
    if problems:
        raise SpecError(problems)


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
    if service is not None and service.status == ServiceStatus.DELETING:
        raise conflict(
            f"service {definition.name} is being deleted; apply it again once it is gone",
            {"spec.name": f"{definition.name} is being deleted"},
        )
    digest = definition.digest()
    if service is not None and service.spec_digest == digest and not force:
        return service, "unchanged"  # its domains are its own already; the commit unlocks
    domainclaims.check_free(owner, definition)
    if service is None:
        # Only a new service can meet a kept volume: an existing one's is its owner's.
        _check_volume_free(owner, definition)
    if service is None:
        _check_quota(owner)
        service = Service(name=definition.name, owner=owner, generation=1)
        db.session.add(service)
        result = "created"
    else:
        result = "restarted" if service.spec_digest == digest else "updated"
        service.generation += 1
    service.spec = definition.spec_dict()
    service.spec_digest = digest
    service.domain = definition.domain
    service.stack = definition.stack
    if not service.stopped:
        # A stopped service keeps its new generation until it is started.
        service.status = ServiceStatus.PENDING
    if definition.volume_mount:
        _reserve_volume(owner, definition.name)
    db.session.flush()
    domainclaims.claim(service, definition, fresh=result == "created")
    # A forced apply of an unchanged spec is a restart, whichever endpoint asked for it.
    cause = "restart" if result == "restarted" else change.cause
    history.record(service, cause, change.rolled_back_to)
    notify(service.name, "apply")
    return service, result


def _check_quota(owner: User) -> None:
    if owner.is_admin:
        return  # the operator's own accounts (the bootstrap's admin, benches) are not capped
    # The owner's row lock: two creates of one user are counted one after the other (the
    # second waits here, then sees the first's row).
    db.session.execute(select(User.id).where(User.id == owner.id).with_for_update())
    quota = owner.service_quota
    if quota is None:
        quota = current_app.config["SWS_SERVICE_QUOTA"]
    count = db.session.scalar(
        select(func.count())
        .select_from(Service)
        .where(Service.owner_id == owner.id, Service.status != ServiceStatus.DELETING)
    )
    if count >= quota:
        raise conflict(
            f"you have {count} services, your quota is {quota}: delete one, or ask an "
            "administrator to raise your quota",
            {"spec.name": f"over the quota of {quota} services"},
        )


def _check_volume_free(owner: User, definition: Definition) -> None:
    """A kept volume <name>-volume keeps the name for its owner (administrators for a volume
    whose owner is unknown); one being purged keeps it until it is gone."""
    volume = db.session.get(Volume, volume_name(definition.name), with_for_update=True)
    if volume is None:
        return
    name = volume.name
    if volume.purge_requested:
        raise conflict(
            f"the kept volume {name} is being purged; apply {definition.name} again "
            "once it is gone",
            {"spec.name": f"{name} is being purged"},
        )
    if volume.owner_id == owner.id or (volume.owner_id is None and owner.is_admin):
        return
    if volume.owner_id is None:
        whose = "an unknown owner (an administrator can purge it)"
    else:
        whose = "another user"
    raise conflict(
        f"service name {definition.name} is held by a kept volume {name} of {whose}",
        {"spec.name": f"a kept volume {name} holds this name"},
    )


def _reserve_volume(owner: User, service: str) -> None:
    volume = db.session.get(Volume, volume_name(service))
    if volume is None:
        db.session.add(Volume(name=volume_name(service), owner_id=owner.id))
    elif volume.owner_id is None:
        volume.owner_id = owner.id  # an administrator claims a volume of unknown owner


def set_quota(name: str, quota: int | None) -> User:
    """Set a user's service quota (None: back to SWS_SERVICE_QUOTA)."""
    user = db.session.scalar(select(User).where(User.name == name).with_for_update())
    if user is None:
        raise not_found(f"no user {name}")
    user.service_quota = quota
    db.session.commit()
    return user
