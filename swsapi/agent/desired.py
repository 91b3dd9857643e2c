"""Read the desired state from sws-confdb: every service row, its spec validated again as v1.

The agent trusts nothing it did not check: a row whose spec no longer validates (edited by
hand, written by an older version) becomes a service the pass marks failed, not a crash.
"""

from __future__ import annotations

from dataclasses import dataclass

from swsapi.spec import Definition, SpecError, load_definition


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
    domain: str = ""
    purge_volume: bool = False  # deleted with purge: its volume goes with it

    @property
    def deleting(self) -> bool:
        return self.status == "deleting"

    @property
    def container(self) -> str:
        return container_name(self.name, self.generation)


def container_name(service: str, generation: int) -> str:
    return f"sws-svc-{service}-{generation}"


_QUERY = """
    SELECT name, domain, spec, spec_digest, generation, applied_generation, status, purge_volume
    FROM services ORDER BY name
"""


def read_desired(conn) -> list[DesiredService]:
    """Every service in the store, by name (conn: a psycopg2 connection)."""
    with conn.cursor() as cur:
        cur.execute(_QUERY)
        rows = cur.fetchall()
    return [desired_from_row(*row) for row in rows]


def desired_from_row(
    name, domain, spec, digest, generation, applied, status, purge_volume=False
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
    )
