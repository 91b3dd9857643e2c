"""The pass's third stage: nginx must accept the routes before any proxy is drained for them.

The routes as if every new generation got ready go through `nginx -t` in a proxy that is up
(routecheck.py: its test.conf, include pointed at a scratch dir in /tmp; nothing in the volume
is written). A refused new route falls back to the older generation's; one refused too leaves
the service without a route. What the check leaves is the pass's final shape: who deploys,
which proxies roll, what the retire step takes away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swsagent import orphans
from swsagent.config import AgentConfig
from swsagent.desired import DesiredService
from swsagent.plan import CleanupPlan, hold_orphans, plan_cleanup
from swsagent.reconcile.plan import PassPlan
from swsagent.reconcile.report import PassReport
from swsagent.removals import SLACK_SECONDS
from swsagent.render import ADDRESS_SLOT, CHECK_ADDRESS, route_block, routes_conf
from swsagent.routecheck import Block, RouteCheckError, refused_blocks
from swscore.contract import ServiceStatus


@dataclass
class CheckedPass:
    """The plan as the route check left it: everything the run and the record need."""

    plan: PassPlan
    deploying: list[DesiredService]  # deployed by the run (not refused, no clash)
    failed: dict[str, tuple[str, str | None]]  # service -> (message, last log) known already
    roll: list[str]  # proxies brought to this pass's routes
    cleanup: CleanupPlan
    orphans_stopping: list[str] = field(default_factory=list)
    late: dict[str, str] = field(default_factory=dict)  # service -> why its stop is late


def check_pass(config: AgentConfig, plan: PassPlan, report: PassReport) -> CheckedPass:
    routes, deploys = plan.routes, plan.deploys
    report.note("clashes", dict(routes.clashes))
    up = [p.name for p in plan.obs.proxies]
    refused: dict[str, str] = {}
    if deploys.deploy or any(p.applied_routes != routes.fallback_text() for p in plan.obs.proxies):
        refused = refuse(config, plan, up, report)
    left_out = {**routes.clashes, **refused}
    deploying = [s for s in deploys.deploy if s.name not in left_out]
    revival = plan.revival
    # Proxies the run starts or recreates come back in maintenance: a roll readies them.
    coming_back = [
        p for p in config.names.proxies if revival and p in (*revival.start, *revival.missing)
    ]
    roll = [
        p.name
        for p in plan.obs.proxies
        if deploying or p.applied_routes != routes.fallback_text() or not p.ready
    ] + coming_back
    checked = CheckedPass(
        plan=plan,
        deploying=deploying,
        failed={n: (m, None) for n, m in left_out.items()},
        roll=roll,
        cleanup=_cleanup(config, plan, deploying, set(left_out), report),
    )
    if config.names.proxies and not up and not (revival and (revival.start or revival.missing)):
        checked.cleanup = CleanupPlan()  # no proxy routes anything now: keep what may serve
    checked.orphans_stopping = _orphans(config, plan, checked.cleanup)
    checked.late = _late_stops(plan, checked.cleanup, config.stop_timeout)
    return checked


def _cleanup(config, plan: PassPlan, deploying, failed: set[str], report) -> CleanupPlan:
    obs = plan.obs
    cleanup = plan_cleanup(
        obs.desired,
        obs.containers,
        plan.routes.serving_if_ready(deploying),
        failed,
        stopping=obs.stops.under_way(),
        volumes=obs.volumes,
    )
    held = hold_orphans(cleanup, obs.containers, config.max_orphan_share)
    if held:
        report.problems.append(held)
    _take_held(cleanup, plan)
    return cleanup


def _take_held(cleanup: CleanupPlan, plan: PassPlan) -> None:
    """A recreate's older generation stops (kept, for a failed new one to fall back to) and a
    stopped service's containers go; both in the background, after the roll held the route."""
    holds, under_way = plan.holds, plan.obs.stops.under_way()
    for name, containers in {**holds.stop_first, **holds.stopping}.items():
        cleanup.retire[name] = ""  # keep none
        cleanup.containers[name] = [c for c in containers if c not in under_way]
        waiting = [c for c in containers if c in under_way]
        if waiting:
            cleanup.waiting[name] = waiting
    cleanup.stop_only |= set(holds.stop_first)


def _orphans(config: AgentConfig, plan: PassPlan, cleanup: CleanupPlan) -> list[str]:
    """Orphans are stopped by this run and removed after orphan_grace (orphans.py); the seen
    times are the record's to save."""
    obs = plan.obs
    return orphans.settle(cleanup, obs.containers, obs.orphans_seen, config.orphan_grace, obs.now)


def _late_stops(plan: PassPlan, cleanup: CleanupPlan, timeout: float) -> dict[str, str]:
    """A background stop that outlived its time: its container is killed by this run."""
    late = set(plan.obs.stops.overdue)
    found = {}
    for name, listed in cleanup.containers.items():
        mine = sorted(late & set(listed))
        if mine:
            cleanup.kill.add(name)
            allowed = timeout + SLACK_SECONDS
            found[name] = f"container(s) {', '.join(mine)} did not stop within {allowed:g} s;"
            found[name] += " killing them"
    return found


def refuse(config: AgentConfig, plan: PassPlan, up: list[str], report) -> dict[str, str]:
    """{service: message with nginx's [emerg] line} for the routes nginx refuses; a refused
    new route falls back to the older generation's, one refused too leaves the service
    without a route. A candidate that cannot be tested is left to the roll's own test."""
    if not up:
        return {}
    routes = plan.routes
    refused: dict[str, str] = {}
    live = {
        s.name
        for s in plan.obs.desired
        if s.status == ServiceStatus.RUNNING and s.applied_generation == s.generation
    }
    for _ in range(2):  # the new routes, then the older generations they fall back to
        chosen = routes.chosen(set(refused))
        # One domain, one block: routes_conf raises on two.
        routes_conf(list(chosen.values()), config.names, routes.edge)
        # Routes already live first: a set nginx refuses only as a whole fails its newcomer.
        order = sorted(chosen.values(), key=lambda r: (r.service not in live, r.domain))
        blocks = [
            Block(
                r.service,
                route_block(r, config.names, routes.edge).replace(ADDRESS_SLOT, CHECK_ADDRESS),
            )
            for r in order
        ]
        try:
            found = refused_blocks(
                blocks, ["docker", "exec", "-i", up[0]], config.names.proxy_files
            )
        except RouteCheckError as err:
            report.notices.append(str(err))
            break
        if not found:
            break
        for name, line in found.items():
            if name in refused or name not in routes.new:
                routes.dropped.add(name)
            refused.setdefault(name, f"nginx refused the route for this service: {line}")
    else:
        routes.dropped |= set(refused)  # still refused after the fallback: leave them out
    for name in refused:
        routes.new.pop(name, None)
    report.note("refused", dict(refused))
    return refused
