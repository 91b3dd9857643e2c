"""What the manager's tasks and nodes say about a generation (issue 28): its running tasks'
overlay addresses, why its tasks fail, whether the node that holds its volume can run it.
Pure: reads the Engine API's documents (GET /tasks, GET /nodes), asks nothing.
"""

from __future__ import annotations

# Failed or rejected tasks a generation may have before it is judged failing: a task that
# restarts once or twice (an entrypoint waiting for something) and then answers is healthy,
# as readiness.MAX_RESTARTS says for a container.
MAX_FAILED_TASKS = 2
FAILED_STATES = ("failed", "rejected")
# States a task reaches on its way to running; one that stays in them with an error (no
# suitable node) cannot be placed.
WAITING_STATES = ("new", "pending", "assigned", "accepted", "preparing", "starting")


def hostnames(nodes: list[dict]) -> dict[str, str]:
    """Node ID -> hostname."""
    return {n["ID"]: (n.get("Description") or {}).get("Hostname", n["ID"]) for n in nodes}


def running(task: dict) -> bool:
    """Whether the task runs and is meant to."""
    return task.get("DesiredState") == "running" and _state(task) == "running"


def address(task: dict, network: str = "") -> str | None:
    """The task's address on `network`; "": on its first overlay other than the routing
    mesh's (a service on its stack's overlay alone)."""
    for attachment in task.get("NetworksAttachments") or []:
        name = attachment["Network"]["Spec"]["Name"]
        if attachment.get("Addresses") and (name == network or (not network and name != "ingress")):
            return attachment["Addresses"][0].split("/")[0]
    return None


def running_addresses(tasks: list[dict], network: str) -> dict[str, str]:
    """Task ID -> its address on `network`, for the tasks that run and are meant to."""
    found = {t["ID"]: address(t, network) for t in tasks if running(t)}
    return {task: found_at for task, found_at in found.items() if found_at}


def running_nodes(tasks: list[dict]) -> list[str]:
    """The node ID of each task that runs and is meant to."""
    return [t["NodeID"] for t in tasks if running(t)]


def failure(tasks: list[dict], names: dict[str, str]) -> str | None:
    """Why the generation's tasks keep failing (the newest failure's error and node), once
    more than MAX_FAILED_TASKS did; None while it may still come up."""
    failed = [t for t in tasks if _state(t) in FAILED_STATES]
    if len(failed) <= MAX_FAILED_TASKS:
        return None
    newest = max(failed, key=lambda t: (t.get("Status") or {}).get("Timestamp", ""))
    return f"{len(failed)} tasks failed; the last {describe(newest, names)}"


def waiting_error(tasks: list[dict]) -> str | None:
    """The error of a task the scheduler cannot place or start yet (no suitable node, an
    image being pulled that fails), or None."""
    for task in tasks:
        status = task.get("Status") or {}
        if task.get("DesiredState") == "running" and _state(task) in WAITING_STATES:
            if status.get("Err"):
                return f"a task is {status['State']}: {status['Err']}"
    return None


def describe(task: dict, names: dict[str, str]) -> str:
    """'on node X: <error>' in the engine's words (Err, else the message and exit code)."""
    status = task.get("Status") or {}
    node = names.get(task.get("NodeID", ""), task.get("NodeID") or "no node")
    why = status.get("Err") or status.get("Message") or status.get("State", "?")
    code = (status.get("ContainerStatus") or {}).get("ExitCode")
    exited = f" (exit code {code})" if code else ""
    return f"{status.get('State', '?')} on node {node}: {why}{exited}"


def _node(nodes: list[dict], hostname: str) -> dict | None:
    named = [n for n in nodes if (n.get("Description") or {}).get("Hostname") == hostname]
    return named[0] if named else None


def unreachable(nodes: list[dict], hostname: str) -> str | None:
    """Why a task on the node cannot be ended now (the node is in the swarm but not ready:
    down, disconnected), or None: a drained or paused node still ends what it runs, and a
    node no longer in the swarm runs nothing of it any more."""
    node = _node(nodes, hostname)
    state = ((node or {}).get("Status") or {}).get("State", "unknown")
    if node is None or state == "ready":
        return None
    return f"node {hostname} that holds the volume is {state}"


def node_problem(nodes: list[dict], hostname: str) -> str | None:
    """Why the node that holds a service's volume cannot run its task now, or None. The task
    never starts elsewhere: the volume's data is on that node alone."""
    node = _node(nodes, hostname)
    if node is None:
        return f"node {hostname} that holds the volume is not in the swarm"
    down = unreachable(nodes, hostname)
    if down:
        return down
    availability = (node.get("Spec") or {}).get("Availability", "active")
    if availability != "active":
        return f"node {hostname} that holds the volume is unavailable ({availability})"
    return None


def _state(task: dict) -> str:
    return (task.get("Status") or {}).get("State", "")
