"""From what the manager says to the store's rows: one `NodeRow` per node in its list (pure).

Joining the swarm is the registration: the manager lists a node from the moment it joins, so
the agent's first sight of it is its `registered_at`. The services on a node are the SWS
services (swarm services labelled `<prefix>.service`) with a task that runs there, by the
task's own state: a node that went down keeps its tasks' last reported state, `running`,
which is how the services that were on it are named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from swsagent.swarm.report import Report

RUNNING = "running"


@dataclass(frozen=True)
class SwarmView:
    """The manager's answers in one pass: its node list, every task, the services."""

    nodes: list[dict]
    tasks: list[dict]
    services: list[dict]
    reports: dict[str, Report] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeRow:
    id: str
    name: str
    role: str
    state: str
    availability: str
    address: str | None
    labels: dict[str, str]
    cpus: float | None
    memory_bytes: int | None
    services: tuple[str, ...]
    report: Report | None


def sws_services(services: list[dict], label_prefix: str) -> dict[str, str]:
    """Service ID -> SWS service name, for the swarm services SWS owns."""
    label = f"{label_prefix}.service"
    found = {}
    for service in services:
        name = (service.get("Spec", {}).get("Labels") or {}).get(label)
        if name:
            found[service["ID"]] = name
    return found


def services_by_node(tasks: list[dict], owned: dict[str, str]) -> dict[str, set[str]]:
    """Node ID -> the SWS services with a running task there."""
    placed: dict[str, set[str]] = {}
    for task in tasks:
        name = owned.get(task.get("ServiceID", ""))
        node = task.get("NodeID")
        if name and node and task.get("Status", {}).get("State") == RUNNING:
            placed.setdefault(node, set()).add(name)
    return placed


def node_rows(view: SwarmView, label_prefix: str) -> list[NodeRow]:
    placed = services_by_node(view.tasks, sws_services(view.services, label_prefix))
    return [_row(node, placed.get(node["ID"], set()), view.reports) for node in view.nodes]


def _row(node: dict, services: set[str], reports: dict[str, Report]) -> NodeRow:
    spec, status = node.get("Spec", {}), node.get("Status", {})
    resources = node.get("Description", {}).get("Resources", {})
    nano_cpus = resources.get("NanoCPUs")
    return NodeRow(
        id=node["ID"],
        name=node.get("Description", {}).get("Hostname") or node["ID"],
        role=spec.get("Role", "worker"),
        state=status.get("State", "unknown"),
        availability=spec.get("Availability", "active"),
        address=_address(node),
        labels=dict(spec.get("Labels") or {}),
        cpus=nano_cpus / 1e9 if nano_cpus else None,
        memory_bytes=resources.get("MemoryBytes"),
        services=tuple(sorted(services)),
        report=reports.get(node["ID"]),
    )


def _address(node: dict) -> str | None:
    """The node's address; a manager may say 0.0.0.0 there and its real one in ManagerStatus."""
    address = node.get("Status", {}).get("Addr")
    if address and address != "0.0.0.0":
        return address
    manager = (node.get("ManagerStatus") or {}).get("Addr", "")
    return manager.rsplit(":", 1)[0] or None


def seen_at(row: NodeRow, now: datetime) -> datetime | None:
    """When the node was seen up: now if ready; None keeps the time stored before."""
    return now if row.state == "ready" else None
