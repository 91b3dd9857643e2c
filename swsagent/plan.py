"""Decide what a pass must do by comparing the desired services with the containers that run.

Pure functions: no store, no Docker. The plan is split in two because routes can only be
chosen once the new containers have proven they accept connections.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from swsagent.desired import DesiredService
from swsagent.observe import RunningContainer
from swscore.contract import ServiceStatus
from swscore.spec import HttpSettings, SiteSettings, TlsSettings


@dataclass(frozen=True)
class Route:
    """One domain served by one container at one address."""

    domain: str
    service: str
    address: str
    port: int
    http: HttpSettings | None = None  # the service's spec.http, None for the host's defaults
    tls: TlsSettings | None = None  # the service's spec.tls (issue 15), None: the host's default
    # Held: no container may get requests now (stopped, or recreated: its old generation stops
    # before the new one starts); the domain answers 503 with Retry-After (render.py).
    held: bool = False
    # Aliases, redirects, access and pages (issue 27): the current spec's, like http and tls.
    site: SiteSettings | None = None
    # The other replicas' addresses (issue 28): the upstream lists every one, after `address`.
    more_addresses: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.address, *self.more_addresses)


@dataclass
class DeployPlan:
    deploy: list[DesiredService] = field(default_factory=list)  # start the current generation
    invalid: list[DesiredService] = field(default_factory=list)  # stored spec does not validate
    # Left for the next pass by the per-user share (share_deploys): owner -> services.
    queued: dict[str, list[DesiredService]] = field(default_factory=dict)


def by_service(containers: list[RunningContainer]) -> dict[str, list[RunningContainer]]:
    grouped: dict[str, list[RunningContainer]] = defaultdict(list)
    for c in containers:
        grouped[c.service].append(c)
    return grouped


def current_container(
    service: DesiredService, containers: list[RunningContainer]
) -> RunningContainer | None:
    """The container of the service's current generation and spec, if one exists."""
    for c in containers:
        if c.generation == service.generation and c.digest == service.digest:
            return c
    return None


def replicas_of(
    container: RunningContainer, containers: list[RunningContainer]
) -> list[RunningContainer]:
    """The running replicas (with an address) of the container's generation, in replica order:
    a generation is one spec, so its containers are the ones of its service and number."""
    return sorted(
        (
            c
            for c in containers
            if c.service == container.service
            and c.generation == container.generation
            and c.running
            and c.ip
        ),
        key=lambda c: (c.replica, c.name),
    )


def all_replicas_run(service: DesiredService, containers: list[RunningContainer]) -> bool:
    """Every replica of the current generation and spec runs with an address (issue 28): one
    that died and Docker did not start again (a `docker kill`) is started by a deploy."""
    running = {
        c.replica
        for c in containers
        if c.generation == service.generation and c.digest == service.digest and c.running and c.ip
    }
    return running >= set(range(1, service.replicas + 1))


def plan_deploys(
    desired: list[DesiredService],
    containers: list[RunningContainer],
    retry: frozenset[str] | set[str] = frozenset(),
    containment: Callable[[DesiredService], str] | None = None,
) -> DeployPlan:
    """Which services need their current generation started (or restarted); `retry`: failed
    services whose generation is due to be tried again; `containment`: the digest of how a
    service must be contained now (render.containment_vars): a container started under other
    limits or capabilities (the operator changed the defaults) is started again."""
    plan = DeployPlan()
    grouped = by_service(containers)
    for service in desired:
        if service.deleting or service.stopped:
            continue
        if service.definition is None:
            if service.status != ServiceStatus.FAILED:
                plan.invalid.append(service)
            continue
        mine = grouped.get(service.name, [])
        current = current_container(service, mine)
        healthy = current is not None and all_replicas_run(service, mine)
        if healthy and containment is not None and current.containment != containment(service):
            healthy = False
        applied = (
            service.status == ServiceStatus.RUNNING
            and service.applied_generation == service.generation
        )
        if healthy and applied:
            continue
        if service.status == ServiceStatus.FAILED and service.name not in retry:
            # A failure sticks to its generation (a container that never got ready, a route
            # nginx refused): retrying every minute would run a playbook every pass for
            # nothing. retries.py tries it again a few times with backoff; a new apply
            # (new generation) always does.
            continue
        plan.deploy.append(service)
    return plan


def share_deploys(plan: DeployPlan, per_user: int) -> DeployPlan:
    """Take at most `per_user` of each owner's deploys into this pass, oldest change first.

    One user's burst of applies must not starve another user's single apply: a pass deploys a
    bounded share of each user's queue, and the watching agent runs the next pass at once while
    anything is queued, so B's one service waits for at most one pass holding `per_user` of A's,
    not for all of them. 0 or less: no limit.
    """
    if per_user <= 0:
        return plan
    mine: dict[str, list[DesiredService]] = defaultdict(list)
    for service in sorted(plan.deploy, key=lambda s: (s.updated, s.name)):
        mine[service.owner].append(service)
    taken = {s.name for queue in mine.values() for s in queue[:per_user]}
    plan.queued = {owner: queue[per_user:] for owner, queue in mine.items() if queue[per_user:]}
    plan.deploy = [s for s in plan.deploy if s.name in taken]
    return plan


def choose_serving(
    desired: list[DesiredService],
    containers: list[RunningContainer],
    ready: set[str],
) -> dict[str, RunningContainer]:
    """For each live service, the container the proxies route to.

    The current generation serves when it is running and either just proved ready (`ready`:
    service names) or was recorded as applied; otherwise the applied generation keeps serving.
    """
    grouped = by_service(containers)
    serving: dict[str, RunningContainer] = {}
    for service in desired:
        if service.deleting or service.stopped:
            continue
        mine = [c for c in grouped.get(service.name, []) if c.running and c.ip and c.port]
        current = current_container(service, mine)
        if current and (
            service.name in ready
            or (
                service.status == ServiceStatus.RUNNING
                and service.applied_generation == service.generation
            )
        ):
            serving[service.name] = current
            continue
        applied = [c for c in mine if c.generation == service.applied_generation]
        if applied:
            serving[service.name] = applied[-1]
    return serving


def drop_shared_domains(
    serving: dict[str, RunningContainer], desired: list[DesiredService]
) -> tuple[dict[str, RunningContainer], dict[str, str]]:
    """One domain, one service: when two serving containers claim one domain, keep the one the
    store gives that domain to (the service live on it, else the one whose spec names it) and
    leave the others out, each with the reason. The API keeps domains unique, so this is a
    guard against a store edited by hand, not a path users reach; without it one bad row
    would stop every user's routes (render.routes_conf refuses to render the clash)."""
    by_name = {s.name: s for s in desired}
    claims: dict[str, list[str]] = defaultdict(list)
    for name, container in serving.items():
        if container.domain:
            claims[container.domain].append(name)

    def rank(name: str, domain: str) -> tuple:
        service = by_name.get(name)
        live = (
            service is not None
            and service.status == ServiceStatus.RUNNING
            and service.applied_generation == service.generation
        )
        return (not live, not (service is not None and service.domain == domain), name)

    refused: dict[str, str] = {}
    for domain, names in claims.items():
        if len(names) < 2:
            continue
        keep, *others = sorted(names, key=lambda n: rank(n, domain))
        for name in others:
            refused[name] = f"domain {domain} is served by service {keep}; this route is left out"
    return {n: c for n, c in serving.items() if n not in refused}, refused


def routes_for(
    serving: dict[str, RunningContainer],
    desired: list[DesiredService] = (),
    containers: list[RunningContainer] = (),
) -> list[Route]:
    """A route per serving container, to every running replica of its generation found in
    `containers` (issue 28; none given: that container alone). spec.http is the route's, not
    the container's: it comes from the current spec, also while an older generation serves."""
    http = {s.name: s.definition.http for s in desired if s.definition is not None}
    tls = {s.name: s.definition.tls for s in desired if s.definition is not None}
    site = {s.name: s.definition.site for s in desired if s.definition is not None}
    routes = []
    for name, c in serving.items():
        if not (c.domain and c.ip and c.port):
            continue
        addresses = [r.ip for r in replicas_of(c, list(containers))] or [c.ip]
        route = Route(c.domain, name, addresses[0], c.port, http.get(name), tls.get(name))
        routes.append(replace(route, site=site.get(name), more_addresses=tuple(addresses[1:])))
    return sorted(routes, key=lambda r: (r.domain, r.service))


@dataclass
class CleanupPlan:
    retire: dict[str, str] = field(default_factory=dict)  # service -> container to keep
    remove: list[str] = field(default_factory=list)  # deleting services with containers to take
    purge: list[str] = field(default_factory=list)  # deleting services whose volume goes too
    orphans: list[str] = field(default_factory=list)  # services the store does not know
    forget: list[str] = field(default_factory=list)  # deleting services to drop once gone
    # service -> the containers to take away, as observed at the pass's start: the retire step
    # takes exactly these (no listing of its own), never the one kept, never one whose stop is
    # under way already (a background stop of an earlier pass).
    containers: dict[str, list[str]] = field(default_factory=dict)
    stop_only: set[str] = field(default_factory=set)  # orphans in their grace: stop, keep
    kill: set[str] = field(default_factory=set)  # an earlier stop ran out of time: kill now
    waiting: dict[str, list[str]] = field(default_factory=dict)  # service -> stops under way

    def services(self) -> list[str]:
        """Every service the retire step acts on, each once."""
        named = [*self.retire, *self.remove, *self.purge, *self.orphans]
        return [n for n in dict.fromkeys(named) if self.containers.get(n) or n in self.purge]


def plan_cleanup(
    desired: list[DesiredService],
    containers: list[RunningContainer],
    serving: dict[str, RunningContainer],
    failed: set[str],
    stopping: set[str] = frozenset(),
    volumes: set[str] | None = None,
) -> CleanupPlan:
    """Containers that no longer serve, deleted services (and purged volumes), and orphans.

    stopping: containers an earlier pass is stopping in the background (left alone); volumes:
    the purged services' volumes that exist (None: not looked at, taken as present)."""
    plan = CleanupPlan()
    grouped = by_service(containers)
    known = {s.name for s in desired}

    def take(name: str, mine: list[RunningContainer]) -> None:
        plan.containers[name] = [c.name for c in mine if c.name not in stopping]
        waiting = [c.name for c in mine if c.name in stopping]
        if waiting:
            plan.waiting[name] = waiting

    for service in desired:
        mine = grouped.get(service.name, [])
        if service.deleting:
            if mine:
                plan.remove.append(service.name)
                take(service.name, mine)
            volume_here = volumes is None or f"{service.name}-volume" in volumes
            # The volume outlives the containers (a pass that removed them may have failed on
            # it); it goes with the last of them, never while one is still being stopped.
            if service.purge_volume and volume_here and not plan.waiting.get(service.name):
                plan.purge.append(service.name)
            plan.forget.append(service.name)
            continue
        keep = serving.get(service.name)
        if keep is None or service.name in failed:
            continue  # nothing proven to serve yet: keep everything that exists
        # Every replica of the serving generation stays (issue 28): a generation is one spec.
        older = [c for c in mine if c.generation != keep.generation]
        if older:
            plan.retire[service.name] = keep.name
            take(service.name, older)
    plan.orphans = sorted(name for name in grouped if name not in known)
    for name in plan.orphans:
        take(name, grouped[name])
    return plan


def hold_orphans(plan: CleanupPlan, containers: list[RunningContainer], share: float) -> str | None:
    """Keep the orphans when they are more than `share` of the services running here.

    An orphan is a container the store does not list, not one it recorded as deleted: a store
    read empty or from the wrong database would make every service one. Then nothing is removed
    and the reason is returned (the pass reports it); orphans within the share go as before.
    """
    running = {c.service for c in containers if c.running}
    orphans = [n for n in plan.orphans if n in running]
    if not orphans or len(orphans) <= share * len(running):
        return None
    held, plan.orphans = plan.orphans, []
    return (
        f"kept {len(held)} container(s) the store does not list ({', '.join(held[:5])}"
        f"{', ...' if len(held) > 5 else ''}): removing {len(orphans)} of the {len(running)}"
        f" running services is more than max_orphan_share {share:g}"
    )
