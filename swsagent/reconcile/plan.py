"""The pass's second stage, pure: from what was observed, what this pass will do.

Which services start their current generation (at most `deploys_per_user` of one user), which
specs are invalid or queued, which routes were stale, what the control plane needs (start,
recreate, hold back), and the routes as if every new generation got ready: the new ones with
an address slot, and what serves without them. Nothing here reads or writes anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from swsagent import diskspace, firewall, retries, stacks, stale
from swsagent.config import AgentConfig
from swsagent.controlplane import Revival, plan_revival
from swsagent.desired import DesiredService
from swsagent.holds import HoldPlan, plan_holds
from swsagent.observe import RunningContainer
from swsagent.plan import (
    DeployPlan,
    Route,
    choose_serving,
    drop_shared_domains,
    plan_deploys,
    routes_for,
    share_deploys,
)
from swsagent.reconcile.observe import Observation
from swsagent.render import ADDRESS_SLOT, containment_vars, routes_conf, routes_plan
from swsagent.tlsroutes import EdgeTls


@dataclass
class PassPlan:
    obs: Observation
    deploys: DeployPlan
    routes: PassRoutes
    revival: Revival | None  # None: this agent has no proxies to look after
    stale: list[DesiredService]  # running services whose routes went stale (rerouted by the roll)
    holds: HoldPlan  # stopped and recreated services: routes held, what stops first
    stacks: stacks.StackPlan  # the stacks' networks: made before the deploys, removed after
    firewall: firewall.Repair | None = None  # the services' firewall rules to put back first
    # New services and volumes held back below the free-disk floor: service -> why.
    disk_refused: dict[str, str] = dataclasses.field(default_factory=dict)


def plan_pass(config: AgentConfig, obs: Observation) -> PassPlan:
    desired, containers = obs.desired, obs.containers
    retry = retries.due(desired, obs.attempts, config.retry_failed, obs.now)
    if obs.swarm is not None:  # a volume's node back: its service is tried again
        retry = {*retry, *obs.swarm.node_back()}
    deploys = plan_deploys(
        desired,
        containers,
        retry,
        containment=lambda s: containment_vars(s, config.containment)["sws_service_containment"],
    )
    if obs.swarm is not None:  # the volume's data is on its node alone: never deployed elsewhere
        deploys.deploy = [s for s in deploys.deploy if s.name not in obs.swarm.node_problems]
    deploys = share_deploys(deploys, config.deploys_per_user)
    holds = plan_holds(desired, containers, deploys, obs.stops.under_way())
    deploys.deploy = [s for s in deploys.deploy if s.name not in holds.wait_for_stop]
    stack_plan = stacks.plan_stacks(
        desired,
        obs.stack_networks,
        obs.subnets_taken,
        config.names.label_prefix,
        config.stack_subnets,
        config.stack_subnet_prefix,
        on_swarm=config.swarm_executor,
    )
    # A service whose stack has no network cannot start (the range is full): it says why.
    deploys.deploy = [s for s in deploys.deploy if s.name not in stack_plan.problems]
    # Below the free-disk floor nothing new is added to the disk; what runs goes on.
    disk_refused = diskspace.refuse_new(
        deploys.deploy,
        containers,
        obs.disk,
        config.disk.min_free,
        sized=config.disk.volumes_dir is not None,
    )
    deploys.deploy = [s for s in deploys.deploy if s.name not in disk_refused]
    edge = EdgeTls(https_port=config.https_port, default_source=config.tls_default_certificate)
    if obs.edge is not None:
        edge = dataclasses.replace(edge, certificates=obs.edge.fingerprints)
    names = config.names
    return PassPlan(
        obs=obs,
        deploys=deploys,
        routes=PassRoutes(config, desired, containers, deploys, edge, holds),
        revival=plan_revival(names, obs.plane) if names.proxies else None,
        stale=stale.find(desired, containers, obs.proxies, names) if names.proxies else [],
        holds=holds,
        stacks=stack_plan,
        firewall=firewall.plan(config.contract, obs.firewall) if obs.firewall else None,
        disk_refused=disk_refused,
    )


class PassRoutes:
    """The routes of a pass, rendered before the run: the new generations' (address slot) and
    what serves without them. The route check (check.py) tells which nginx refuses."""

    def __init__(self, config, desired, containers, deploys: DeployPlan, edge, holds: HoldPlan):
        self.config, self.desired, self.containers = config, desired, containers
        self.edge = edge  # the host's HTTPS: each route's TLS server lines (tlsroutes.py)
        serving = choose_serving(desired, containers, set())
        self.fallback = {r.service: r for r in routes_for(serving, desired, containers)}
        # Stopped or recreated: the domain answers 503, whatever still runs.
        for s in desired:
            if s.name in holds.held and s.definition and s.definition.domain:
                self.fallback[s.name] = _route(s, address="", held=True)
        # A recreate's older container, should it have to serve again (its own labels).
        older = {c.name: c for c in containers}
        self.restarted = {
            name: _older_route(c.domain, name, c.port, desired)
            for name, kept in holds.fallback.items()
            if (c := older.get(kept)) and c.domain and c.port
        }
        self.new = {
            s.name: _route(s, address=ADDRESS_SLOT)
            for s in deploys.deploy
            if s.definition.domain  # a private service has no route
        }
        self.dropped: set[str] = set()  # no route at all: refused, and its older one too
        # One domain, one service (plan.drop_shared_domains), among the routes as if every
        # new generation got ready: a newcomer on a taken domain is left out, not deployed.
        _, self.clashes = drop_shared_domains(self.serving_if_ready(deploys.deploy), desired)
        self.dropped |= set(self.clashes)
        for name in self.clashes:
            self.new.pop(name, None)

    def fallback_text(self) -> str:
        routes = [r for n, r in self.fallback.items() if n not in self.dropped]
        return routes_conf(routes, self.config.names, self.edge)

    def chosen(self, without_new: set[str]) -> dict[str, Route]:
        chosen = {n: r for n, r in self.fallback.items() if n not in self.dropped}
        chosen.update({n: r for n, r in self.new.items() if n not in without_new})
        return {n: r for n, r in chosen.items() if n not in self.dropped}

    def serving_if_ready(self, deploying: list[DesiredService]) -> dict[str, RunningContainer]:
        """What serves once this pass's deploys got ready (the retire keeps these)."""
        serving = choose_serving(self.desired, self.containers, set())
        for service in deploying:
            serving[service.name] = RunningContainer(
                name=service.container,
                service=service.name,
                generation=service.generation,
                digest=service.digest,
                domain=service.definition.domain or "",  # "": private, no route
                port=service.definition.port,
                running=True,
                ip=None,
            )
        return {n: c for n, c in serving.items() if n not in self.dropped}

    def plan(self, deploying: list[DesiredService]) -> dict:
        names = {s.name for s in deploying}
        fixed = {n: r for n, r in self.fallback.items() if n not in names and n not in self.dropped}
        fallback = {n: r for n, r in self.fallback.items() if n in names}
        new = {n: r for n, r in self.new.items() if n in names}
        restarted = {n: r for n, r in self.restarted.items() if n in names}
        return routes_plan(fixed, new, fallback, self.config.names, self.edge, restarted)


def _route(service: DesiredService, address: str, held: bool = False) -> Route:
    """The service's route; with the address slot, one slot a replica (issue 28): the roll
    puts each replica's address in its slot, in replica order (module_utils/proxyroll.py)."""
    d = service.definition
    more = (address,) * (service.replicas - 1) if address == ADDRESS_SLOT else ()
    route = Route(d.domain, service.name, address, d.port, d.http, d.tls, held=held, site=d.site)
    return dataclasses.replace(route, more_addresses=more)


def _older_route(domain: str, name: str, port: int, desired: list[DesiredService]) -> Route:
    """An older container's route (its own domain and port, the address slot), with the
    service's current spec's settings: a route's settings are its spec's."""
    for s in desired:
        if s.name == name and s.definition is not None:
            d = s.definition
            return Route(domain, name, ADDRESS_SLOT, port, d.http, d.tls, site=d.site)
    return Route(domain, name, ADDRESS_SLOT, port)
