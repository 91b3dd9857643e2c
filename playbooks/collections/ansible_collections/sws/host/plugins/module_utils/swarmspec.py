"""A service's generation as a Docker Swarm service (issue 28): the Engine API's service spec
for what container.py makes a container of on one host. Pure: no engine, no clock.

Each generation is its own swarm service (ARCHITECTURE.md, "How the edge reaches swarm
tasks", decision C): dnsrr (this kernel has no ip_vs, so no VIP and no routing mesh), on an
attachable overlay of the service's own that the edge proxies join (without a domain or a
stack: one no proxy joins, for readiness), and on its stack's overlay. A service with a
volume runs one task, on the node that holds the volume.
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.sws.host.plugins.module_utils.container import (
    LOG_CONFIG,
    ServiceContainer,
)

SECOND_NS = 1_000_000_000
# container.py's restart policies in the swarm's words ("unless-stopped": a task that stops
# is replaced; swarm has no "stopped by hand" for a task).
RESTART_CONDITIONS = {"no": "none", "on-failure": "on-failure"}


def generation_name(prefix: str, service: str, generation: int) -> str:
    """A generation's swarm service (the agent names it so too: swsagent/swarm/)."""
    return f"{prefix}-svc-{service}-g{generation}"


def edge_network_name(prefix: str, service: str) -> str:
    """The overlay of a service with a domain: its tasks and the edge proxies."""
    return f"{prefix}-edge-{service}"


@dataclass(frozen=True)
class SwarmGeneration:
    """One generation of a service on the swarm: the container it is made of, and for a
    service with a volume the node that holds the volume (recorded at its first deploy;
    "" before it: the swarm places the first task)."""

    container: ServiceContainer
    node: str = ""

    @property
    def name(self) -> str:
        c = self.container
        return generation_name(c.label_prefix, c.service, c.generation)

    @property
    def edge_network(self) -> str:
        """The overlay the edge proxies reach this service's tasks on ("" without a domain)."""
        c = self.container
        return edge_network_name(c.label_prefix, c.service) if c.domain else ""

    @property
    def stateful(self) -> bool:
        return bool(self.container.volume_mount)

    @property
    def replicas(self) -> int:
        """A volume has one writer: a service with one runs one task, whatever it asks."""
        return 1 if self.stateful else max(int(self.container.replicas), 1)

    @property
    def private_network(self) -> str:
        """The overlay of a service with neither a domain nor a stack ("" otherwise): its tasks
        alone are on it. Why one at all: readiness keeps its meaning on one host (the port
        answers, GET the health path), which needs an overlay the probe can join; a ready
        task that merely runs would say less. It isolates like an edge overlay (nothing else
        attached), and gives the observed task an address, as on the host."""
        c = self.container
        return "" if c.domain or c.stack_network else f"{c.label_prefix}-private-{c.service}"

    @property
    def probe_network(self) -> str:
        """Where readiness is checked from: the edge overlay, else the stack's, else the
        service's own."""
        return self.edge_network or self.container.stack_network or self.private_network

    def labels(self) -> dict[str, str]:
        """The container's labels (service, generation, digest, ...) and its owner; not the
        replica's number: a swarm service is every replica at once (tasks have slots)."""
        c = self.container
        labels = {k: v for k, v in c.labels().items() if k != f"{c.label_prefix}.replica"}
        labels[f"{c.label_prefix}.owner"] = c.owner
        return labels

    def spec(self) -> dict:
        """The body of POST /services/create."""
        return {
            "Name": self.name,
            "Labels": self.labels(),
            "TaskTemplate": self.task_template(),
            "Mode": {"Replicated": {"Replicas": self.replicas}},
            "EndpointSpec": {"Mode": "dnsrr"},
        }

    def task_template(self) -> dict:
        c = self.container
        return {
            "ContainerSpec": self.container_spec(),
            "Resources": {"Limits": limits(c)},
            "RestartPolicy": {
                "Condition": RESTART_CONDITIONS.get(c.restart_policy, "any"),
                "Delay": SECOND_NS,
            },
            "Placement": {"Constraints": self.constraints()},
            "Networks": self.attachments(),
            "LogDriver": {"Name": LOG_CONFIG["Type"], "Options": dict(LOG_CONFIG["Config"])},
        }

    def container_spec(self) -> dict:
        """Contained as container.py contains a container: every capability dropped but the
        few the spec names, CPU, memory and processes bounded (limits()). Two of its settings
        have no word in the service spec of API 1.41 (Engine 20.10): no-new-privileges
        (Privileges.NoNewPrivileges came with API 1.46; a node's daemon.json could set it for
        every container: not done yet) and a swap bound (a task's limit is MemoryBytes only)."""
        c = self.container
        spec = {
            "Image": c.image,
            # A list of KEY=value strings: Docker passes each to the process as it is, with no
            # shell and no expansion, so a value arrives literally.
            "Env": [f"{k}={v}" for k, v in c.env.items()],
            "Labels": self.labels(),
            "StopGracePeriod": int(c.stop_timeout) * SECOND_NS,
            "CapabilityDrop": ["ALL"],
            "CapabilityAdd": list(c.capabilities),
            "Mounts": self.mounts(),
        }
        if c.init:
            spec["Init"] = True
        return spec

    def mounts(self) -> list[dict]:
        """The service's volume (volume_name); the node's engine makes it at the first task,
        labelled with its owner as container.check_volume labels one on a host."""
        c = self.container
        if not c.volume_mount:
            return []
        owner = {f"{c.label_prefix}.service": c.service, f"{c.label_prefix}.owner": c.owner}
        return [
            {
                "Type": "volume",
                "Source": volume_name(c.volume, c.owner),
                "Target": c.volume_mount,
                "VolumeOptions": {"Labels": owner},
            }
        ]

    def constraints(self) -> list[str]:
        """A volume's node; none at a volume's first deploy (no node holds it yet: the swarm
        places the task, and the node it ran on is recorded as the volume's)."""
        return [f"node.hostname=={self.node}"] if self.stateful and self.node else []

    def attachments(self) -> list[dict]:
        """The edge overlay (or the private one), and the stack's under the service's own name
        (its peers reach it as <service>:<port>, whichever generation answers)."""
        c = self.container
        own = self.edge_network or self.private_network
        found = [{"Target": own}] if own else []
        if c.stack_network:
            found.append({"Target": c.stack_network, "Aliases": [c.service]})
        return found

    def overlays(self) -> dict[str, dict[str, str]]:
        """Each overlay the generation joins, with the labels it is made with."""
        c = self.container
        p = c.label_prefix
        found = {}
        own = self.edge_network or self.private_network
        if own:
            found[own] = {f"{p}.service": c.service, f"{p}.owner": c.owner}
        if c.stack_network:
            found[c.stack_network] = {f"{p}.stack-network": "true", f"{p}.owner": c.owner}
        return found


def volume_name(volume: str, owner: str) -> str:
    """A service's volume on a swarm: `<service>-volume.<owner>`. A node's engine mounts
    whatever volume has the name, with no owner check such as container.check_volume makes
    on a host, so the name carries the owner: a user who takes a deleted service's name later
    never gets its volume ('.' is in no service or user name: no two pairs share one)."""
    return f"{volume}.{owner}"


def limits(container: ServiceContainer) -> dict:
    """Resources.Limits: what HostConfig's NanoCpus, Memory and PidsLimit are on one host."""
    return {
        "NanoCPUs": int(round(float(container.cpus) * SECOND_NS)),
        "MemoryBytes": int(container.memory),
        "Pids": int(container.pids),
    }


def overlay_body(name: str, labels: dict[str, str]) -> dict:
    """POST /networks/create for an overlay: attachable, so the edge proxies (plain
    containers, not tasks) and the readiness probe can join it."""
    return {
        "Name": name,
        "Driver": "overlay",
        "Attachable": True,
        "CheckDuplicate": True,
        "Labels": dict(labels),
    }
