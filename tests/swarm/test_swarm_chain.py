"""The whole chain on the swarm (issue 28): a spec applied to the store, the agent's pass with
the swarm executor on, then requests through HAProxy and the two nginx proxies to the tasks,
on the manager and on the other nodes.

The edge is tests/fixtures/edgechain.py's on the manager's engine: the proxies on a bridge of
their own, joined by the pass to the service's edge overlay, HAProxy in the manager node's
network namespace. The pass runs here as the agent runs on an SWS host that is the manager:
DOCKER_HOST is the manager's socket (every engine call and `docker` command of the pass and
of its playbook), and the paths it reads and writes (the proxies' configuration, their
sockets, HAProxy's admin socket) lie in the fixture's manager_dir, which the host and the
manager node see at the same path. Everything goes at the end of the module.
"""

from __future__ import annotations

import shutil
import time

import pytest
import requests

from swsagent import collection
from swsagent.config import config_from_mapping
from tests.fixtures import edgechain
from tests.integration import test_agent_pass as agent_pass
from tests.integration.test_replicas_chain import Load
from tests.swarm import leftovers
from tests.swarm.test_generations import HELLO, ensure_images
from tests.swarm.test_swarm_pass import node_name, one_pass, row

store = agent_pass.store  # the migrated store with the user alice

engine_api = collection.engine()
generations = collection.module_utils("swarmgeneration")

LABELS = "swc"  # this module's generation services and overlays alone
SERVICE, DOMAIN = "swc-web", "web.swc.test"
PROXY_NETWORK = "swc-proxies"
PORT = 8088  # HAProxy's, in the manager node's namespace


@pytest.fixture(scope="module")
def chain(swarm, joined):
    engine = engine_api.Engine(swarm.manager_socket, 30)
    # The app on every node, the edge's images on the manager alone.
    ensure_images(swarm, [HELLO], manager=[edgechain.PROXY_IMAGE, edgechain.HAPROXY_IMAGE])
    # The proxies' bridge, as roles/sws_proxy makes it with sws_proxy_network set.
    engine.call(
        "POST",
        "/networks/create",
        {
            "Name": PROXY_NETWORK,
            "Internal": True,
            "Options": {"com.docker.network.bridge.enable_icc": "false"},
        },
    )
    root = swarm.manager_dir / "chain"
    made = edgechain.start(root, LABELS, PROXY_NETWORK, swarm.manager_socket, node_port=PORT)
    node_ip = edgechain.docker(
        None, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        swarm.node(1),
    )  # fmt: skip
    made.address = f"{node_ip}:{PORT}"
    yield made
    made.remove()
    overlays = (f"{LABELS}-edge-", f"{LABELS}-private-", PROXY_NETWORK)
    leftovers.remove(engine, f"{LABELS}-svc-", overlays)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def config(swarm, database_url, chain, tmp_path):
    settings = chain.agent_settings(database_url, tmp_path / "state", LABELS, "unused-on-swarm")
    swarm_section = {"manager_socket": swarm.manager_socket, "report_image": swarm.report_image}
    return config_from_mapping({**settings, "swarm": {**swarm_section, "executor": True}})


def apply(store, greeting: str) -> None:
    spec = {
        "name": SERVICE, "port": 8080, "domain": DOMAIN, "image": HELLO, "replicas": 3,
        "env": [{"name": "GREETING", "value": greeting}],
    }  # fmt: skip
    store.apply("alice", spec)


def first_200(url: str, seconds: float = 60.0) -> dict:
    deadline, last = time.monotonic() + seconds, ""
    while time.monotonic() < deadline:
        try:
            answer = requests.get(url, headers={"Host": DOMAIN}, timeout=5)
            if answer.status_code == 200:
                return answer.json()
            last = f"{answer.status_code} {answer.text[:200]}"
        except requests.RequestException as err:
            last = repr(err)
        time.sleep(0.05)
    raise AssertionError(f"no 200 through the chain within {seconds} s; last: {last}")


def task_nodes(manager, generation: int) -> dict[str, str]:
    """The running tasks of one generation: container hostname (its short id) -> node name."""
    found = {}
    for task in manager.call("GET", "/tasks"):
        labels = task["Spec"].get("ContainerSpec", {}).get("Labels") or {}
        if labels.get(f"{LABELS}.service") != SERVICE or task["Status"]["State"] != "running":
            continue
        if labels.get(f"{LABELS}.generation") == str(generation):
            container = task["Status"]["ContainerStatus"]["ContainerID"]
            found[container[:12]] = node_name(manager, task["NodeID"])
    return found


def test_apply_update_and_delete_through_haproxy_and_the_proxies_to_every_node(
    swarm, chain, store, config
):
    manager = engine_api.Engine(swarm.manager_socket, 30)
    timings = {}

    # Apply -> first 200: the pass deploys generation 1 (3 tasks, one a node), joins the
    # proxies to its overlay and rolls the route to the tasks' addresses.
    started = time.monotonic()
    apply(store, "gen1")
    with edgechain.on_engine(swarm.manager_socket):
        report = one_pass(config, store.conn)
    timings["pass"] = round(time.monotonic() - started, 2)
    assert report.changed.get("deployed") == [SERVICE], report.summary()
    assert report.changed.get("routes") == "rolled", report.summary()
    assert first_200(chain.url)["greeting"] == "gen1"
    timings["apply -> first 200"] = round(time.monotonic() - started, 2)
    assert (row(store, SERVICE)["status"], row(store, SERVICE)["applied"]) == ("running", 1)
    first = task_nodes(manager, 1)
    assert sorted(first.values()) == [swarm.node(i) for i in (1, 2, 3)], first
    # Every task answers through the chain, those on the two other nodes too.
    answered = {first_200(chain.url)["hostname"] for _ in range(60)}
    assert answered == set(first), (answered, first)

    # An update under load: every request answered 200, the last ones by generation 2 alone.
    with Load(chain.url, DOMAIN) as load:
        time.sleep(0.5)
        mark = time.monotonic()
        apply(store, "gen2")
        with edgechain.on_engine(swarm.manager_socket):
            report = one_pass(config, store.conn)
        timings["update pass"] = round(time.monotonic() - mark, 2)
        time.sleep(0.5)
    assert report.changed.get("deployed") == [SERVICE], report.summary()
    second = task_nodes(manager, 2)
    assert len(second) == 3 and not set(second) & set(first)
    assert load.failures == [], load.failures[:5]
    assert len(load.answers) > 50, len(load.answers)
    assert set(load.answers[-20:]) <= set(second), "after the roll only generation 2 answers"
    timings["requests during the update (all 200)"] = len(load.answers)

    # Delete: the route goes with the service, the store forgets it.
    store.delete("alice", SERVICE)
    with edgechain.on_engine(swarm.manager_socket):
        report = one_pass(config, store.conn)
    assert report.changed.get("forgotten") == [SERVICE], report.summary()
    assert requests.get(chain.url, headers={"Host": DOMAIN}, timeout=5).status_code != 200
    print(f"\nswarm chain timings (s): {timings}")
