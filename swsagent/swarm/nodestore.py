"""The agent's writes of the store's `nodes` (migration 0013): one upsert per node the manager
lists, and `left` for a node it no longer lists. The caller's transaction (step.py commits)."""

from __future__ import annotations

import json
from datetime import datetime

from psycopg2.extras import execute_values

from swsagent.swarm.nodes import NodeRow, seen_at

# A node that is not ready keeps the services it ran, and what it last reported, until it
# is back: the manager no longer hears from it, and "nothing" would be a guess.
UPSERT = """
INSERT INTO nodes (id, name, role, state, availability, address, labels, cpus, memory_bytes,
                   mem_free_bytes, disk_free_bytes, reported_at, services, last_seen_at)
VALUES %s
ON CONFLICT (id) DO UPDATE SET
  name = EXCLUDED.name, role = EXCLUDED.role, state = EXCLUDED.state,
  availability = EXCLUDED.availability, address = EXCLUDED.address, labels = EXCLUDED.labels,
  cpus = EXCLUDED.cpus, memory_bytes = EXCLUDED.memory_bytes,
  mem_free_bytes = COALESCE(EXCLUDED.mem_free_bytes, nodes.mem_free_bytes),
  disk_free_bytes = COALESCE(EXCLUDED.disk_free_bytes, nodes.disk_free_bytes),
  reported_at = COALESCE(EXCLUDED.reported_at, nodes.reported_at),
  services = CASE WHEN EXCLUDED.state <> 'ready' AND EXCLUDED.services = '[]'::jsonb
                  THEN nodes.services ELSE EXCLUDED.services END,
  last_seen_at = COALESCE(EXCLUDED.last_seen_at, nodes.last_seen_at),
  updated_at = now()
"""


def record_nodes(cur, rows: list[NodeRow], now: datetime) -> int:
    """Write every listed node; mark the others `left`. The number newly marked left."""
    if rows:
        execute_values(cur, UPSERT, [_values(row, now) for row in rows])
    cur.execute(
        """UPDATE nodes SET state = 'left', services = '[]'::jsonb, updated_at = now()
           WHERE state <> 'left' AND NOT (id = ANY(%s))""",
        ([row.id for row in rows],),
    )
    return cur.rowcount


def _values(row: NodeRow, now: datetime) -> tuple:
    report = row.report
    return (
        row.id,
        row.name,
        row.role,
        row.state,
        row.availability,
        row.address,
        json.dumps(row.labels),
        row.cpus,
        row.memory_bytes,
        report.mem_free_bytes if report else None,
        report.disk_free_bytes if report else None,
        report.reported_at if report else None,
        json.dumps(list(row.services)),
        seen_at(row, now),
    )
