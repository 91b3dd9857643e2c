"""Waking the watching agent when the swarm moves a task (issue 28): a task that dies, a node
that goes down and its tasks started elsewhere. No store change says so, and a route that
points at a task's old address must follow within seconds, not at the next full pass.

The watcher asks the manager for the tasks that should run every few seconds (one GET
/tasks) and runs a pass when their digest differs from the one after the last pass: each
SWS task's id, state and addresses. What changes the digest is what the pass's observe reads
(swsagent/swarm/observe.py), so a pass then re-renders the routes from the tasks as they are.
"""

from __future__ import annotations

import hashlib
import json
import time

from swsagent import collection

POLL_SECONDS = 2.0  # one small GET on the manager: a moved task is routed within about this


def task_digest(tasks: list[dict], prefix: str) -> str:
    """The SWS tasks' ids, states and addresses, in a stable order (pure)."""
    label = f"{prefix}.service"
    rows = []
    for task in tasks:
        labels = ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Labels") or {}
        if label not in labels:
            continue
        addresses = sorted(
            a for n in task.get("NetworksAttachments") or [] for a in n.get("Addresses") or []
        )
        state = (task.get("Status") or {}).get("State", "")
        rows.append([task.get("ID", ""), state, addresses])
    text = json.dumps(sorted(rows), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class TaskWatch:
    """Whether the swarm's SWS tasks changed since the last pass (asked at most every
    POLL_SECONDS; a manager that cannot be asked is no change: the full pass still comes)."""

    def __init__(self, manager_socket: str, prefix: str, every: float = POLL_SECONDS):
        self.manager_socket, self.prefix, self.every = manager_socket, prefix, every
        self.last: str | None = None
        self.next_ask = 0.0

    def _digest(self) -> str | None:
        engine_api = collection.engine()
        filters = json.dumps({"desired-state": ["running"]})
        try:
            engine = engine_api.Engine(self.manager_socket, 10)
            tasks = engine.call("GET", "/tasks", params={"filters": filters}) or []
        except engine_api.EngineError:
            return None
        return task_digest(tasks, self.prefix)

    def seen(self) -> None:
        """After a pass: what it saw is the new baseline."""
        self.last = self._digest()
        self.next_ask = time.monotonic() + self.every

    def due_in(self) -> float:
        return max(0.0, self.next_ask - time.monotonic())

    def changed(self) -> bool:
        if time.monotonic() < self.next_ask:
            return False
        self.next_ask = time.monotonic() + self.every
        now = self._digest()
        return now is not None and self.last is not None and now != self.last
