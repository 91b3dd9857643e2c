"""What the apiserver, the agent and swsctl agree on by name, defined once.

A service's status is one of these five: the model's check constraint, the store's and the
agent's queries, the API's answers and swsctl's waits all name them from here.
"""

from __future__ import annotations

from enum import StrEnum


class ServiceStatus(StrEnum):
    PENDING = "pending"  # applied; its current generation is not serving yet
    RUNNING = "running"  # its current generation serves on every proxy that is up
    FAILED = "failed"  # its current generation could not start (the message says why)
    DELETING = "deleting"  # deleted; the agent takes its route, containers (and volume) away
    STOPPED = "stopped"  # stopped by its user: no container, its spec, volume and history kept


def sql_list(statuses=tuple(ServiceStatus)) -> str:
    """('pending', 'running', ...) for a CHECK constraint or an IN clause."""
    return "(" + ", ".join(f"'{s.value}'" for s in statuses) + ")"


class NodeState(StrEnum):
    """A swarm node's state in the store's `nodes` (issue 28): Docker's own, and `left`."""

    READY = "ready"  # its engine talks to the managers
    DOWN = "down"  # the managers lost it (killed, cut off, or it left without being removed)
    DISCONNECTED = "disconnected"
    UNKNOWN = "unknown"
    LEFT = "left"  # no longer in the manager's node list: it left and was removed
