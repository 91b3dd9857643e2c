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
from swsagent.plan import replicas_of
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
    desired: list[DesiredService],
    serving: dict[str, RunningContainer],
    containers: list[RunningContainer] = (),
) -> dict[str, tuple[int, str | None]]:
    """{service: (generation, problem or None)} for each running service that declares a path
    and whose current generation serves: every running replica of it is probed (issue 28;
    `containers` not given: the serving container alone), the first failure is the service's."""
    targets = [
        (s, replica)
        for s in desired
        if s.definition is not None
        and s.definition.health_path
        and s.status == ServiceStatus.RUNNING
        and s.name in serving
        and serving[s.name].generation == s.generation
        and serving[s.name].ip
        for replica in (replicas_of(serving[s.name], list(containers)) or [serving[s.name]])
    ]
    if not targets:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        problems = list(pool.map(lambda t: _probe_target(*t), targets))
    results: dict[str, tuple[int, str | None]] = {}
    for (s, replica), problem in zip(targets, problems, strict=True):
        if problem and s.replicas > 1:
            problem = f"replica {replica.replica}: {problem}"
        if results.get(s.name, (0, None))[1] is None:
            results[s.name] = (s.generation, problem)
    return results


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
