"""Honest status when routes go stale: a service recorded `running` whose container's address
is not the one the proxies route to (the Docker engine restarted and gave it another address,
say) is set back to `pending`, with the reason, until the pass's roll has the proxies route to
it again. So neither `swsctl get` nor `swsctl apply --wait` says `running` while requests get 502.
"""

from __future__ import annotations

import re

from swsagent.config import Names
from swsagent.desired import DesiredService
from swsagent.observe import ProxyState, RunningContainer
from swsagent.plan import choose_serving, routes_for
from swsagent.render import route_block
from swscore.contract import ServiceStatus as S

REASON = (
    "its container's address changed (the Docker engine restarted?): the proxies still route to"
    " the old one, and the agent is updating them"
)


def find(
    desired: list[DesiredService],
    containers: list[RunningContainer],
    proxies: list[ProxyState],
    names: Names,
) -> list[DesiredService]:
    """Running services whose route, as it must be now, is missing from a proxy's applied routes.

    Only proxies HAProxy sends traffic to count (one down or in maintenance gets none, and is
    rolled before it does)."""
    applied = [p.applied_routes for p in proxies if p.applied_routes is not None and p.ready]
    if not applied:
        return []
    current = {
        s.name: s
        for s in desired
        if not s.deleting and s.status == S.RUNNING and s.applied_generation == s.generation
    }
    served = [upstreams(text) for text in applied]
    stale = []
    serving = choose_serving(desired, containers, set())
    for route in routes_for(serving, desired, containers):
        service = current.get(route.service)
        if service is None:
            continue
        # Addresses only, by upstream: a route rendered another way (a newer agent) is the
        # roll's business, not a reason to call the service pending. Replicas (issue 28):
        # stale when a running replica's address is not routed to; one routed to that died is
        # not (nginx passes its requests to the others, and the pass starts it again).
        for upstream, addresses in upstreams(route_block(route, names)).items():
            if any(not addresses <= seen.get(upstream, frozenset()) for seen in served):
                stale.append(service)
                break
    return stale


_UPSTREAM = re.compile(r"upstream\s+(\S+)\s*\{([^}]*)\}")
_SERVER = re.compile(r"^\s*server\s+([^;\s]+)", re.MULTILINE)


def upstreams(routes_text: str) -> dict[str, frozenset[str]]:
    """{upstream name: its servers' address:port} in nginx routes text."""
    return {name: frozenset(_SERVER.findall(body)) for name, body in _UPSTREAM.findall(routes_text)}


def mark_pending(conn, stale: list[DesiredService]) -> None:
    with conn.cursor() as cur:
        for s in stale:
            cur.execute(
                f"""UPDATE services SET status = '{S.PENDING}', message = %s, updated_at = now()
                   WHERE name = %s AND generation = %s AND status = '{S.RUNNING}'""",
                (REASON, s.name, s.generation),
            )
    conn.commit()


def mark_routed(conn, stale: list[DesiredService]) -> None:
    """The roll made their routes current again: `running`, as before (last_log kept)."""
    with conn.cursor() as cur:
        for s in stale:
            cur.execute(
                f"""UPDATE services SET status = '{S.RUNNING}', message = NULL, updated_at = now()
                   WHERE name = %s AND generation = %s AND status = '{S.PENDING}'
                     AND message = %s""",
                (s.name, s.generation, REASON),
            )
    conn.commit()
