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
from tests.swarm.test_generations import HELLO, load_images

engine_api = collection.engine()
container = collection.module_utils("container")
swarmspec = collection.module_utils("swarmspec")
generations = collection.module_utils("swarmgeneration")

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
    load_images(swarm, [HELLO])
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
