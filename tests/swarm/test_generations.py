"""The swarm executor's generations (issue 28) on the session's 3-node fixture: a stateless
service's generation spread over the nodes and answering through an nginx on the manager node
rendered with its addresses, a blue/green update under load with no failed request, a delete
that leaves no task, a task failure in the engine's words, and a service with a volume pinned
to its node, refused naming the node once that node is drained.

The services live in the fixture's engines (not the host's) and are all removed at the end of
the module, so test_nodes.py's node records see none of them; node 2's availability is
restored whatever happens.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from swsagent import collection
from swsagent.plan import Route
from swsagent.serverblocks import _upstream, upstream_name
from tests.fixtures.contract import repo_contract
from tests.swarm import leftovers

engine_api = collection.engine()
container = collection.module_utils("container")
swarmspec = collection.module_utils("swarmspec")
generations = collection.module_utils("swarmgeneration")

HELLO = "sws-local/hello:2"
# The proxies' own image (sws.yml), which the bootstrap builds: the edge tests load it too.
NGINX = repo_contract().offline_images_names["nginx"]
SERVICE = "swx-web"
PROXY_PORT = 18080
UP_FILE = "/tmp/up.conf"
# The edge nginx: what sws_proxy's nginx.conf does for a route's upstream (retry a refused or
# timed-out connect on the next server), with ARCHITECTURE.md's 1 s connect timeout.
PROXY_CONF = f"""worker_processes 1; pid /tmp/nginx.pid; error_log /dev/stderr error;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_connect_timeout 1s;
    proxy_next_upstream error timeout http_502 http_503;
    proxy_next_upstream_tries 3;
    include {UP_FILE};
    server {{ listen 8080; location / {{ proxy_pass http://{{UPSTREAM}}; }} }}
}}
"""


def spec(generation: int, **extra) -> container.ServiceContainer:
    values = dict(
        container=f"sws-svc-{SERVICE}-{generation}",
        service=SERVICE,
        generation=generation,
        digest=f"digest-{generation}",
        domain="web.swx.test",
        port=8080,
        image=HELLO,
        owner="alice",
        containment="v2",
        network="unused-on-swarm",
        label_prefix="sws",
        stop_timeout=2,
        env={"GREETING": f"gen{generation}"},
        replicas=3,
    )
    return container.ServiceContainer(**{**values, **extra})


def load_images(swarm, images: list[str], nodes=(1, 2, 3)) -> None:
    """docker save once, then docker exec -i NODE docker load from the file, the nodes at
    once (the fixture's --images saves once a node; the session's fixture loads only the
    report image)."""
    archive = swarm.run_dir / "swx-images.tar"
    subprocess.run(["docker", "save", "-o", str(archive), *images], check=True)

    def into(index: int) -> None:
        with archive.open("rb") as stream:
            loaded = subprocess.run(
                ["docker", "exec", "-i", swarm.node(index), "docker", "load"],
                stdin=stream,
                capture_output=True,
            )
        assert loaded.returncode == 0, loaded.stderr

    try:
        with ThreadPoolExecutor(len(nodes)) as pool:
            list(pool.map(into, nodes))
    finally:
        archive.unlink()


def ensure_images(swarm, everywhere: list[str], manager: list[str] = ()) -> None:
    """`everywhere` on every node, `manager` on the manager (node 1) too, each loaded only
    into the nodes that lack it (the modules share the session's nodes)."""
    sockets = {i: str(swarm.run_dir / f"node-{i}/docker.sock") for i in (1, 2, 3)}
    for image in [*everywhere, *manager]:
        nodes = (1, 2, 3) if image in everywhere else (1,)
        lacking = tuple(i for i in nodes if engine_api.Engine(sockets[i], 10).image(image) is None)
        if lacking:
            load_images(swarm, [image], nodes=lacking)


def node_address(swarm, index: int) -> str:
    found = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"]
        + [swarm.node(index)],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()


@pytest.fixture(scope="module")
def manager(swarm, joined):
    """The manager's engine, the example app and nginx in every node; every service this
    module made is removed at its end."""
    engine = engine_api.Engine(swarm.manager_socket, 30)
    started = time.monotonic()
    ensure_images(swarm, [HELLO], manager=[NGINX])
    swarm.timings["app and nginx images loaded"] = round(time.monotonic() - started, 1)
    yield engine
    print(f"\nswarm timings (s): {swarm.timings}")
    leftovers.remove(engine, "sws-svc-swx-", "sws-edge-swx-")


class Proxy:
    """The edge nginx, a plain container on the manager node attached to the service's
    overlay, published on the node's address; its upstream rendered by the agent's own
    serverblocks._upstream with the generation's addresses, then checked and reloaded."""

    def __init__(self, engine, name: str, address: str):
        self.engine, self.name, self.address = engine, name, address

    def start(self, network: str, addresses: list[str]) -> None:
        script = f'printf "%s" "$CONF" >/tmp/n.conf; printf "%s" "$UP" >{UP_FILE}; '
        script += "exec nginx -c /tmp/n.conf -g 'daemon off;'"
        body = {
            "Image": NGINX,
            "Entrypoint": ["sh", "-c", script],
            "Cmd": [],
            "Env": [f"CONF={proxy_conf()}", f"UP={upstream(addresses)}"],
            "ExposedPorts": {"8080/tcp": {}},
            "HostConfig": {
                "NetworkMode": network,
                "PortBindings": {"8080/tcp": [{"HostPort": str(PROXY_PORT)}]},
            },
        }
        self.engine.remove(self.name, force=True)
        self.engine.start(self.engine.create(self.name, body))

    def push(self, addresses: list[str]) -> None:
        """New upstream, `nginx -t`, graceful reload; returns once the old worker is gone
        (its requests to the older generation done)."""
        script = f'printf "%s" "$1" >{UP_FILE} && nginx -q -t -c /tmp/n.conf'
        script += " && nginx -c /tmp/n.conf -s reload"
        command = ["sh", "-c", script, "sh", upstream(addresses)]
        assert self.engine.run_in(self.name, command) == 0
        old = "grep -l 'shutting[ ]down' /proc/[0-9]*/cmdline 2>/dev/null | grep -q ."
        deadline = time.monotonic() + 20
        while self.engine.run_in(self.name, ["sh", "-c", old]) == 0:
            assert time.monotonic() < deadline, "the old nginx worker did not leave"
            time.sleep(0.1)

    def wait(self, seconds: float = 20) -> None:
        """Until it answers at all (nginx just started, or reloaded)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.get()
                return
            except (OSError, AssertionError, http.client.HTTPException):
                assert time.monotonic() < deadline, "the edge nginx did not answer"
                time.sleep(0.2)

    def get(self) -> dict:
        conn = http.client.HTTPConnection(self.address, PROXY_PORT, timeout=5)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            assert response.status == 200, response.status
            return json.loads(response.read())
        finally:
            conn.close()


def route(addresses: list[str]) -> Route:
    return Route("web.swx.test", SERVICE, addresses[0], 8080, more_addresses=tuple(addresses[1:]))


def upstream(addresses: list[str]) -> str:
    return _upstream(route(addresses))


def proxy_conf() -> str:
    return PROXY_CONF.replace("{UPSTREAM}", upstream_name(route(["0.0.0.0"])))


@dataclass
class Web:
    engine: object
    proxy: Proxy
    first: object
    addresses: list[str]
    seconds: float


@pytest.fixture(scope="module")
def web(swarm, manager):
    """Generation 1 of a 3-replica service, and the edge nginx in front of its addresses."""
    first = swarmspec.SwarmGeneration(spec(1))
    started = time.monotonic()
    addresses = generations.deploy(manager, first, swarm.report_image, timeout=90, path="/healthz")
    seconds = round(time.monotonic() - started, 1)
    proxy = Proxy(manager, f"{swarm.prefix}-swx-edge", node_address(swarm, 1))
    proxy.start(first.edge_network, addresses)
    proxy.wait()
    yield Web(manager, proxy, first, addresses, seconds)
    manager.remove(proxy.name, force=True)


def test_a_generation_spreads_over_the_nodes_and_each_task_answers_through_the_edge(web):
    engine, first = web.engine, web.first
    found = generations.service(engine, first.name)
    assert found["Spec"]["EndpointSpec"]["Mode"] == "dnsrr"
    assert found["Spec"]["Labels"]["sws.generation"] == "1"
    tasks = generations.service_tasks(engine, found["ID"])
    nodes = collection.module_utils("swarmtasks").running_nodes(tasks)
    assert len(nodes) == 3 and len(set(nodes)) == 3, nodes
    assert len(web.addresses) == 3
    # Round robin over the three servers: every task answers, with generation 1's settings.
    answers = [web.proxy.get() for _ in range(12)]
    assert {a["greeting"] for a in answers} == {"gen1"}
    assert len({a["hostname"] for a in answers}) == 3
    print(f"\ngeneration 1 answering: {web.seconds} s")


def test_the_task_containers_are_contained_as_a_hosts_containers_are(web):
    # The manager's engine is node 1's: its own task's container, as the engine made it.
    engine = web.engine
    ours = engine.containers("sws.service=" + SERVICE, all_states=False)
    assert ours, "no task of generation 1 on the manager node"
    detail = engine.inspect(ours[0]["Id"])
    host = detail["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and host["Memory"] == 268435456
    assert host["NanoCpus"] == 500_000_000 and host["PidsLimit"] == 256
    assert host["LogConfig"]["Config"] == {"max-size": "10m", "max-file": "2"}
    assert detail["Config"]["Labels"]["sws.owner"] == "alice"
    assert "GREETING=gen1" in detail["Config"]["Env"]


class Load:
    """Clients sending GETs one after another through the edge, a new connection each;
    every outcome counted."""

    def __init__(self, proxy: Proxy, clients: int = 3):
        self.proxy = proxy
        self.stop = threading.Event()
        self.sent, self.failed, self.greetings = 0, [], set()
        self.threads = [threading.Thread(target=self.client) for _ in range(clients)]

    def client(self) -> None:
        while not self.stop.is_set():
            try:
                self.greetings.add(self.proxy.get()["greeting"])
            except (OSError, AssertionError, ValueError, http.client.HTTPException) as err:
                self.failed.append(repr(err))
            self.sent += 1

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def until(self, count: int) -> None:
        """Go on until `count` more requests were sent (load before and after a step)."""
        wanted = self.sent + count
        deadline = time.monotonic() + 30
        while self.sent < wanted and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture(scope="module")
def updated(swarm, web):
    """Generation 2 deployed beside 1 under load, the edge switched to it, 1 retired."""
    second = swarmspec.SwarmGeneration(spec(2))
    started = time.monotonic()
    with Load(web.proxy) as load:
        load.until(50)
        addresses = generations.deploy(web.engine, second, swarm.report_image, timeout=90)
        web.proxy.push(addresses)
        retired = generations.retire(web.engine, web.first.name)
        load.until(50)
    seconds = round(time.monotonic() - started, 1)
    return {
        "second": second,
        "addresses": addresses,
        "retired": retired,
        "load": load,
        "s": seconds,
    }


def test_an_update_under_load_fails_no_request_and_removes_the_old_generation(web, updated):
    load = updated["load"]
    assert load.failed == [], load.failed[:5]
    assert load.sent >= 100 and load.greetings == {"gen1", "gen2"}
    assert updated["retired"] and generations.service(web.engine, web.first.name) is None
    assert len(updated["addresses"]) == 3 and not set(updated["addresses"]) & set(web.addresses)
    assert {web.proxy.get()["greeting"] for _ in range(6)} == {"gen2"}
    print(f"\nupdate under load: {load.sent} requests, 0 failed, {updated['s']} s")


def test_a_deleted_generation_leaves_no_service_no_task_and_no_container(swarm, web, updated):
    engine, second = web.engine, updated["second"]
    service_id = generations.service(engine, second.name)["ID"]
    assert generations.retire(engine, second.name) is True
    assert generations.service(engine, second.name) is None
    assert generations.service_tasks(engine, service_id) == []
    # No task left means every task's container stopped; each node removes its stopped
    # containers once it learns the tasks are gone, a moment later.
    label = f"sws.generation={second.container.generation}"
    nodes = [engine_api.Engine(str(swarm.run_dir / f"node-{i}/docker.sock"), 10) for i in (1, 2, 3)]
    assert [c for node in nodes for c in node.containers(label, all_states=False)] == []
    deadline = time.monotonic() + 20
    while left := [c["Names"][0] for node in nodes for c in node.containers(label)]:
        assert time.monotonic() < deadline, f"still on the nodes after 20 s: {left}"
        time.sleep(0.2)
    assert generations.retire(engine, second.name) is False  # gone already: nothing to do


def test_a_task_that_cannot_start_fails_the_deploy_in_the_engines_words(swarm, manager):
    broken = swarmspec.SwarmGeneration(spec(9, image="sws-swx-absent:1", replicas=1))
    started = time.monotonic()
    with pytest.raises(generations.GenerationFailed) as failed:
        generations.deploy(manager, broken, swarm.report_image, timeout=60)
    seconds = time.monotonic() - started
    assert "generation 9: " in str(failed.value) and "sws-swx-absent" in str(failed.value)
    assert generations.service(manager, broken.name) is None  # nothing half-made stays
    print(f"\nmissing image: failed in {seconds:.1f} s: {failed.value}")


def container_events(engine, since: int) -> list[tuple[str, str]]:
    """(die or start, generation) of the volume service's containers on a node, in order."""
    filters = {"type": ["container"], "event": ["die", "start"], "label": ["sws.service=swx-db"]}
    params = {"since": since, "until": int(time.time()) + 1, "filters": json.dumps(filters)}
    lines = engine.read("/events", params=params).splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    return [(e["Action"], e["Actor"]["Attributes"]["sws.generation"]) for e in events]


def set_availability(engine, hostname: str, availability: str) -> None:
    node = engine.call("GET", f"/nodes/{hostname}")
    wanted = {**node["Spec"], "Availability": availability}
    params = {"version": node["Version"]["Index"]}
    engine.call("POST", f"/nodes/{node['ID']}/update", body=wanted, params=params)


def test_a_volume_service_runs_on_its_node_stops_first_and_is_refused_when_it_is_drained(
    swarm, manager
):
    # Node 2, a worker (test_nodes.py's leave test removes it later): back active at the end.
    node = swarm.node(2)
    volume = dict(service="swx-db", volume_mount="/data", replicas=3)
    first, second, third = (
        swarmspec.SwarmGeneration(spec(n, **volume), node=node) for n in (1, 2, 3)
    )
    assert generations.deploy(manager, first, swarm.report_image, timeout=60)
    found = generations.service(manager, first.name)
    assert found["Spec"]["Mode"] == {"Replicated": {"Replicas": 1}}
    tasks = generations.service_tasks(manager, found["ID"])
    names = collection.module_utils("swarmtasks").hostnames(manager.call("GET", "/nodes"))
    assert [names[n] for n in collection.module_utils("swarmtasks").running_nodes(tasks)] == [node]
    on_node = engine_api.Engine(str(swarm.run_dir / "node-2/docker.sock"), 10)
    assert on_node.volume("swx-db-volume.alice")["Labels"] == {
        "sws.service": "swx-db",
        "sws.owner": "alice",
    }

    # Stop-first (one writer on the volume): the node saw generation 1's container die
    # before generation 2's started, and 1 has no task left.
    since, started = int(time.time()) - 1, time.monotonic()
    assert generations.deploy(manager, second, swarm.report_image, timeout=60, older=(first.name,))
    print(f"\nstop-first update of the volume service: {time.monotonic() - started:.1f} s")
    events = container_events(on_node, since)  # from 1 s back: 1's start may be in it too
    assert events.index(("die", "1")) < events.index(("start", "2")), events
    old = generations.service(manager, first.name)
    assert generations.service_tasks(manager, old["ID"]) == []
    assert generations.retire(manager, first.name)

    set_availability(manager, node, "drain")
    try:
        with pytest.raises(generations.GenerationFailed) as refused:
            generations.deploy(manager, third, swarm.report_image, timeout=60, older=(second.name,))
        assert str(refused.value) == f"node {node} that holds the volume is unavailable (drain)"
        assert generations.service(manager, third.name) is None  # never started elsewhere
        assert generations.service(manager, second.name) is not None  # not stopped for it
    finally:
        set_availability(manager, node, "active")
