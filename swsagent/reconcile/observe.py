"""The pass's first stage: read everything it decides from, and change nothing.

The store (services, certificates), the engine (the control plane, the service containers, the
purged volumes, the images, the networks), each proxy's applied routes and HAProxy's view of
the proxies and of the certificates, the host's firewall (one `iptables -S`), and the agent's
own state files (retries, orphans, background stops). A
proxy that is down is observed as it is: starting it again is the run's job, planned first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from swsagent import (
    certs,
    diskspace,
    firewall,
    orphans,
    registryauth,
    removals,
    retries,
    stacks,
    volumemounts,
)
from swsagent.config import AgentConfig
from swsagent.controlplane import Component, observe_components
from swsagent.desired import DesiredService, read_desired
from swsagent.observe import (
    ProxyState,
    RunningContainer,
    observe_containers,
    observe_proxies,
    volumes_present,
)
from swsagent.swarm.observe import SwarmSeen, observe_swarm


@dataclass(frozen=True)
class Observation:
    """What one pass saw, before it did anything."""

    desired: list[DesiredService]
    plane: dict[str, Component]  # the proxies and the load balancer ({} without proxies)
    containers: list[RunningContainer]
    proxies: list[ProxyState]  # the proxies that are up now
    stops: removals.Stops  # containers an earlier pass is stopping in the background
    volumes: set[str]  # the volumes of services deleted with purge that still exist
    # {(owner, registry): its opened credentials} for the images of the desired services
    # (registryauth.py); the deploy looks for the image itself (module_utils/imagepull.py).
    registry_auth: dict
    edge: certs.EdgeCerts | None  # None: the host has no HTTPS yet
    attempts: dict  # retries.load: failed generations' attempts
    orphans_seen: dict[str, float]  # orphans.load: when each orphan was first seen
    now: float
    stack_networks: dict[str, stacks.StackNetwork]  # SWS's stack networks, by name
    subnets_taken: list[str]  # every subnet a network on this host uses
    disk: diskspace.DiskSpace  # free space where new deploys write, the volumes made
    unmounted: list[str]  # services whose volume's filesystem is not mounted (a reboot)
    firewall: firewall.Observed | None = None  # None: this agent leaves the firewall alone
    # The swarm executor's view (swsagent/swarm/observe.py); None: this host's containers.
    swarm: SwarmSeen | None = None


def observe(config: AgentConfig, conn) -> Observation:
    desired = read_desired(conn)
    conn.commit()
    names = config.names
    plane = observe_components([names.loadbalancer, *names.proxies]) if names.proxies else {}
    up = [p for p in names.proxies if plane[p].up]
    swarm = None
    if config.swarm_executor:
        containers, swarm = observe_swarm(config.swarm.manager_socket, names.label_prefix, conn)
    else:
        containers = observe_containers(names.services_network, names.label_prefix)
    now = time.time()
    # A stop is under way while its container still runs; one stopped and left is taken again.
    running = {c.name for c in containers if c.running}
    purged = [f"{s.name}-volume" for s in desired if s.deleting and s.purge_volume]
    networks = stacks.engine_networks()
    stack_networks, taken = stacks.observe(names.label_prefix, networks)
    if config.swarm_executor:  # the stacks' overlays are the manager's
        manager_networks = stacks.engine_networks(config.swarm.manager_socket)
        stack_networks, _ = stacks.observe(names.label_prefix, manager_networks)
    return Observation(
        desired=desired,
        plane=plane,
        containers=containers,
        proxies=observe_proxies(
            tuple(up),
            config.haproxy_socket,
            names.haproxy_backend,
            names.proxy_files,
            {p: plane[p].mounts.get(names.proxy_conf_dir) for p in up if plane[p].mounts},
        ),
        stops=removals.observe(config.state_dir, running, config.stop_timeout, now),
        volumes=_purged_present(purged, swarm),
        registry_auth=registryauth.observe(conn, config.tls_dir, desired),
        edge=_edge(config, conn),
        attempts=retries.load(config.state_dir),
        orphans_seen=orphans.load(config.state_dir),
        now=now,
        stack_networks=stack_networks,
        subnets_taken=taken,
        firewall=firewall.observe(networks, names) if config.firewall else None,
        disk=diskspace.observe_space(config.disk, desired),
        unmounted=volumemounts.unmounted(config.disk.volumes_dir, desired),
        swarm=swarm,
    )


def _edge(config: AgentConfig, conn) -> certs.EdgeCerts | None:
    if config.tls_dir is None:
        return None
    return certs.observe(
        conn, config.tls_dir, config.haproxy_tls_dir, config.haproxy_socket, config.api_domain
    )


def _purged_present(purged: list[str], swarm) -> set[str]:
    """The purged services' volumes that exist. On one host the engine says; on a swarm the
    manager sees no other node's volumes: one exists where the store recorded its node."""
    if not purged:
        return set()
    if swarm is None:
        return volumes_present(purged)
    nodes = swarm.volume_nodes()
    return {v for v in purged if v.removesuffix("-volume") in nodes}
