"""Images on every node (issue 28): a service whose image is in a private registry (the real
registry of tests/fixtures/registry.py, behind htpasswd and TLS, here on the swarm fixture's
network where the nodes reach it) runs a task on each node, each node pulling the image
itself with the user's credentials: X-Registry-Auth on the service's create, what `docker
service create --with-registry-auth` sends. Without them the deploy fails in the engine's
words and leaves nothing.

Everything lives in the fixture's engines (and the registry's container) and goes at the end.
"""

from __future__ import annotations

import pytest

from swsagent import collection
from tests.fixtures.registry import auth_header, push, running_registry
from tests.swarm import leftovers
from tests.swarm.test_generations import HELLO, spec

engine_api = collection.engine()
generations = collection.module_utils("swarmgeneration")
swarmspec = collection.module_utils("swarmspec")
swarmtasks = collection.module_utils("swarmtasks")

LABELS = "swg"
SERVICE = "swg-web"
USERS = {"alice": "pw-swarm-registry"}


def node_engine(swarm, index: int):
    return engine_api.Engine(str(swarm.run_dir / f"node-{index}/docker.sock"), 30)


@pytest.fixture(scope="module")
def registry(swarm, joined, tmp_path_factory):
    """The registry on the fixture's network, trusted by every node (its CA where each node's
    engine looks for it: /etc/docker/certs.d/<address>/ca.crt, read at each pull)."""
    workdir = tmp_path_factory.mktemp("swarm-registry")
    with running_registry(workdir, USERS, on_network=f"{swarm.prefix}-net") as found:
        ca = found.ca_file.read_text()
        for index in (1, 2, 3):
            trusted = f"/etc/docker/certs.d/{found.address}"
            script = f'mkdir -p {trusted} && printf "%s" "$1" > {trusted}/ca.crt'
            # The node's own filesystem, through the host's engine (the node is a container).
            host = engine_api.Engine(None, 30)
            assert host.run_in(swarm.node(index), ["sh", "-c", script, "sh", ca]) == 0
        yield found


@pytest.fixture(scope="module")
def manager(swarm, registry):
    engine = engine_api.Engine(swarm.manager_socket, 30)
    yield engine
    leftovers.remove(engine, f"{LABELS}-svc-", f"{LABELS}-")


def test_each_node_pulls_the_private_image_with_the_users_credentials(swarm, registry, manager):
    reference = push(engine_api.Engine(None, 60), registry, HELLO, "alice/hello:1", "alice")
    generation = swarmspec.SwarmGeneration(
        spec(1, service=SERVICE, container=f"sws-svc-{SERVICE}-1", image=reference,
             domain="web.swg.test", label_prefix=LABELS, replicas=3)
    )  # fmt: skip

    # Without the user's credentials no node can pull it: refused in the engine's words.
    with pytest.raises(generations.GenerationFailed) as refused:
        generations.deploy(manager, generation, swarm.report_image, timeout=60)
    # (a node's engine says only what its task lacks; the pull's own 401 stays in its log)
    assert f"No such image: {reference}" in str(refused.value)
    assert generations.service(manager, generation.name) is None  # nothing left of it

    # With them, each node pulls it for its own task.
    auth = auth_header(registry, "alice")
    addresses = generations.deploy(
        manager, generation, swarm.report_image, timeout=90, registry_auth=auth
    )
    found = generations.service(manager, generation.name)
    nodes = swarmtasks.running_nodes(generations.service_tasks(manager, found["ID"]))
    assert len(addresses) == 3 and len(set(nodes)) == 3
    assert all(node_engine(swarm, i).image(reference) is not None for i in (1, 2, 3))
