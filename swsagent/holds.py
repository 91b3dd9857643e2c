"""Services that must get no request for a while: stopped by their user, or being recreated.

A recreate (spec.update, the default for a service with a volume) never puts two containers on
one volume, and usually takes one pass:
  1. its route answers 503 with Retry-After (render.py): reconcile.yml's hold play rolls both
     proxies to that at once, before any deploy;
  2. the deploy stops the older generation and waits for it at most the agent's
     recreate_stop_wait (2 s), then starts the new generation on the volume; the final roll
     routes to it once it is ready, and the retire step removes the older container. If the
     new one fails, it is removed and the stopped older container starts again and serves
     (sws.host.service_container's fallback).
A stop that outlasts that wait is not waited for (no pass waits for a stop, issue 23): the
deploy says it is deferred, the retire step finishes the stop in the background, and the
next pass (the watching agent polls the engine while a stop is under way) starts the new
generation with the kept older container as its fallback.
A stopped service's route answers 503 too, and its containers go; its spec, volume and history
stay. A stack stops bottom-up: a private service stops only once the services of its stack
that have a domain have stopped (the start goes the other way: reconcile.yml starts private
services first).

Pure: from what was observed and the deploy plan, nothing read or written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swsagent.desired import DesiredService
from swsagent.observe import RunningContainer
from swsagent.plan import DeployPlan, by_service


@dataclass
class HoldPlan:
    held: set[str] = field(default_factory=set)  # routes that answer 503 in this pass
    # Recreates: service -> running older containers its deploy stops (kept) before it starts.
    stop_first: dict[str, list[str]] = field(default_factory=dict)
    # Recreates: service -> its older container, stopped by now (started again on failure).
    fallback: dict[str, str] = field(default_factory=dict)
    # Recreates whose older generation's stop (handed over by an earlier pass) is still under
    # way: they do not deploy in this pass.
    wait_for_stop: dict[str, list[str]] = field(default_factory=dict)
    stopping: dict[str, list[str]] = field(default_factory=dict)  # stopped by user: take these
    stopped: list[str] = field(default_factory=list)  # stopped by user, nothing left: 'stopped'
    waiting: dict[str, str] = field(default_factory=dict)  # service -> why its stop waits


def plan_holds(
    desired: list[DesiredService],
    containers: list[RunningContainer],
    deploys: DeployPlan,
    under_way: frozenset[str] | set[str] = frozenset(),
) -> HoldPlan:
    """Which routes are held and what stops first. under_way: containers whose background stop
    is running; a recreate waiting for one is in `wait_for_stop` (the caller leaves it out of
    this pass's deploys)."""
    plan = HoldPlan()
    grouped = by_service(containers)
    for service in desired:
        if service.stopped and not service.deleting:
            _stop(plan, service, grouped.get(service.name, []), desired, grouped)
    for service in deploys.deploy:
        if service.definition is None or service.definition.update_strategy != "recreate":
            continue
        older = [c for c in grouped.get(service.name, []) if c.name != service.container]
        running = [c.name for c in older if c.running]
        plan.held.add(service.name)
        if set(running) & set(under_way):
            plan.wait_for_stop[service.name] = running
            continue
        if running:
            plan.stop_first[service.name] = running
        kept = [c for c in older if c.generation == service.applied_generation] or older
        if kept:
            plan.fallback[service.name] = kept[-1].name
    return plan


def _stop(plan: HoldPlan, service, mine, desired, grouped) -> None:
    plan.held.add(service.name)
    if not mine:
        plan.stopped.append(service.name)
        return
    blocker = _serving_sibling(service, desired, grouped)
    if blocker:
        plan.waiting[service.name] = f"stopping: waits for {blocker} (a stack stops bottom-up)"
        return
    plan.stopping[service.name] = [c.name for c in mine]


def _serving_sibling(service: DesiredService, desired, grouped) -> str | None:
    """A stopped service with a domain of the same stack that still runs, for a private one."""
    stack = service.definition.stack if service.definition else None
    if not stack or (service.definition and service.definition.domain):
        return None
    for other in desired:
        d = other.definition
        if (
            other.stopped
            and other.owner == service.owner
            and d is not None
            and d.stack == stack
            and d.domain
            and any(c.running for c in grouped.get(other.name, []))
        ):
            return other.name
    return None
