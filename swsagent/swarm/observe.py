"""What runs when the swarm executor is on (agent.yml `swarm.executor`, issue 28): SWS's
generation services on the manager and their running tasks, read as the `RunningContainer`s
the plan reads from the host's containers, and the nodes that hold the services' volumes.

A running task is one `RunningContainer` named after its generation's service (so a retire
lists the services to remove), its address the one on the service's edge overlay (a private
service's: its first overlay's), its replica the task's slot: `plan.replicas_of` then gives a
route every running task's address. A generation service with no running task (failing,
scaled to 0 by a stop-first update) is one `RunningContainer` that does not run, so it is
retired or removed as a stopped container is. Reads only: the store writes are
swsagent/swarm/volumenode.py's, in the pass's record stage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from swsagent import collection
from swsagent.observe import ObserveError, RunningContainer
from swscore.contract import ServiceStatus

# How swarmtasks.node_problem names a volume's node: a service failed with it is retried once
# its node is back.
NODE_MESSAGE = "that holds the volume"


@dataclass(frozen=True)
class VolumeNode:
    """A service's volume node as the store recorded it, and the service's status then."""

    node: str
    status: str = ""
    message: str = ""


@dataclass(frozen=True)
class SwarmSeen:
    """What the pass saw on the manager, beside the containers."""

    recorded: dict[str, VolumeNode] = field(default_factory=dict)  # service -> stored node
    # Services with a volume whose task runs on a node no row records yet: service -> node.
    first_nodes: dict[str, str] = field(default_factory=dict)
    # Services whose recorded node cannot run their task: service -> why (names the node).
    node_problems: dict[str, str] = field(default_factory=dict)
    # SWS's own overlays (edge, private) of services with no generation service: name ->
    # service. Those of a service no longer desired go (a retire does not wait for them).
    overlays: dict[str, str] = field(default_factory=dict)

    def idle_overlays(self, desired: set[str]) -> list[str]:
        return sorted(n for n, service in self.overlays.items() if service not in desired)

    def node_back(self) -> set[str]:
        """Services failed for their volume's node that can run there again: the plan deploys
        them as it retries a failed generation (their node's task may be running already)."""
        failed = {n for n, v in self.recorded.items() if v.status == ServiceStatus.FAILED}
        named = {n for n, v in self.recorded.items() if NODE_MESSAGE in v.message}
        return (failed & named) - set(self.node_problems)

    def volume_nodes(self) -> dict[str, str]:
        """service -> the node that holds its volume, recorded or seen first in this pass."""
        return {**{n: v.node for n, v in self.recorded.items()}, **self.first_nodes}


def _tasks_module():
    return collection.module_utils("swarmtasks")


def _labels(service: dict, prefix: str) -> dict[str, str]:
    raw = (service.get("Spec") or {}).get("Labels") or {}
    return {k.removeprefix(prefix + "."): v for k, v in raw.items() if k.startswith(prefix + ".")}


def containers_from_tasks(
    services: list[dict], tasks: list[dict], prefix: str = "sws"
) -> list[RunningContainer]:
    """One `RunningContainer` per running task of each generation service (pure)."""
    found = []
    for service in services:
        labels = _labels(service, prefix)
        if not labels.get("service") or "generation" not in labels:
            continue
        mine = [
            t for t in tasks if t.get("ServiceID") == service["ID"] and _tasks_module().running(t)
        ]
        # A service with a domain is reached on its edge overlay; one without, on its own.
        edge = collection.module_utils("swarmspec").edge_network_name(prefix, labels["service"])
        network = edge if labels.get("domain") else ""
        stopped = _container(service["Spec"]["Name"], labels)
        found += [
            replace(
                stopped,
                running=True,
                ip=_tasks_module().address(t, network),
                replica=int(t.get("Slot") or 1),
            )
            for t in mine
        ]
        if not mine:
            found.append(stopped)
    return sorted(found, key=lambda c: (c.service, c.generation, c.replica, c.name))


def _container(name: str, labels: dict[str, str]) -> RunningContainer:
    """The generation's service as a container that does not run (its tasks fill it in)."""
    return RunningContainer(
        name=name,
        service=labels["service"],
        generation=_int(labels.get("generation"), 0),
        digest=labels.get("spec-digest", ""),
        domain=labels.get("domain", ""),
        port=_int(labels.get("port"), None),
        running=False,
        ip=None,
        containment=labels.get("containment", ""),
    )


def volume_nodes_seen(services: list[dict], tasks: list[dict], nodes: list[dict], prefix: str):
    """service -> the hostname a running task of its volume's generation runs on (pure)."""
    names = _tasks_module().hostnames(nodes)
    found = {}
    for service in services:
        spec = service.get("Spec") or {}
        mounts = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Mounts")
        name = _labels(service, prefix).get("service")
        if not name or not any(m.get("Type") == "volume" for m in mounts or []):
            continue
        for task in tasks:
            if task.get("ServiceID") == service["ID"] and _tasks_module().running(task):
                found.setdefault(name, names.get(task.get("NodeID", ""), ""))
    return {n: node for n, node in found.items() if node}


def node_problems(recorded: dict[str, VolumeNode], nodes: list[dict]) -> dict[str, str]:
    """service -> why the node that holds its volume cannot run it (swarmtasks.node_problem)."""
    problem = _tasks_module().node_problem
    return {n: why for n, v in recorded.items() if (why := problem(nodes, v.node)) is not None}


# A service's volume node: its own, or its volume's (a volume kept by a delete without purge,
# taken again by its owner's service of that name: back on its node). And a volume purged by
# an administrator after its service went: its node, for the purge (desired.purged_volume).
_VOLUME_NODES = """
    SELECT s.name, coalesce(s.volume_node, v.node), s.status, coalesce(s.message, '')
    FROM services s LEFT JOIN volumes v ON v.name = s.name || '-volume'
    WHERE coalesce(s.volume_node, v.node) IS NOT NULL
    UNION ALL
    SELECT left(v.name, -length('-volume')), v.node, 'deleting', '' FROM volumes v
    WHERE v.node IS NOT NULL AND v.purge_requested
      AND NOT EXISTS (SELECT 1 FROM services s WHERE s.name || '-volume' = v.name)
"""


def read_volume_nodes(conn) -> dict[str, VolumeNode]:
    with conn.cursor() as cur:
        cur.execute(_VOLUME_NODES)
        return {name: VolumeNode(node, status, msg) for name, node, status, msg in cur}


@dataclass(frozen=True)
class ManagerView:
    """The manager's answers: SWS's generation services, their tasks meant to run, the nodes,
    and SWS's own overlays of services (edge, private; not the stacks')."""

    services: list[dict]
    tasks: list[dict]
    nodes: list[dict]
    overlays: list[dict] = field(default_factory=list)


def read_manager(manager_socket: str, prefix: str) -> ManagerView:
    """Four calls: the services labelled as generations, their tasks meant to run (not the
    history the manager keeps), the nodes, the services' own overlays."""
    engine_module = collection.engine()
    try:
        engine = engine_module.Engine(manager_socket)
        label = json.dumps({"label": [f"{prefix}.generation"]})
        services = engine.call("GET", "/services", params={"filters": label})
        tasks = []
        if services:
            running = {"service": [s["ID"] for s in services], "desired-state": ["running"]}
            tasks = engine.call("GET", "/tasks", params={"filters": json.dumps(running)})
        nodes = engine.call("GET", "/nodes")
        overlays = collection.module_utils("swarmgeneration").own_overlays(engine, prefix)
    except engine_module.EngineError as err:
        raise ObserveError(f"the swarm manager could not be asked: {err}") from None
    return ManagerView(services, tasks, nodes, overlays or [])


def orphan_overlays(view: ManagerView, prefix: str) -> dict[str, str]:
    """overlay -> service, for the services' own overlays no generation service uses (pure)."""
    generations = {_labels(s, prefix).get("service") for s in view.services}
    found = {}
    for network in view.overlays:
        service = (network.get("Labels") or {}).get(f"{prefix}.service", "")
        if service and service not in generations:
            found[network["Name"]] = service
    return found


def observe_swarm(manager_socket: str, prefix: str, conn) -> tuple[list, SwarmSeen]:
    """The generation services' running tasks as containers, and the volumes' nodes."""
    view = read_manager(manager_socket, prefix)
    recorded = read_volume_nodes(conn)
    conn.commit()
    first = volume_nodes_seen(view.services, view.tasks, view.nodes, prefix)
    seen = SwarmSeen(
        recorded=recorded,
        first_nodes={n: node for n, node in first.items() if n not in recorded},
        node_problems=node_problems(recorded, view.nodes),
        overlays=orphan_overlays(view, prefix),
    )
    return containers_from_tasks(view.services, view.tasks, prefix), seen


def _int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
