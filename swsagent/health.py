"""After the switch: GET each serving container's spec.healthCheck.path, and report one that
fails it (the message says so; the status stays `running`, since nothing better can serve).

The same check gates the switch (the collection's module_utils/readiness.py); here it runs
at most every health_interval seconds (a pass whose last round is that old: reconcile.py),
from the host, straight to the container's address (no proxy in between).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from swsagent import collection
from swsagent.desired import DesiredService
from swsagent.observe import RunningContainer
from swscore.contract import ServiceStatus

# A service's message starts with this while its health check fails; the next healthy answer
# clears it (and only a message that starts with it).
PREFIX = "health check failed: "


def probe(address: str, port: int, path: str) -> str | None:
    """None when GET <path> answers 2xx or 3xx; otherwise what happened, in words (the very
    check that gated the switch, from the collection)."""
    readiness = collection.readiness()
    status, answer = readiness.http_status(address, port, path)
    return None if readiness.healthy(status) else f"GET {path} {answer}"


def check_serving(
    desired: list[DesiredService], serving: dict[str, RunningContainer]
) -> dict[str, tuple[int, str | None]]:
    """{service: (generation, problem or None)} for each running service that declares a path
    and whose current generation serves."""
    targets = [
        (s, serving[s.name])
        for s in desired
        if s.definition is not None
        and s.definition.health_path
        and s.status == ServiceStatus.RUNNING
        and s.name in serving
        and serving[s.name].generation == s.generation
        and serving[s.name].ip
    ]
    if not targets:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        problems = pool.map(lambda t: _probe_target(*t), targets)
        return {s.name: (s.generation, p) for (s, _), p in zip(targets, problems, strict=True)}


def _probe_target(service: DesiredService, container: RunningContainer) -> str | None:
    port = container.port or service.definition.port
    return probe(container.ip, port, service.definition.health_path)


def record_health(conn, results: dict[str, tuple[int, str | None]]) -> list[str]:
    """Write each result into the service's message; the names that fail it."""
    unhealthy = []
    with conn.cursor() as cur:
        for name, (generation, problem) in results.items():
            if problem:
                unhealthy.append(name)
                cur.execute(
                    f"""UPDATE services SET message = %s, updated_at = now()
                       WHERE name = %s AND generation = %s AND status = '{ServiceStatus.RUNNING}'
                         AND message IS DISTINCT FROM %s""",
                    (PREFIX + problem, name, generation, PREFIX + problem),
                )
            else:
                cur.execute(
                    f"""UPDATE services SET message = NULL, updated_at = now()
                       WHERE name = %s AND status = '{ServiceStatus.RUNNING}'
                         AND message LIKE %s""",
                    (name, PREFIX + "%"),
                )
    conn.commit()
    return sorted(unhealthy)
