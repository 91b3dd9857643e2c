"""Running/desired (issue 28): how many containers of each service's serving generation (its
applied_generation) run, written to services.replicas_running for `swsctl ls` (2/3).

Two writers count the same way: the pass, from what it observed before it acts (the deploys it
makes ready then set the full count, record.mark_running), and the log shipper every few
seconds from its container listing, so a replica that died between passes and that Docker did
not start again (a `docker kill`, a stop by hand) shows within seconds, not at the next pass.
Each write touches only the rows whose count changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import psycopg2.extras

# Every service's count: that of its applied generation, 0 when none of it runs. A row of
# VALUES always comes (a name no service has) so that an engine with no container still
# brings every count to 0.
_RECORD = """
    UPDATE services s SET replicas_running = coalesce(v.count, 0)
    FROM services t LEFT JOIN (VALUES %s) AS v(name, generation, count)
      ON v.name = t.name AND v.generation = t.applied_generation
    WHERE s.id = t.id AND s.replicas_running <> coalesce(v.count, 0)
"""
_NOBODY = ("", -1, 0)


def running_counts(containers: Iterable[tuple[str, int, bool]]) -> Counter:
    """{(service, generation): running containers} from (service, generation, running)."""
    return Counter((service, generation) for service, generation, running in containers if running)


def record(conn, counts: Counter) -> None:
    """Write each service's running count (conn: psycopg2; committed by the caller)."""
    rows = [(name, generation, count) for (name, generation), count in counts.items()]
    with conn.cursor() as cur:
        psycopg2.extras.execute_values(
            cur, _RECORD, [*rows, _NOBODY], template="(%s::text, %s::int, %s::int)"
        )
