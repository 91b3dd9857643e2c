"""No acknowledged write lost on the swarm (issue 28): a PostgreSQL service with a volume,
pinned to its node, updated stop-first while a client writes to it through its stack's
overlay by the service's name. Every write the database acknowledged is there afterwards,
and generation 2's PostgreSQL found its data directory shut down cleanly (no crash recovery:
generation 1 had stopped before it started on the same volume).

The writer is a container on the manager attached to the stack's overlay (attachable, as the
edge proxies are): one psql a write, an `ok <n>` line for each write PostgreSQL committed.
Everything lives in the fixture's engines and goes at the end of the module.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from swsagent import collection
from swsagent.config import SERVICE_CAPABILITIES
from tests.fixtures.contract import repo_contract
from tests.swarm import leftovers
from tests.swarm.test_generations import load_images, spec

engine_api = collection.engine()
generations = collection.module_utils("swarmgeneration")
swarmspec = collection.module_utils("swarmspec")

LABELS = "swd"
SERVICE = "swd-db"
STACK = "swd-stack_alice_data"
PASSWORD = "pw-swarm-data"
PGDATA = "/var/lib/postgresql/data"
WRITER = "swd-writer"
# One psql a write: a new connection each time, so a write in the update's gap fails (and is
# not counted) instead of waiting; `ok <n>` only once PostgreSQL committed row n.
WRITER_SCRIPT = f"""
export PGPASSWORD={PASSWORD} PGCONNECT_TIMEOUT=2
until psql -h {SERVICE} -U app -d app -qc 'CREATE TABLE IF NOT EXISTS w (n int PRIMARY KEY)'
do sleep 0.2; done
n=0
while true; do
  n=$((n+1))
  if psql -h {SERVICE} -U app -d app -qc "INSERT INTO w VALUES ($n)" >/dev/null 2>&1
  then echo "ok $n"; fi
  sleep 0.02
done
"""


def postgres_image() -> str:
    return repo_contract().offline_images_names["postgres"]


def generation(number: int, node: str):
    env = {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": PASSWORD, "POSTGRES_DB": "app"}
    container = spec(
        number, service=SERVICE, container=f"sws-svc-{SERVICE}-{number}", domain="",
        image=postgres_image(), port=5432, volume_mount=PGDATA, env=env, replicas=1,
        label_prefix=LABELS, stack_network=STACK, memory=512 * 1024 * 1024,
        capabilities=SERVICE_CAPABILITIES,  # what the agent gives every service
    )  # fmt: skip
    return swarmspec.SwarmGeneration(container, node=node)


def acknowledged(manager) -> list[int]:
    logs = manager.read(f"/containers/{WRITER}/logs", params={"stdout": 1})
    return [int(n) for n in re.findall(rb"ok (\d+)", logs)]


def until(what: str, done, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while not (found := done()):
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.2)
    return found


def task_container(swarm, manager, name: str) -> tuple[str, str]:
    """The node's engine socket and the container of the generation's one running task."""
    found = generations.service(manager, name)
    for task in generations.service_tasks(manager, found["ID"]):
        if task["Status"]["State"] == "running":
            node = manager.call("GET", f"/nodes/{task['NodeID']}")["Description"]["Hostname"]
            index = node.rsplit("-", 1)[-1]
            socket = str(swarm.run_dir / f"node-{index}/docker.sock")
            return socket, task["Status"]["ContainerStatus"]["ContainerID"]
    raise AssertionError(f"{name} has no running task")


@pytest.fixture(scope="module")
def manager(swarm, joined):
    engine = engine_api.Engine(swarm.manager_socket, 30)
    # The database's node and the manager (its writer, psql, is a container there).
    for index in (1, 3):
        if (
            engine_api.Engine(str(swarm.run_dir / f"node-{index}/docker.sock"), 10).image(
                postgres_image()
            )
            is None
        ):
            load_images(swarm, [postgres_image()], nodes=(index,))
    yield engine
    engine.remove(WRITER, force=True)
    leftovers.remove(engine, f"{LABELS}-svc-", f"{LABELS}-")
    # The volume stays on node 3 until the fixture removes the nodes with their engines.


def test_a_database_loses_no_acknowledged_write_through_a_stop_first_update(swarm, manager):
    node = swarm.node(3)  # a worker, as a database's node would be; test_nodes.py kills it last
    first, second = generation(1, node), generation(2, node)
    assert generations.deploy(manager, first, swarm.report_image, timeout=90)

    body = {
        "Image": postgres_image(),
        "Entrypoint": ["sh", "-c", WRITER_SCRIPT],
        "Cmd": [],
        "HostConfig": {"NetworkMode": STACK},
    }
    manager.remove(WRITER, force=True)
    manager.start(manager.create(WRITER, body))
    until("the first 50 acknowledged writes", lambda: len(acknowledged(manager)) >= 50)

    started = time.monotonic()
    assert generations.deploy(manager, second, swarm.report_image, timeout=90, older=(first.name,))
    update_seconds = round(time.monotonic() - started, 1)
    before = len(acknowledged(manager))
    until("50 more acknowledged writes", lambda: len(acknowledged(manager)) >= before + 50)
    manager.stop(WRITER, timeout=1)  # nothing is written from here on
    written = acknowledged(manager)
    assert generations.retire(manager, first.name)

    # The rows as generation 2 holds them, read in its own container on its node.
    socket, container = task_container(swarm, manager, second.name)
    query = ["psql", "-h", "127.0.0.1", "-U", "app", "-d", "app", "-tAc", "SELECT n FROM w"]
    done = subprocess.run(
        ["docker", "--host", f"unix://{socket}", "exec", "-e", f"PGPASSWORD={PASSWORD}",
         container, *query],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stored = {int(n) for n in done.stdout.split()}
    lost = sorted(set(written) - stored)
    assert lost == [], f"{len(lost)} acknowledged writes lost: {lost[:20]}"
    logs = subprocess.run(
        ["docker", "--host", f"unix://{socket}", "logs", container],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    said = logs.stdout + logs.stderr
    assert "database system was shut down at" in said, said[-2000:]
    assert "automatic recovery in progress" not in said, said[-2000:]
    print(
        f"\nstop-first update of a database under writes: {update_seconds} s;"
        f" {len(written)} writes acknowledged, all {len(stored)} rows there"
    )
