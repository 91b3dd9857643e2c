"""Isolation on overlays across nodes (issue 28): what the single host promises between users
holds on the swarm, with the join playbook's firewall on every node (sws.host.swarm_firewall).

Made once on the session's 3-node swarm: user A's service (one task, node 2) and user B's (one
task on each node), each on its own attachable edge overlay (the design's `sws-edge-<service>`,
named here under the session's prefix); stack 1's two services on its overlay (nodes 2 and 3)
and stack 2's one (node 3); a proxy-like container on the manager attached to both edge
overlays; on every node, outside the swarm, a listener on port 80 (the edge's HAProxy) and on
5999 (the control plane's stand-in: the API, sws-confdb); one on the host machine (the
internet's stand-in). Every service is dnsrr (no IPVS here) and serves its own name on 8080
(busybox httpd).

Each test shows what must work next to what must not, so a blanket drop fails them as surely
as an open door. A probe that does not connect reads "blocked" (see probe_all).
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from swsagent import collection

PORT = 8080  # every service's httpd
CONTROL_PORT = 5999  # the control plane's stand-in on each node
EDGE_PORT = 80
# Each task serves its service's name: what a probe reads tells who answered.
SERVE = 'mkdir -p /www && echo "$0" > /www/index.html && exec httpd -f -p 8080 -h /www'
# A listener in a node's own namespace (outside the swarm) that answers with its name.
NODE_LISTENER = """
import http.server, sys
class Name(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(sys.argv[2].encode())
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Name).serve_forever()
"""
# A connection from a node's own namespace, as the node itself (and its engine) makes them.
NODE_CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close(); print("open")
except OSError as err:
    print(err)
"""


@dataclass(frozen=True)
class Task:
    service: str
    node: int
    container: str
    address: str  # on its overlay
    gateway_address: str  # on the node's docker_gwbridge


@dataclass
class Made:
    swarm: object
    prefix: str
    tasks: dict  # service -> [Task]
    proxy: Task
    node_addresses: dict  # node index -> its address in the swarm
    outside: tuple  # (address, port) of the host's listener

    def task(self, service: str, node: int | None = None) -> Task:
        found = [t for t in self.tasks[self.prefix + service] if node in (None, t.node)]
        return found[0]

    def name(self, service: str) -> str:
        return self.prefix + service


def docker(*args: str, timeout: float = 30) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    return done.stdout + done.stderr


def on_node(swarm, task: Task, script: str) -> str:
    """A shell command in a task's container, through its node's engine."""
    sock = swarm.run_dir / f"node-{task.node}" / "docker.sock"
    return docker("--host", f"unix://{sock}", "exec", task.container, "sh", "-c", script)


def fetch(swarm, task: Task, address: str, port: int = PORT) -> str:
    """What a task gets for GET / from address:port: `reached <body>` or why not."""
    request = r"printf 'GET / HTTP/1.0\r\n\r\n'"
    out = on_node(swarm, task, f"{request} | timeout 5 nc -w 2 {address} {port} 2>&1")
    if "HTTP/1" in out:
        return "reached " + out.replace("\r\n", "\n").split("\n\n", 1)[-1].strip()
    for said, outcome in (
        ("No route to host", "no route"),
        ("Connection refused", "refused"),
        ("timed out", "timed out"),
    ):
        if said in out:
            return outcome
    return f"other: {out.strip()[:200]}"


def resolve(swarm, task: Task, name: str) -> list[str]:
    """The addresses a task's DNS (Docker's, on its networks) gives for a name."""
    out = on_node(swarm, task, f"nslookup {name} 127.0.0.11 2>&1")
    answer = out.split("Name:", 1)[1] if "Name:" in out else ""
    return sorted(line.split()[1] for line in answer.splitlines() if line.startswith("Address"))


def probe_all(probes: dict) -> dict:
    """{label: callable} run at once; {label: outcome}, where both ways a connection is
    stopped read "blocked": SWS's REJECT ("no route") or, once the node's ICMP rate limit
    (1/s a destination after a burst) keeps its answer back, a timeout; Docker's DROP."""
    with ThreadPoolExecutor(len(probes)) as pool:
        futures = {label: pool.submit(probe) for label, probe in probes.items()}
        outcomes = {label: future.result() for label, future in futures.items()}
    print(f"\n{json.dumps(outcomes, indent=1)}")
    return {label: _verdict(outcome) for label, outcome in outcomes.items()}


def _verdict(outcome):
    if isinstance(outcome, list):
        return [_verdict(o) for o in outcome]
    return "blocked" if outcome in ("no route", "timed out") else outcome


def wait_for(what: str, found, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = found()
        if value or time.monotonic() > deadline:
            assert value, f"{what}: not after {timeout} s"
            return value
        time.sleep(0.3)


# --- the setup --------------------------------------------------------------------------------


def service_spec(swarm, name: str, network: str, node: int | None, replicas: int = 1) -> dict:
    placement: dict = {"MaxReplicas": 1} if node is None else {}
    if node is not None:
        placement["Constraints"] = [f"node.hostname == {swarm.node(node)}"]
    return {
        "Name": name,
        "Labels": {"sws-test.isolation": swarm.prefix},
        "TaskTemplate": {
            "ContainerSpec": {"Image": swarm.report_image, "Command": ["sh", "-c", SERVE, name]},
            "Placement": placement,
            "Networks": [{"Target": network}],
        },
        "Mode": {"Replicated": {"Replicas": replicas}},
        "EndpointSpec": {"Mode": "dnsrr"},
    }


def running_tasks(manager, hostnames: dict, name: str, replicas: int) -> list[Task] | None:
    filters = json.dumps({"service": [name], "desired-state": ["running"]})
    listed = manager.call("GET", "/tasks", params={"filters": filters})
    if len(listed) != replicas or any(t["Status"]["State"] != "running" for t in listed):
        return None
    return [
        Task(
            name,
            hostnames[t["NodeID"]],
            t["Status"]["ContainerStatus"]["ContainerID"],
            t["NetworksAttachments"][0]["Addresses"][0].split("/")[0],
            "",
        )
        for t in listed
    ]


def with_gateway_address(swarm, task: Task) -> Task:
    out = on_node(swarm, task, "ip -o -4 addr show eth1")
    address = out.split(" inet ", 1)[1].split("/")[0]
    return Task(task.service, task.node, task.container, task.address, address)


def swarm_back(swarm, manager) -> None:
    """test_nodes.py kills node 3 and takes node 2 out: after it, both come back (the killed
    node's namespace is new, its firewall with it: the join playbook puts it back)."""
    ready = {
        n["Description"]["Hostname"]
        for n in manager.call("GET", "/nodes")
        if n["Status"]["State"] == "ready" and n["Spec"]["Availability"] == "active"
    }
    if len(ready) == 3:
        return
    docker("start", swarm.node(3))
    run = swarm.playbook()
    assert run.returncode == 0, run.stdout[-3000:]
    wait_for(
        "every node ready",
        lambda: sum(n["Status"]["State"] == "ready" for n in manager.call("GET", "/nodes")) == 3,
    )


def start_proxy(manager, prefix: str, image: str) -> str:
    """The proxies' way in: a container on the manager, attached to each edge overlay."""
    config = {"Image": image, "Cmd": ["sleep", "100000"]}
    config["HostConfig"] = {"NetworkMode": prefix + "a-edge"}
    made = manager.call(
        "POST", "/containers/create", body=config, params={"name": prefix + "proxy"}
    )
    manager.call("POST", f"/networks/{prefix}b-edge/connect", body={"Container": made["Id"]})
    manager.call("POST", f"/containers/{made['Id']}/start")
    return made["Id"]


def start_node_listener(swarm, index: int, port: int) -> str:
    """NODE_LISTENER in node index's own namespace; its pid file, for the kill."""
    pid_file = f"/run/{swarm.prefix}-listener-{port}.pid"
    start = f'echo $$ > {pid_file}; exec python3 -c "$0" "$@"'
    name = f"node-{index}:{port}"
    docker("exec", "--detach", swarm.node(index), "sh", "-c", start, NODE_LISTENER, str(port), name)
    return pid_file


def node_connect(swarm, index: int, address: str, port: int) -> str:
    return docker("exec", swarm.node(index), "python3", "-c", NODE_CONNECT, address, str(port))


# name: (its overlay, its node or None for one task on each, replicas)
SERVICES = {
    "a": ("a-edge", 2, 1),
    "b": ("b-edge", None, 3),
    "s1-web": ("stack1", 2, 1),
    "s1-db": ("stack1", 3, 1),
    "s2-web": ("stack2", 3, 1),
}
NETWORKS = ("a-edge", "b-edge", "stack1", "stack2")


@pytest.fixture(scope="module")
def made(swarm, joined):
    # The session's join, twice (the firewall on every node; the second run changed nothing).
    first, second = joined
    assert all(first.values()) and not any(second.values()), (first, second)
    # 60 s: starting the proxy on four overlays took longer than 15 s once on a loaded run.
    manager = collection.engine().Engine(swarm.manager_socket, 60)
    swarm_back(swarm, manager)
    started = time.monotonic()
    prefix = f"{swarm.prefix}-"
    nodes = manager.call("GET", "/nodes")
    hostnames = {n["ID"]: int(n["Description"]["Hostname"].rsplit("-", 1)[1]) for n in nodes}
    addresses = {hostnames[n["ID"]]: n["Status"]["Addr"] for n in nodes}
    networks = [prefix + n for n in NETWORKS]
    listeners, outside_server = [], None
    try:
        for network in networks:
            body = {"Name": network, "Driver": "overlay", "Attachable": True}
            manager.call("POST", "/networks/create", body=body)
        for service, (network, node, replicas) in SERVICES.items():
            spec = service_spec(swarm, prefix + service, prefix + network, node, replicas)
            manager.call("POST", "/services/create", body=spec)
        proxy_id = start_proxy(manager, prefix, swarm.report_image)
        for index in (1, 2, 3):
            for port in (EDGE_PORT, CONTROL_PORT):
                listeners.append((index, start_node_listener(swarm, index, port)))
        outside_server, outside = host_listener(swarm)
        tasks = {}
        for service, (_, _, replicas) in SERVICES.items():
            name = prefix + service
            found = wait_for(
                name, lambda n=name, r=replicas: running_tasks(manager, hostnames, n, r)
            )
            tasks[name] = [with_gateway_address(swarm, t) for t in found]
        proxy = with_gateway_address(swarm, Task(prefix + "proxy", 1, proxy_id, "", ""))
        wait_for(
            "the node listeners",
            lambda: all(
                "open" in node_connect(swarm, 2, addresses[i], p)
                for i in (1, 2, 3)
                for p in (EDGE_PORT, CONTROL_PORT)
            ),
        )
        swarm.timings["isolation setup"] = round(time.monotonic() - started, 1)
        yield Made(swarm, prefix, tasks, proxy, addresses, outside)
    finally:
        started = time.monotonic()
        for service in SERVICES:
            try_call(manager, "DELETE", f"/services/{prefix}{service}")
        try_call(manager, "DELETE", f"/containers/{prefix}proxy", {"force": "true"})
        for index, pid_file in listeners:
            docker("exec", swarm.node(index), "sh", "-c", f"kill $(cat {pid_file})")
        if outside_server:
            outside_server.shutdown()
            outside_server.server_close()
        # An overlay goes once its tasks are gone on every node.
        wait_for(
            "the test's overlays removed",
            lambda: (
                all(try_call(manager, "DELETE", f"/networks/{n}") for n in networks)
                or not any(n["Name"] in networks for n in manager.call("GET", "/networks"))
            ),
            timeout=30,
        )
        swarm.timings["isolation teardown"] = round(time.monotonic() - started, 1)
        print(f"\nswarm timings (s): {swarm.timings}")


def try_call(manager, method: str, url: str, params=None) -> bool:
    try:
        manager.call(method, url, params=params)
    except collection.engine().EngineError:
        return False
    return True


def host_listener(swarm):
    """A listener on the host machine, on the fixture network's gateway: the world outside
    the swarm, which tasks reach through their node's outbound NAT."""
    gateway_of = "{{(index .IPAM.Config 0).Gateway}}"
    gateway = docker("network", "inspect", f"{swarm.prefix}-net", "--format", gateway_of).strip()

    class Name(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"outside")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((gateway, 0), Name)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, (gateway, server.server_address[1])


# --- the tests --------------------------------------------------------------------------------


def test_a_users_service_reaches_no_other_users_service_on_another_node_or_its_own(made):
    s = made.swarm
    a = made.task("a", 2)
    b1, b2, b3 = (made.task("b", i) for i in (1, 2, 3))
    outcomes = probe_all(
        {
            # What must work: A reaches itself by name; B's tasks reach each other across nodes.
            "A -> A by name": lambda: [fetch(s, a, ip) for ip in resolve(s, a, made.name("a"))],
            "B on 2 -> B on 3": lambda: fetch(s, b2, b3.address),
            "B on 3 -> B on 1": lambda: fetch(s, b3, b1.address),
            # What must not: A (node 2) to B on node 3, on node 2, by name and by address.
            "A resolves B": lambda: resolve(s, a, made.name("b")),
            "A resolves tasks.B": lambda: resolve(s, a, "tasks." + made.name("b")),
            "A -> B on 3": lambda: fetch(s, a, b3.address),
            "A -> B on 2": lambda: fetch(s, a, b2.address),
            "A -> B on 2 on docker_gwbridge": lambda: fetch(s, a, b2.gateway_address),
        }
    )
    assert outcomes == {
        "A -> A by name": [f"reached {made.name('a')}"],
        "B on 2 -> B on 3": f"reached {made.name('b')}",
        "B on 3 -> B on 1": f"reached {made.name('b')}",
        "A resolves B": [],
        "A resolves tasks.B": [],
        "A -> B on 3": "blocked",  # the swarm's address pool: the node's firewall
        "A -> B on 2": "blocked",
        "A -> B on 2 on docker_gwbridge": "blocked",  # Docker's icc=false on docker_gwbridge
    }


def test_a_task_reaches_no_nodes_own_ports_but_the_edge_and_the_outside(made):
    s, nodes = made.swarm, made.node_addresses
    on_manager, on_2 = made.task("b", 1), made.task("a", 2)
    route = on_node(s, on_manager, "ip route")
    gateway = route.split("default via ", 1)[1].split()[0]  # the node's address on docker_gwbridge
    outside_address, outside_port = made.outside
    outcomes = probe_all(
        {
            # The node itself reaches the others' ports: the listeners are up and reachable.
            "node 2 -> node 1 control": lambda: node_connect(s, 2, nodes[1], CONTROL_PORT).strip(),
            "node 2 -> node 1 swarm 2377": lambda: node_connect(s, 2, nodes[1], 2377).strip(),
            # A task on the manager: its edge and the outside pass, its own ports do not.
            "task on 1 -> outside": lambda: fetch(s, on_manager, outside_address, outside_port),
            "task on 1 -> node 1 edge": lambda: fetch(s, on_manager, nodes[1], EDGE_PORT),
            "task on 1 -> node 1 control": lambda: fetch(s, on_manager, nodes[1], CONTROL_PORT),
            "task on 1 -> gwbridge control": lambda: fetch(s, on_manager, gateway, CONTROL_PORT),
            "task on 1 -> node 1 swarm 2377": lambda: fetch(s, on_manager, nodes[1], 2377),
            "task on 1 -> metadata": lambda: fetch(s, on_manager, "169.254.169.254", 80),
            # A task on a worker: the manager's and its own node's ports, but for the edge's.
            "task on 2 -> outside": lambda: fetch(s, on_2, outside_address, outside_port),
            "task on 2 -> node 1 edge": lambda: fetch(s, on_2, nodes[1], EDGE_PORT),
            "task on 2 -> node 1 control": lambda: fetch(s, on_2, nodes[1], CONTROL_PORT),
            "task on 2 -> node 1 swarm 2377": lambda: fetch(s, on_2, nodes[1], 2377),
            "task on 2 -> node 2 control": lambda: fetch(s, on_2, nodes[2], CONTROL_PORT),
            "task on 2 -> gwbridge control": lambda: fetch(s, on_2, gateway, CONTROL_PORT),
            "task on 2 -> node 3 gossip 7946": lambda: fetch(s, on_2, nodes[3], 7946),
        }
    )
    assert outcomes == {
        "node 2 -> node 1 control": "open",
        "node 2 -> node 1 swarm 2377": "open",
        "task on 1 -> outside": "reached outside",
        "task on 1 -> node 1 edge": f"reached node-1:{EDGE_PORT}",
        "task on 1 -> node 1 control": "blocked",
        "task on 1 -> gwbridge control": "blocked",
        "task on 1 -> node 1 swarm 2377": "blocked",
        "task on 1 -> metadata": "blocked",
        "task on 2 -> outside": "reached outside",
        "task on 2 -> node 1 edge": f"reached node-1:{EDGE_PORT}",
        "task on 2 -> node 1 control": "blocked",
        "task on 2 -> node 1 swarm 2377": "blocked",
        "task on 2 -> node 2 control": "blocked",
        "task on 2 -> gwbridge control": "blocked",
        "task on 2 -> node 3 gossip 7946": "blocked",
    }


def test_a_stack_reaches_itself_across_nodes_and_no_other_stack(made):
    s = made.swarm
    web, db, other = made.task("s1-web"), made.task("s1-db"), made.task("s2-web")
    assert (web.node, db.node, other.node) == (2, 3, 3)
    outcomes = probe_all(
        {
            "web -> db by name": lambda: [fetch(s, web, ip) for ip in resolve(s, web, db.service)],
            "db -> web by name": lambda: [fetch(s, db, ip) for ip in resolve(s, db, web.service)],
            "other -> itself": lambda: [
                fetch(s, other, ip) for ip in resolve(s, other, other.service)
            ],
            "other resolves web": lambda: resolve(s, other, web.service),
            "other resolves db": lambda: resolve(s, other, db.service),
            "other -> web (node 2)": lambda: fetch(s, other, web.address),
            "other -> db (its node)": lambda: fetch(s, other, db.address),
        }
    )
    assert outcomes == {
        "web -> db by name": [f"reached {db.service}"],
        "db -> web by name": [f"reached {web.service}"],
        "other -> itself": [f"reached {other.service}"],
        "other resolves web": [],
        "other resolves db": [],
        "other -> web (node 2)": "blocked",
        "other -> db (its node)": "blocked",
    }


def test_the_proxy_reaches_every_edge_it_is_attached_to(made):
    s, proxy = made.swarm, made.proxy
    b_addresses = sorted(t.address for t in made.tasks[made.name("b")])
    outcomes = probe_all(
        {
            "proxy -> A by name": lambda: [
                fetch(s, proxy, ip) for ip in resolve(s, proxy, made.name("a"))
            ],
            "proxy resolves B": lambda: resolve(s, proxy, made.name("b")),
            "proxy -> each B": lambda: [fetch(s, proxy, ip) for ip in b_addresses],
            "A -> B on 3": lambda: fetch(s, made.task("a"), made.task("b", 3).address),
        }
    )
    assert outcomes == {
        "proxy -> A by name": [f"reached {made.name('a')}"],
        "proxy resolves B": b_addresses,
        "proxy -> each B": [f"reached {made.name('b')}"] * 3,
        "A -> B on 3": "blocked",  # the proxy is the only member the two edges share
    }


def test_every_node_carries_the_firewall_for_its_tasks(made):
    for index in (1, 2, 3):
        table = docker("exec", made.swarm.node(index), "iptables", "-S")
        assert "-A INPUT -i docker_gwbridge -j SWS-SWARM-INPUT" in table, index
        assert "-A DOCKER-USER -i docker_gwbridge -j SWS-SWARM-FORWARD" in table, index
        for address in made.node_addresses.values():
            assert f"-A SWS-SWARM-FORWARD -d {address}/32 -j REJECT" in table, (index, address)
