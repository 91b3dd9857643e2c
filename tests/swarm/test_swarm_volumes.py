"""A volume is its owner's on the swarm too (issue 28): alice's service keeps a file in its
volume on node 2 and is deleted without a purge (its volume stays, as on one host); bob then
takes the same service name, and his task on that same node starts on a volume of his own,
never alice's. On one host container.check_volume refuses a volume of another owner; a
node's engine would mount whatever volume has the name, so the name carries the owner.

Everything lives in the fixture's engines and goes at the end of the module."""

from __future__ import annotations

import subprocess

import pytest

from swsagent import collection
from tests.swarm import leftovers
from tests.swarm.test_generations import HELLO, ensure_images, spec

engine_api = collection.engine()
generations = collection.module_utils("swarmgeneration")
swarmspec = collection.module_utils("swarmspec")

LABELS = "swv"
SERVICE = "swv-notes"


@pytest.fixture(scope="module")
def manager(swarm, joined):
    engine = engine_api.Engine(swarm.manager_socket, 30)
    ensure_images(swarm, [HELLO])
    yield engine
    leftovers.remove(engine, f"{LABELS}-svc-", f"{LABELS}-")


def in_task(swarm, manager, name: str, script: str) -> str:
    """A shell command in the generation's running task, through node 2's engine, as root
    (the example app runs as nobody, and a new volume is root's)."""
    found = generations.service(manager, name)
    (task,) = [
        t
        for t in generations.service_tasks(manager, found["ID"])
        if t["Status"]["State"] == "running"
    ]
    socket = swarm.run_dir / "node-2" / "docker.sock"
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    done = subprocess.run(
        ["docker", "--host", f"unix://{socket}", "exec", "-u", "0", container, "sh", "-c", script],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return done.stdout + done.stderr


def test_another_users_service_of_the_same_name_never_gets_the_volume(swarm, manager):
    node = swarm.node(2)

    def generation(number: int, owner: str):
        made = spec(
            number, service=SERVICE, container=f"sws-svc-{SERVICE}-{number}", domain="",
            owner=owner, volume_mount="/data", label_prefix=LABELS, replicas=1,
        )  # fmt: skip
        return swarmspec.SwarmGeneration(made, node=node)

    alices = generation(1, "alice")
    assert generations.deploy(manager, alices, swarm.report_image, timeout=60)
    in_task(swarm, manager, alices.name, "echo alice-secret > /data/notes.txt")
    assert "alice-secret" in in_task(swarm, manager, alices.name, "cat /data/notes.txt")
    # Deleted as a pass deletes it (its generation, then its own overlay); its volume kept.
    assert generations.retire(manager, alices.name)
    assert generations.remove_overlays(manager, SERVICE, LABELS)

    bobs = generation(1, "bob")
    assert generations.deploy(manager, bobs, swarm.report_image, timeout=60)
    seen = in_task(swarm, manager, bobs.name, "ls -A /data; cat /data/notes.txt 2>&1")
    assert "alice-secret" not in seen, seen
    on_node = engine_api.Engine(str(swarm.run_dir / "node-2/docker.sock"), 10)
    volumes = {v["Name"]: v["Labels"] for v in on_node.call("GET", "/volumes")["Volumes"] or []}
    mine = {n: labels for n, labels in volumes.items() if n.startswith(SERVICE)}
    assert sorted(labels[f"{LABELS}.owner"] for labels in mine.values()) == ["alice", "bob"]
