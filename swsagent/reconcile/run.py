"""The pass's fourth stage: every change to the host, in this order.

0. The services' firewall rules, when some are missing (firewall.restore): before anything
   starts a service.
1. The control plane: proxies not up go to maintenance in HAProxy, what is stopped starts
   again (controlplane.revive).
2. The edge's certificates: PEMs and crt-list written, HAProxy told what changed (certs.install).
   The files routes read at request time (htpasswd, pages: sitefiles.py) written to every
   proxy's volume; those no service wants are removed after the run. Volumes whose
   filesystem a reboot unmounted mounted again (volumemounts.py).
3. One ansible-runner run of reconcile.yml, limited to the hosts it concerns: recreate what is
   missing, hold the routes of recreates, start the new generations (a recreate stops its
   older one first), roll the proxies one at a time, retire what no longer serves (stops in
   the background). Its deadline and lock are checked as each play starts.
4. What the run left of the control plane, observed again for the record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from swsagent import certs, collection, firewall, registryauth, sitefiles, stacks, volumemounts
from swsagent.config import AgentConfig
from swsagent.controlplane import Component, observe_components, revive
from swsagent.passvars import PassVars, ProxyView
from swsagent.reconcile.check import CheckedPass
from swsagent.reconcile.report import Guard, PassAborted
from swsagent.render import inventory, inventory_yaml, service_host
from swsagent.runner import PlaybookRun, RunResult, run_playbook
from swsagent.swarm.hostvars import swarm_target

PLAYBOOK = "reconcile.yml"


@dataclass
class RunOutcome:
    started: list[str] = field(default_factory=list)  # control plane started again
    problems: list[str] = field(default_factory=list)  # what could not be started
    certificates: dict = field(default_factory=dict)  # certificates_installed / _removed
    certificate_problems: list[str] = field(default_factory=list)
    networks_refused: dict[str, str] = field(default_factory=dict)  # stack network -> why
    networks_removed: list[str] = field(default_factory=list)
    firewall_restored: tuple[str, ...] = ()  # what of the firewall was missing and put back
    firewall_problem: str = ""
    site_files: list[str] = field(default_factory=list)  # services whose files were written
    volumes_mounted: list[str] = field(default_factory=list)  # after a reboot: services
    volume_problems: list[str] = field(default_factory=list)
    what: PassVars | None = None  # None: nothing for the playbook to do
    result: RunResult | None = None
    plane: dict[str, Component] = field(default_factory=dict)  # after the run


def run_pass(config: AgentConfig, checked: CheckedPass, guard: Guard) -> RunOutcome:
    outcome = RunOutcome()
    if checked.plan.firewall is not None:
        guard.check("restoring the firewall")
        try:
            firewall.restore(checked.plan.firewall.script)
            outcome.firewall_restored = checked.plan.firewall.missing
        except firewall.FirewallError as err:
            outcome.firewall_problem = f"the services' firewall could not be restored: {err}"
    revival = checked.plan.revival
    if revival and (revival.start or revival.maint):
        guard.check("starting the control plane")
        outcome.started, outcome.problems = revive(config.names, config.haproxy_socket, revival)
    edge = checked.plan.obs.edge
    if edge is not None:
        outcome.certificates, outcome.certificate_problems = certs.install(
            config.haproxy_tls_dir, config.haproxy_socket, edge
        )
    site_dirs, wanted = (
        _site_conf_dirs(config, checked),
        sitefiles.wanted_files(checked.plan.obs.desired),
    )
    files = config.names.proxy_files
    try:
        outcome.site_files = sitefiles.write_files(site_dirs, files, wanted)
    except OSError as err:
        outcome.problems.append(f"site files: {err.strerror or err}")
    unmounted = checked.plan.obs.unmounted
    if unmounted and config.disk.volumes_dir is not None:
        guard.check("mounting volumes again")
        outcome.volumes_mounted, outcome.volume_problems = volumemounts.remount(
            config.disk.volumes_dir, unmounted, checked.plan.obs.containers, config.stop_timeout
        )
    stack_plan = checked.plan.stacks
    manager = config.swarm.manager_socket if config.swarm_executor else None
    if stack_plan.create:
        guard.check("making the stacks' networks")
        outcome.networks_refused = stacks.create(
            stack_plan, config.names.label_prefix, config.contract.stack_bridge_prefix, manager
        )
    what = pass_vars(config, checked, outcome.networks_refused)
    if what.hosts():
        guard.check("running the playbook")
        outcome.what = what
        outcome.result = _playbook(config, checked, what, guard)
    if stack_plan.remove:
        outcome.networks_removed = stacks.remove(stack_plan, manager)
    outcome.networks_removed += _idle_overlays_removed(checked, manager)
    try:
        sitefiles.remove_stale(site_dirs, files, wanted)
    except OSError as err:
        outcome.problems.append(f"site files: {err.strerror or err}")
    if revival is not None:
        outcome.plane = observe_components(list(revival.before))
    return outcome


def _site_conf_dirs(config: AgentConfig, checked: CheckedPass) -> list[Path]:
    """Each proxy's configuration volume on the host, as observed (a proxy missing now gets
    its files at the next pass)."""
    conf_dir, plane = config.names.proxy_conf_dir, checked.plan.obs.plane
    mounts = [plane[p].mounts for p in config.names.proxies if p in plane and plane[p].mounts]
    return [Path(m[conf_dir]) for m in mounts if conf_dir in m]


def _idle_overlays_removed(checked: CheckedPass, manager: str | None) -> list[str]:
    """On the swarm: the own overlays of deleted services, once their tasks let go of them."""
    seen = checked.plan.obs.swarm
    idle = seen.idle_overlays({s.name for s in checked.plan.obs.desired}) if seen else []
    if not idle:
        return []
    engine = collection.engine().Engine(manager)
    return collection.module_utils("swarmgeneration").remove_idle(engine, idle)


def pass_vars(config: AgentConfig, checked: CheckedPass, refused: dict | None = None) -> PassVars:
    """refused: stack networks the engine would not make (their services do not deploy)."""
    revival = checked.plan.revival
    joins = checked.plan.stacks.joins
    deploying = [s for s in checked.deploying if joins.get(s.name) not in (refused or {})]
    holds = checked.plan.holds
    # A recreate's route is held on every proxy before its deploy stops the older generation
    # (reconcile.yml's hold play): no request reaches a container that is stopping.
    up = {p.name for p in checked.plan.obs.proxies}
    recreating = [s for s in deploying if s.name in holds.stop_first and s.definition.domain]
    return PassVars.for_pass(
        config,
        revive=list(revival.missing) if revival else [],
        deploy=[service_host(s.name) for s in deploying],
        # A stack starts bottom-up: its private services first (reconcile.yml's first deploy
        # play), so what serves a domain starts with what it needs already there.
        deploy_first=[service_host(s.name) for s in deploying if not s.definition.domain],
        roll=checked.roll,
        hold=[p for p in checked.roll if p in up] if recreating else [],
        retire=[service_host(n) for n in checked.cleanup.services()],
        routes=checked.plan.routes.plan(checked.deploying),
        proxies={
            p.name: ProxyView(proxyroll_digest(p.applied_routes), p.ready)
            for p in checked.plan.obs.proxies
        },
    )


def _playbook(config: AgentConfig, checked: CheckedPass, what: PassVars, guard: Guard):
    obs, cleanup = checked.plan.obs, checked.cleanup
    auths = {
        s.name: auth.as_var()
        for s in checked.deploying
        if (auth := registryauth.for_service(s, obs.registry_auth)) is not None
    }
    # Only the hosts of this run: ansible-playbook reads the whole inventory before --limit
    # applies, so a pass's cost does not grow with the services it leaves alone.
    hosts = set(what.hosts())
    inv = inventory(
        [s for s in obs.desired if service_host(s.name) in hosts],
        config.names,
        orphans=[n for n in cleanup.orphans if service_host(n) in hosts],
        keep=cleanup.retire,
        containment=config.containment,
        retire=cleanup.containers,
        registry_auth=auths,
        stop_only=cleanup.stop_only,
        kill=cleanup.kill,
        joins=checked.plan.stacks.joins,
        fallbacks=checked.plan.holds.fallback,
        stop_first=checked.plan.holds.stop_first,
        volume_size=config.disk.volume_size,
        swarm=swarm_target(config, obs.swarm.volume_nodes() if obs.swarm else {}),
    )
    secrets = frozenset(e.value for s in obs.desired if s.definition for e in s.definition.env)
    secrets |= {auth["password"] for auth in auths.values()}
    run = PlaybookRun(
        playbook=PLAYBOOK,
        inventory_text=inventory_yaml(inv),
        limit=what.hosts(),
        extravars=what.as_extravars(),
        secrets=secrets,
    )
    aborted: list[str] = []

    def at_play(name: str, events) -> bool:
        """Each play's start is a stage: the deadline and the lock are checked there."""
        try:
            guard.check(name[:1].lower() + name[1:])
        except PassAborted as err:
            aborted.append(str(err))
            return False
        return True

    result = run_playbook(
        run,
        config.project_dir,
        config.state_dir,
        forks=config.forks,
        timeout=guard.remaining(),
        at_play=at_play,
    )
    if aborted:
        raise PassAborted(aborted[0])
    return result


def proxyroll_digest(text: str | None) -> str:
    """The digest the roll compares with its candidate (module_utils/proxyroll.digest)."""
    return hashlib.sha256(text.encode()).hexdigest() if text is not None else ""
