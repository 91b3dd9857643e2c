"""A purged volume on its node (issue 28): what `swsctl delete --purge` does on one host, for
a service whose volume lies on a swarm node.

A manager's Engine API reaches no other node's volumes, and a task cannot remove a volume it
mounts; it can empty it. So the purge is a one-off swarm job pinned to the node that holds the
volume (the store's volume_node), mounting it and deleting everything in it, as root with
only the capability that takes. The empty volume stays on the node under its owner's name
(`<service>-volume.<owner>`, swarmspec.volume_name), which no other user's service can mount.
A node that is down, drained or gone cannot run the job: the purge fails naming the node, the
service stays `deleting` with that message, and the next pass tries again.
"""

from __future__ import annotations

import hashlib
import time

from ansible_collections.sws.host.plugins.module_utils import swarmgeneration, swarmtasks
from ansible_collections.sws.host.plugins.module_utils.engine import Engine, EngineError

MOUNT = "/volume"
# Everything in the volume, hidden files too; the job fails when anything is left.
EMPTY = f'find {MOUNT} -mindepth 1 -maxdepth 1 -exec rm -rf {{}} + ; [ -z "$(ls -A {MOUNT})" ]'
POLL_SECONDS = 0.25


class PurgeFailed(RuntimeError):
    """Why the volume could not be emptied (a short reason for the service's message)."""


def job_name(label_prefix: str, volume: str) -> str:
    """The job's swarm service name (at most 63 characters, as swarm wants)."""
    name = f"{label_prefix}-purge-{volume.replace('.', '-')}"
    if len(name) <= 63:
        return name
    return f"{label_prefix}-purge-{hashlib.sha256(volume.encode()).hexdigest()[:16]}"


def job_body(name: str, volume: str, node: str, image: str, label_prefix: str) -> dict:
    """A replicated job of one task on `node`, mounting `volume` and emptying it."""
    return {
        "Name": name,
        "Labels": {f"{label_prefix}.purge": volume},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": image,
                "Command": ["sh", "-c", EMPTY],
                "Mounts": [{"Type": "volume", "Source": volume, "Target": MOUNT}],
                # Root deletes whatever the service's user owned; nothing else is kept.
                "CapabilityDrop": ["ALL"],
                "CapabilityAdd": ["CAP_DAC_OVERRIDE", "CAP_FOWNER"],
                "Labels": {f"{label_prefix}.purge": volume},
            },
            "Placement": {"Constraints": [f"node.hostname == {node}"]},
            "RestartPolicy": {"Condition": "none"},
            "Networks": [],
        },
        "Mode": {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
    }


def purge(
    engine: Engine, volume: str, node: str, image: str, label_prefix: str, timeout: float
) -> None:
    """Empty `volume` on `node`; PurgeFailed naming the node or the job's error otherwise. The
    job's service goes in every case."""
    problem = swarmtasks.node_problem(engine.call("GET", "/nodes"), node)
    if problem:
        raise PurgeFailed(f"its volume could not be purged: {problem}")
    name = job_name(label_prefix, volume)
    _remove(engine, name)  # an earlier pass's, interrupted
    body = job_body(name, volume, node, image, label_prefix)
    created = engine.call("POST", "/services/create", body)
    try:
        _wait(engine, created["ID"], node, timeout)
    finally:
        _remove(engine, name)


def _wait(engine: Engine, service_id: str, node: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        tasks = swarmgeneration.service_tasks(engine, service_id)
        states = [((t.get("Status") or {}).get("State", ""), t) for t in tasks]
        if any(state == "complete" for state, _ in states):
            return
        for state, task in states:
            if state in ("failed", "rejected"):
                status = task.get("Status") or {}
                why = status.get("Err") or status.get("Message") or state
                raise PurgeFailed(f"emptying its volume on node {node} failed: {why}")
        if time.monotonic() > deadline:
            raise PurgeFailed(f"emptying its volume on node {node} took over {timeout:g} s")
        time.sleep(POLL_SECONDS)


def _remove(engine: Engine, name: str) -> None:
    try:
        engine.call("DELETE", f"/services/{name}")
    except EngineError as err:
        if err.status != 404:
            raise
