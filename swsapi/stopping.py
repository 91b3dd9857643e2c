"""Stop and start: the desired state `services.stopped`, set by a user (issue 24).

The agent does the rest: a stopped service's route answers 503, its containers go, and its status
becomes `stopped` once nothing of it runs; a started one is pending until its current generation
serves again.
"""

from __future__ import annotations

from swsapi.errors import conflict
from swsapi.extensions import db
from swsapi.models import Service, User
from swsapi.store import get_service, notify
from swscore.contract import ServiceStatus


def stop_service(owner: User, name: str) -> tuple[Service, str]:
    """Ask the agent to stop the service's containers, keeping its spec, volume and history."""
    service = get_service(owner, name, for_update=True)
    result = set_stopped(service, True)
    db.session.commit()
    return service, result


def start_service(owner: User, name: str) -> tuple[Service, str]:
    """Run a stopped service again: its current generation, as pending."""
    service = get_service(owner, name, for_update=True)
    result = set_stopped(service, False)
    db.session.commit()
    return service, result


def set_stopped(service: Service, stopped: bool) -> str:
    """Set the desired state inside the caller's transaction: stopped, started or unchanged.

    A stop leaves the status alone until the agent reports `stopped` (the containers are gone);
    a start makes the service pending at once, as an apply does, so --wait follows it.
    """
    if service.status == ServiceStatus.DELETING:
        what = "stopped" if stopped else "started"
        raise conflict(
            f"service {service.name} is being deleted; it cannot be {what}",
            {"name": f"{service.name} is being deleted"},
        )
    if service.stopped == stopped:
        return "unchanged"
    service.stopped = stopped
    if not stopped:
        service.status = ServiceStatus.PENDING
    notify(service.name, "stop" if stopped else "start")
    return "stopped" if stopped else "started"
