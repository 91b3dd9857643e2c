"""The store writes of the swarm executor's volumes (issue 28, migrations 0015 and 0016), in
the pass's record stage: a volume's node recorded the first time its service's task is seen
running there (on the service and on the volume, which outlives it), and a service whose
recorded node cannot run it `failed`, naming the node. The volume's data is on that node
alone: the plan never deploys such a service (reconcile/plan.py), so it is never started
elsewhere.
"""

from __future__ import annotations

from swsagent.desired import DesiredService
from swsagent.observe import RunningContainer
from swsagent.swarm.observe import SwarmSeen
from swscore.contract import ServiceStatus as S


def record_volume_nodes(
    conn, seen: SwarmSeen, desired: list[DesiredService], containers: list[RunningContainer]
) -> tuple[list[str], list[str]]:
    """(services whose node was recorded now, services failed now for their node)."""
    with conn.cursor() as cur:
        recorded = []
        for name, node in sorted(seen.first_nodes.items()):
            cur.execute(
                "UPDATE services SET volume_node = %s WHERE name = %s AND volume_node IS NULL",
                (node, name),
            )
            if cur.rowcount:
                recorded.append(name)
            # The volume's own record keeps it after the service is gone (migration 0016).
            cur.execute(
                "UPDATE volumes SET node = %s WHERE name = %s AND node IS NULL",
                (node, f"{name}-volume"),
            )
        failed = []
        for name, (generation, why) in stranded(seen, desired, containers).items():
            cur.execute(
                f"""UPDATE services SET status = '{S.FAILED}', message = %s, updated_at = now()
                    WHERE name = %s AND generation = %s AND status <> '{S.DELETING}'
                      AND NOT stopped
                      AND (status <> '{S.FAILED}' OR message IS DISTINCT FROM %s)""",
                (why, name, generation, why),
            )
            if cur.rowcount:
                failed.append(name)
    conn.commit()
    return recorded, failed


def stranded(
    seen: SwarmSeen, desired: list[DesiredService], containers: list[RunningContainer]
) -> dict[str, tuple[int, str]]:
    """The live services whose volume's node cannot run them and that run no task: service ->
    (its generation, why) (pure). One whose task still runs (a node paused) serves on; its
    next generation waits for the node (the plan leaves it out)."""
    running = {c.service for c in containers if c.running}
    return {
        s.name: (s.generation, seen.node_problems[s.name])
        for s in desired
        if s.name in seen.node_problems
        and s.name not in running
        and not s.deleting
        and not s.stopped
    }
