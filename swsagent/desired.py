"""Read the desired state from sws-confdb: every service row, its spec validated again as v1.

The agent trusts nothing it did not check: a row whose spec no longer validates (edited by
hand, written by an older version) becomes a service the pass marks failed, not a crash.
"""

from __future__ import annotations

from dataclasses import dataclass

from swscore.contract import ServiceStatus
from swscore.spec import Definition, SpecError, load_definition


@dataclass(frozen=True)
class DesiredService:
    """One services row as the agent needs it."""

    name: str
    generation: int
    applied_generation: int
    status: str
    digest: str
    definition: Definition | None  # None when the stored spec does not validate
    problem: str | None = None  # why the stored spec was refused
    domain: str | None = ""  # None: a private service
    purge_volume: bool = False  # deleted with purge: its volume goes with it
    owner: str = ""  # the owner's user name (labels the volume it makes)
    # The store vouches for a volume made before volumes carried an owner label (0005).
    volume_adopted: bool = False
    # When the current generation was made (epoch seconds): a user's pending services deploy
    # oldest first (plan.share_deploys).
    updated: float = 0.0
    # Stopped by its user (swsctl stop), or held for a backup or restore of its volume
    # (issue 27, backuppass.py): no container, route answers 503.
    stopped: bool = False

    @property
    def deleting(self) -> bool:
        return self.status == ServiceStatus.DELETING

    @property
    def container(self) -> str:
        return container_name(self.name, self.generation)

    @property
    def replicas(self) -> int:
        """How many containers its current generation runs (spec.replicas, issue 28)."""
        return self.definition.replica_count if self.definition is not None else 1


def container_name(service: str, generation: int) -> str:
    return f"sws-svc-{service}-{generation}"


def replica_name(container: str, replica: int) -> str:
    """A generation's replica: the first keeps the generation's container name (a host made
    before replicas redeploys nothing), the others are <name>-r2, -r3... (the deploy's
    plugin names them the same way: module_utils/container.replica_name)."""
    return container if replica == 1 else f"{container}-r{replica}"


_QUERY = """
    SELECT s.name, s.domain, s.spec, s.spec_digest, s.generation, s.applied_generation,
           s.status, s.purge_volume, u.name, coalesce(v.adopted, false),
           extract(epoch FROM coalesce(g.created_at, s.created_at)),
           s.stopped OR EXISTS (
               SELECT 1 FROM backups b WHERE b.volume = s.name || '-volume' AND b.held
                 AND b.state IN ('holding', 'copying'))
             OR EXISTS (
               SELECT 1 FROM restores r WHERE r.volume = s.name || '-volume'
                 AND r.state IN ('pending', 'restoring'))
    FROM services s JOIN users u ON u.id = s.owner_id
    LEFT JOIN volumes v ON v.name = s.name || '-volume'
    LEFT JOIN service_generations g ON g.service_id = s.id AND g.generation = s.generation
    ORDER BY s.name
"""
# Volumes an administrator purged that no service row names any more (kept after a delete
# without purge): the pass removes them like the volume of a service deleted with purge.
_PURGED_VOLUMES = """
    SELECT left(v.name, -length('-volume')), coalesce(u.name, '')
    FROM volumes v LEFT JOIN users u ON u.id = v.owner_id
    WHERE v.purge_requested
      AND NOT EXISTS (SELECT 1 FROM services s WHERE s.name || '-volume' = v.name)
    ORDER BY v.name
"""


def read_desired(conn) -> list[DesiredService]:
    """Every service in the store, by name (conn: a psycopg2 connection), and a deleted one
    with purge for each volume an administrator purged after its service was gone."""
    with conn.cursor() as cur:
        cur.execute(_QUERY)
        rows = cur.fetchall()
        cur.execute(_PURGED_VOLUMES)
        purged = cur.fetchall()
    desired = [desired_from_row(*row) for row in rows]
    desired += [purged_volume(name, owner) for name, owner in purged]
    return sorted(desired, key=lambda s: s.name)


def purged_volume(name: str, owner: str = "") -> DesiredService:
    """A kept volume to remove: the service is long gone, only its volume is left (its owner
    names it on a swarm: swarmspec.volume_name)."""
    return DesiredService(
        name=name,
        owner=owner,
        generation=0,
        applied_generation=0,
        status=ServiceStatus.DELETING,
        digest="",
        definition=None,
        purge_volume=True,
    )


def desired_from_row(
    name,
    domain,
    spec,
    digest,
    generation,
    applied,
    status,
    purge_volume=False,
    owner="",
    volume_adopted=False,
    updated=0.0,
    stopped=False,
) -> DesiredService:
    definition, problem = None, None
    try:
        definition = load_definition({"apiVersion": "v1", "spec": spec})
    except SpecError as err:
        problem = f"the stored spec is invalid: {err}"
    if definition is not None and definition.name != name:
        definition, problem = None, f"the stored spec names {definition.name!r}, not {name!r}"
    return DesiredService(
        name=name,
        generation=generation,
        applied_generation=applied or 0,
        status=status,
        digest=digest,
        definition=definition,
        problem=problem,
        domain=domain,
        purge_volume=bool(purge_volume),
        owner=owner or "",
        volume_adopted=bool(volume_adopted),
        updated=float(updated or 0.0),
        stopped=bool(stopped),
    )
