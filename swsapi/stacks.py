"""A user's stacks: the services of one owner that share spec.stack, read and changed together.

A stack has no row of its own: it is there while one of its owner's services names it, which
is why a user sees only their own stacks and another user's stack of the same name is as
absent as a missing one. Every change of a stack is one transaction, as for one service.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select

from swsapi.errors import not_found
from swsapi.extensions import db
from swsapi.models import Service, User
from swsapi.stopping import set_stopped
from swsapi.store import mark_deleting
from swscore.contract import ServiceStatus
from swscore.spec import STACK_RE


@dataclass(frozen=True)
class StackSummary:
    name: str
    services: int
    statuses: dict[str, int]

    @property
    def status(self) -> str:
        """The status all its services share, or mixed."""
        return next(iter(self.statuses)) if len(self.statuses) == 1 else "mixed"


def list_stacks(owner: User) -> list[StackSummary]:
    """The caller's stacks by name, each with its services counted by status."""
    rows = db.session.execute(
        select(Service.stack, Service.status, func.count())
        .where(Service.owner_id == owner.id, Service.stack.is_not(None))
        .group_by(Service.stack, Service.status)
        .order_by(Service.stack, Service.status)
    )
    by_stack: dict[str, Counter] = {}
    for stack, status, count in rows:
        by_stack.setdefault(stack, Counter())[status] += count
    return [
        StackSummary(name, sum(statuses.values()), dict(sorted(statuses.items())))
        for name, statuses in by_stack.items()
    ]


def stack_services(owner: User, name: str, for_update: bool = False) -> list[Service]:
    """The caller's services of the stack by name; 404 when the caller has none in it."""
    services = []
    if STACK_RE.match(name):
        query = (
            select(Service)
            .where(Service.owner_id == owner.id, Service.stack == name)
            .order_by(Service.name)
        )
        if for_update:
            query = query.with_for_update()
        services = list(db.session.scalars(query))
    if not services:
        raise not_found(f"no stack named {name!r}")
    return services


def delete_stack(owner: User, name: str, purge: bool = False) -> list[Service]:
    """Mark every service of the stack for removal, as a delete of each, in one transaction."""
    services = stack_services(owner, name, for_update=True)
    for service in services:
        mark_deleting(service, purge)
    db.session.commit()
    return services


def set_stack_stopped(owner: User, name: str, stopped: bool) -> list[Service]:
    """Stop or start every service of the stack in one transaction (the agent orders the
    containers: services with a domain stop first, private ones start first). A service
    being deleted is left as it is; any other refusal refuses the whole stack."""
    services = stack_services(owner, name, for_update=True)
    for service in services:
        if service.status != ServiceStatus.DELETING:
            set_stopped(service, stopped)
    db.session.commit()
    return services
