"""What only an administrator may do to the store: read the agent's passes and the swarm's
nodes, purge a volume."""

from __future__ import annotations

from sqlalchemy import select

from swsapi.errors import conflict, forbidden, invalid_request
from swsapi.extensions import db
from swsapi.models import AgentPass, Node, Service, User, Volume
from swsapi.store import VOLUME_SUFFIX, notify
from swscore.contract import ServiceStatus
from swscore.spec import NAME_RE


def agent_passes(user: User, limit: int) -> list[AgentPass]:
    """The agent's last passes, newest first: the host's state is for administrators."""
    if not user.is_admin:
        raise forbidden("only an administrator can read the agent's passes")
    return list(db.session.scalars(select(AgentPass).order_by(AgentPass.id.desc()).limit(limit)))


def nodes(user: User) -> list[Node]:
    """The swarm's nodes by name (issue 28): where services run is the host's business."""
    if not user.is_admin:
        raise forbidden("only an administrator can read the swarm's nodes")
    return list(db.session.scalars(select(Node).order_by(Node.name, Node.id)))


def purge_volume(admin: User, name: str) -> Volume:
    """An administrator's purge of any service volume: with its service deleting, as a delete
    with purge; with no service, marked for the agent to remove. A volume in use stays."""
    if not admin.is_admin:
        raise forbidden("only an administrator can purge a volume")
    if not name.endswith(VOLUME_SUFFIX) or not NAME_RE.match(name.removesuffix(VOLUME_SUFFIX)):
        raise invalid_request(
            f"{name!r} is not a service volume name (<service name>-volume)",
            {"name": "must be <service name>-volume"},
        )
    service_name = name.removesuffix(VOLUME_SUFFIX)
    service = db.session.scalar(
        select(Service).where(Service.name == service_name).with_for_update()
    )
    if service is not None and service.status != ServiceStatus.DELETING:
        raise conflict(
            f"volume {name} belongs to service {service_name}, which is not deleted; "
            "it must be deleted first",
            {"name": f"in use by service {service_name}"},
        )
    volume = db.session.get(Volume, name, with_for_update=True)
    if volume is None:
        # Not in the store: a volume kept from before ownership was recorded, or none at all
        # (then the agent finds nothing to remove and only the record goes).
        volume = Volume(name=name, owner_id=None)
        db.session.add(volume)
    changed = not volume.purge_requested
    volume.purge_requested = True
    if service is not None and not service.purge_volume:
        service.purge_volume = True
        changed = True
    db.session.flush()
    if changed:
        notify(service_name, "purge")
    db.session.commit()
    return volume
