"""The pass's observe with the swarm executor on (issue 28), on the session's 3-node fixture:
a 2-replica generation deployed by the executor's core (module_utils/swarmgeneration.py) is
read back from the manager as two running `RunningContainer`s, named for the generation's
service, at the tasks' addresses on the edge overlay, and the plan gives its route both.

The generation and its overlay live in the fixture's engines and are removed at the end."""

from __future__ import annotations

import time

import pytest

from swsagent import collection
from swsagent.desired import desired_from_row
from swsagent.plan import choose_serving, plan_deploys, routes_for
from swsagent.swarm.observe import containers_from_tasks, read_manager
from swsagent.swarm.taskwatch import TaskWatch
from tests.swarm.test_generations import HELLO, ensure_images

engine_api = collection.engine()
container = collection.module_utils("container")
swarmspec = collection.module_utils("swarmspec")
generations = collection.module_utils("swarmgeneration")
swarmtasks = collection.module_utils("swarmtasks")

SERVICE = "swp-web"
SPEC = {"name": SERVICE, "port": 8080, "domain": "web.swp.test", "image": HELLO, "replicas": 2}


def generation() -> swarmspec.SwarmGeneration:
    made = container.ServiceContainer(
        container=f"sws-svc-{SERVICE}-1",
        service=SERVICE,
        generation=1,
        digest="digest-1",
        domain=SPEC["domain"],
        port=8080,
        image=HELLO,
        owner="alice",
        containment="v2",
        network="unused-on-swarm",
        label_prefix="sws",
        stop_timeout=2,
        replicas=2,
    )
    return swarmspec.SwarmGeneration(made)


@pytest.fixture(scope="module")
def deployed(swarm, joined):
    """Generation 1 of a 2-replica service, answering; removed with its overlay at the end."""
    engine = engine_api.Engine(swarm.manager_socket, 30)
    started = time.monotonic()
    ensure_images(swarm, [HELLO])
    loaded = time.monotonic()
    first = generation()
    try:
        addresses = generations.deploy(engine, first, swarm.report_image, timeout=90)
        answering = time.monotonic() - loaded
        print(f"\nimage loaded {loaded - started:.1f} s, 2 tasks answering {answering:.1f} s")
        yield first, addresses
    finally:
        generations.retire(engine, first.name)
        if any(n["Name"] == first.edge_network for n in engine.networks()):
            engine.remove_network(first.edge_network)


def test_each_running_task_is_observed_at_its_overlay_address_and_routed(swarm, deployed):
    first, addresses = deployed
    started = time.monotonic()
    view = read_manager(swarm.manager_socket, "sws")
    seen = [c for c in containers_from_tasks(view.services, view.tasks) if c.service == SERVICE]
    took = time.monotonic() - started
    assert [(c.name, c.running, c.generation, c.digest) for c in seen] == [
        (first.name, True, 1, "digest-1"),
        (first.name, True, 1, "digest-1"),
    ]
    assert sorted(c.ip for c in seen) == sorted(addresses)
    assert sorted(c.replica for c in seen) == [1, 2]
    # The store's row of that generation, applied: it serves, on both tasks, and stays.
    row = desired_from_row(SERVICE, SPEC["domain"], SPEC, "digest-1", 1, 1, "running")
    (route,) = routes_for(choose_serving([row], seen, set()), [row], seen)
    assert sorted(route.addresses) == sorted(addresses)
    assert plan_deploys([row], seen).deploy == []
    print(f"\nobserved on the manager in {took:.2f} s")


def test_a_task_that_dies_wakes_the_watching_agent_and_its_route_follows(swarm, deployed):
    """One task's container killed on its node (what a crash does): the agent's task watch
    sees the swarm's change (the task failed, another started) within seconds, and what a
    pass then observes routes to the tasks running now."""
    first, addresses = deployed
    engine = engine_api.Engine(swarm.manager_socket, 30)
    watch = TaskWatch(swarm.manager_socket, "sws", every=0.0)
    watch.seen()
    assert not watch.changed()
    found = generations.service(engine, first.name)
    (task, *_) = [
        t
        for t in generations.service_tasks(engine, found["ID"])
        if t["Status"]["State"] == "running"
    ]
    index = engine.call("GET", f"/nodes/{task['NodeID']}")["Description"]["Hostname"][-1]
    node = engine_api.Engine(str(swarm.run_dir / f"node-{index}/docker.sock"), 10)
    killed = time.monotonic()
    node.call("POST", f"/containers/{task['Status']['ContainerStatus']['ContainerID']}/kill")
    while not watch.changed():
        assert time.monotonic() - killed < 30, "the task watch saw no change"
        time.sleep(0.2)
    seen_after = round(time.monotonic() - killed, 1)
    # The swarm starts a task in its place; what a pass observes then is the two running.
    deadline = time.monotonic() + 60
    while True:
        view = read_manager(swarm.manager_socket, "sws")
        running = [t for t in view.tasks if t["ServiceID"] == found["ID"] and swarmtasks.running(t)]
        if len(running) == 2 and task["ID"] not in {t["ID"] for t in running}:
            break
        assert time.monotonic() < deadline, [t["Status"] for t in running]
        time.sleep(0.5)
    mine = [c for c in containers_from_tasks(view.services, view.tasks) if c.service == SERVICE]
    assert sorted(c.ip for c in mine) == sorted(
        swarmtasks.address(t, first.edge_network) for t in running
    )
    print(f"\na killed task seen by the task watch after {seen_after} s")
