"""The service hosts' variables for the swarm executor (issue 28): what roles/sws_service reads
to deploy a generation as a swarm service instead of a container. Pure, like render.py, which
adds them to every service host when agent.yml turns `swarm.executor` on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from swsagent import collection


@dataclass(frozen=True)
class SwarmTarget:
    """Where a pass deploys on the swarm: the manager, the readiness probe's image, the edge
    proxies that join each service's overlay, and the nodes that hold the volumes."""

    manager_socket: str
    probe_image: str  # the report's busybox image, present on every node
    edge_proxies: tuple[str, ...]
    label_prefix: str = "sws"
    volume_nodes: Mapping[str, str] = field(default_factory=dict)  # service -> node

    def generation_service(self, service: str, generation: int) -> str:
        """The swarm service of a generation, named as the deploy names it."""
        return collection.module_utils("swarmspec").generation_name(
            self.label_prefix, service, generation
        )


def swarm_target(config, volume_nodes: Mapping[str, str]) -> SwarmTarget | None:
    """The pass's target from the agent's config; None without the executor (one host)."""
    if not config.swarm_executor:
        return None
    return SwarmTarget(
        manager_socket=config.swarm.manager_socket,
        probe_image=config.swarm.report_image,
        edge_proxies=tuple(config.names.proxies),
        label_prefix=config.names.label_prefix,
        volume_nodes=dict(volume_nodes),
    )


def swarm_vars(
    target: SwarmTarget, name: str, retire=(), keep: str | None = None, generation: int = 0
) -> dict:
    """A service host's swarm variables. retire: the generation services to remove (one
    observed per running task: each named once); keep (a live service's): the generation
    service the retire leaves, by default its current generation's."""
    found = {
        "sws_service_executor": "swarm",
        "sws_service_manager_socket": target.manager_socket,
        "sws_service_volume_node": target.volume_nodes.get(name, ""),
        "sws_service_probe_image": target.probe_image,
        "sws_service_edge_proxies": list(target.edge_proxies),
        "sws_service_retire_containers": list(dict.fromkeys(retire)),
    }
    if generation:
        found["sws_service_keep"] = keep or target.generation_service(name, generation)
    return found
