"""The parts bench/swarm_edge.py measures with: swarm services through the manager's Engine
API, the edge nginx on the manager node (its configuration and reloads), the loop that
renders task addresses as the agent would, and a load client that keeps every request's
outcome (a killed node's failures need a timeline, not wrk's totals).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from statistics import quantiles

REPO = Path(__file__).resolve().parents[1]
ENGINE_PY = REPO / "playbooks/collections/ansible_collections/sws/host/plugins/module_utils"
PROXY_PORTS = {
    "a": 8081,
    "b": 8082,
    "c": 8083,
    "local": 8084,
    "remote": 8085,
    "app_local": 8086,
    "app_remote": 8087,
    "probe": 8089,
}
UP_FILE = "/etc/nginx/swedge-up.conf"
# Upstream B, C, local and remote are rendered; A resolves the service's name itself. The
# retry settings are the same for all: a refused or timed-out connect goes to the next task,
# and a connect to a dead node's address gives up after 1 s instead of nginx's 60.
PROXY_CONF = """user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr error;
events { worker_connections 4096; }
http {
    access_log off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_connect_timeout 1s;
    proxy_read_timeout 5s;
    proxy_next_upstream error timeout http_502 http_503;
    proxy_next_upstream_tries 3;
    proxy_next_upstream_timeout 4s;
    resolver 127.0.0.11 valid=1s ipv6=off;
    resolver_timeout 1s;
    include %(up)s;
    server { listen %(a)d; location / { set $svc %(service)s; proxy_pass http://$svc:8080; } }
    server { listen %(b)d; location / { proxy_pass http://b; } }
    server { listen %(c)d; location / { proxy_pass http://c; } }
    server { listen %(local)d; location / { proxy_pass http://local; } }
    server { listen %(remote)d; location / { proxy_pass http://remote; } }
    server { listen %(app_local)d; location / { proxy_pass http://app_local; } }
    server { listen %(app_remote)d; location / { proxy_pass http://app_remote; } }
    server { listen %(probe)d; location / {
        proxy_next_upstream off; proxy_pass http://$arg_a:8080/healthz; } }
}
"""
# The chain-cost ports HAProxy fronts, each on its port + 1000.
HAPROXY_PORTS = [8084, 8085, 8086, 8087]
HAPROXY_CONF = """global
    nbthread 1
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    http-reuse safe
"""
# What a rendered upstream holds when no task runs: a refused port, so nginx answers 502.
NO_TASK = "server 127.0.0.1:9;"
STATIC_CONF = """daemon off; worker_processes 1; pid /tmp/nginx.pid; error_log /dev/stderr error;
events { worker_connections 4096; }
http { access_log off; server { listen 8080; location / { return 200 "ok\\n"; } } }
"""


def engine_module():
    import sys

    sys.path.insert(0, str(ENGINE_PY))
    import engine  # noqa: PLC0415 - the collection's client, found on the path set above

    return engine


def service_spec(name: str, image: str, network: str, replicas: int, node: str | None = None):
    """A dnsrr service (no VIP: this kernel has no ip_vs) on the overlay, updated one task at
    a time; node pins its tasks (the chain-cost pair)."""
    container = {"Image": image, "StopGracePeriod": 2_000_000_000}
    if image.startswith("sws-local/nginx"):
        container["Env"] = [f"CONF={STATIC_CONF}"]
        script = 'printf "%s" "$CONF" >/tmp/n.conf; exec nginx -c /tmp/n.conf'
        container["Command"] = ["sh", "-c", script]
    template = {
        "ContainerSpec": container,
        "Networks": [{"Target": network}],
        "RestartPolicy": {"Condition": "any", "Delay": 1_000_000_000},
        "Placement": {"Constraints": [f"node.hostname=={node}"] if node else []},
    }
    return {
        "Name": name,
        "Labels": {"swedge": "1"},
        "TaskTemplate": template,
        "Mode": {"Replicated": {"Replicas": replicas}},
        "UpdateConfig": {"Parallelism": 1, "Delay": 0, "Monitor": 1_000_000_000},
        "EndpointSpec": {"Mode": "dnsrr"},
    }


def stamp(text: str) -> float:
    """An engine timestamp (nanoseconds, Z) as epoch seconds."""
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float("0." + (frac or "0"))


class Swarm:
    """The manager's Engine API: services, tasks, and the overlay."""

    def __init__(self, socket: str, network: str):
        self.engine = engine_module().Engine(socket, timeout=30)
        self.socket = socket
        self.network = network

    def create_network(self) -> None:
        body = {"Name": self.network, "Driver": "overlay", "Attachable": True}
        self.engine.call("POST", "/networks/create", body=body)

    def create(self, spec: dict) -> None:
        self.engine.call("POST", "/services/create", body=spec)

    def remove(self, name: str) -> None:
        self.engine.call("DELETE", f"/services/{name}")

    def tasks(self, service: str) -> list[dict]:
        """Its tasks that run and are meant to: (address on the overlay, node ID, since)."""
        filters = json.dumps({"service": [service], "desired-state": ["running"]})
        found = []
        for task in self.engine.call("GET", "/tasks", params={"filters": filters}):
            if task["Status"]["State"] != "running":
                continue
            for attachment in task.get("NetworksAttachments", []):
                if attachment["Network"]["Spec"]["Name"] == self.network:
                    address = attachment["Addresses"][0].split("/")[0]
                    found.append((address, task["NodeID"], stamp(task["Status"]["Timestamp"])))
        return sorted(found)

    def wait_running(self, service: str, count: int, timeout: float = 60.0) -> list[tuple]:
        deadline = time.monotonic() + timeout
        while len(tasks := self.tasks(service)) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service}: {len(tasks)} of {count} tasks running")
            time.sleep(0.2)
        return tasks

    def node_names(self) -> dict[str, str]:
        return {n["ID"]: n["Description"]["Hostname"] for n in self.engine.call("GET", "/nodes")}

    def node_state(self, hostname: str) -> str:
        for node in self.engine.call("GET", "/nodes"):
            if node["Description"]["Hostname"] == hostname:
                return node["Status"]["State"]
        return "absent"

    def update(self, name: str, order: str, timeout: float = 90.0) -> float:
        """A rolling update of every task (ForceUpdate), one at a time in this order; the
        seconds until the manager calls it completed."""
        service = self.engine.call("GET", f"/services/{name}")
        spec = service["Spec"]
        spec["TaskTemplate"]["ForceUpdate"] = spec["TaskTemplate"].get("ForceUpdate", 0) + 1
        spec["UpdateConfig"]["Order"] = order
        started = time.monotonic()
        params = {"version": service["Version"]["Index"]}
        self.engine.call("POST", f"/services/{name}/update", body=spec, params=params)
        while time.monotonic() - started < timeout:
            state = self.engine.call("GET", f"/services/{name}").get("UpdateStatus", {})
            if state.get("State") == "completed":
                return time.monotonic() - started
            time.sleep(0.2)
        raise RuntimeError(f"{name}: update {order} not completed in {timeout:.0f} s")


class Proxy:
    """The edge nginx, a plain container on the manager node, attached to the overlay and
    published on the node's address (the host's load reaches it there)."""

    def __init__(self, swarm: Swarm, name: str, service_a: str):
        self.swarm = swarm
        self.name = name
        self.service_a = service_a
        self.reloads: list[float] = []

    def start(self, image: str, upstreams: str) -> None:
        conf = PROXY_CONF % {"up": UP_FILE, "service": self.service_a, **PROXY_PORTS}
        script = f'printf "%s" "$CONF" >/etc/nginx/swedge.conf; printf "%s" "$UP" >{UP_FILE}; '
        script += 'exec nginx -c /etc/nginx/swedge.conf -g "daemon off;"'
        env = {"CONF": conf, "UP": upstreams}
        run_on_node(self.swarm, self.name, image, script, env, list(PROXY_PORTS.values()))

    def push(self, upstreams: str) -> None:
        """Write the upstream file, check the whole configuration, reload (graceful)."""
        started = time.monotonic()
        script = f'printf "%s" "$1" >{UP_FILE} && nginx -q -t -c /etc/nginx/swedge.conf '
        script += "&& nginx -c /etc/nginx/swedge.conf -s reload"
        cmd = ["docker", "--host", f"unix://{self.swarm.socket}", "exec", self.name]
        subprocess.run([*cmd, "sh", "-c", script, "sh", upstreams], check=True, capture_output=True)
        self.reloads.append(time.monotonic() - started)


def run_on_node(swarm: Swarm, name: str, image: str, script: str, env: dict, ports: list[int]):
    """A plain container on the manager node, on the overlay, its ports published on the
    node's address."""
    bindings = {f"{port}/tcp": [{"HostPort": str(port)}] for port in ports}
    body = {
        "Image": image,
        "Entrypoint": ["sh", "-c", script],
        "Cmd": [],
        "Env": [f"{key}={value}" for key, value in env.items()],
        "ExposedPorts": {key: {} for key in bindings},
        "HostConfig": {"PortBindings": bindings, "NetworkMode": swarm.network},
    }
    swarm.engine.start(swarm.engine.create(name, body))


def start_haproxy(swarm: Swarm, name: str, image: str, proxy: str) -> None:
    """SWS's first hop (HTTP mode, one thread, pooled connections), in front of the chain-cost
    pair only: it reaches the proxy over the overlay by name (unix sockets on a host)."""
    fronts = "".join(
        f"frontend f{port}\n    bind :{port + 1000}\n    default_backend b{port}\n"
        f"backend b{port}\n    server p {proxy}:{port}\n"
        for port in HAPROXY_PORTS
    )
    conf = HAPROXY_CONF + fronts
    script = 'printf "%s" "$CONF" >/tmp/h.cfg; exec haproxy -W -db -f /tmp/h.cfg'
    run_on_node(swarm, name, image, script, {"CONF": conf}, [p + 1000 for p in HAPROXY_PORTS])


def upstream_block(name: str, addresses: list[str]) -> str:
    # max_fails=1: one failed connect (a dead node's address) rests the server for 10 s.
    servers = [f"server {a}:8080 max_fails=1 fail_timeout=10s;" for a in addresses] or [NO_TASK]
    return f"upstream {name} {{ {' '.join(servers)} keepalive 32; }}\n"


class Renderer(threading.Thread):
    """Variant B's (and C's) source of truth: polls the manager's tasks every `interval`
    seconds, as an agent pass would, and reloads the proxy when an address set changed.
    `seen` keeps, for every new task address, the seconds from its task's running state to
    the reload that put it in the upstream."""

    def __init__(self, swarm: Swarm, proxy: Proxy, mapping: dict[str, str], interval: float):
        super().__init__(daemon=True)
        self.swarm, self.proxy, self.interval = swarm, proxy, interval
        self.mapping = dict(mapping)
        self.lock = threading.RLock()
        self.stop = threading.Event()
        self.current: dict[str, set[str]] = {}
        self.seen: list[float] = []

    def render(self, record: bool = True) -> bool:
        """record: count the new tasks' delay in `seen` (not after a switch, which waited for
        the tasks to answer on purpose)."""
        with self.lock:
            found = {up: self.swarm.tasks(svc) for up, svc in self.mapping.items()}
            addresses = {up: {t[0] for t in tasks} for up, tasks in found.items()}
            if addresses == self.current:
                return False
            text = "".join(upstream_block(up, sorted(addresses[up])) for up in sorted(found))
            self.proxy.push(text)
            now = time.time()
            for up, tasks in found.items():
                new = [t for t in tasks if t[0] not in self.current.get(up, set())]
                self.seen += [now - since for _, _, since in new] if record and self.current else []
            self.current = addresses
            return True

    def switch(self, upstream: str, service: str) -> None:
        with self.lock:
            self.mapping[upstream] = service
            self.render(record=False)

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.render()
            except Exception as err:  # noqa: BLE001 - a missed poll is retried, as a pass is
                print(f"render: {err}", flush=True)


class Load:
    """Clients that each send GETs one after another, a new connection each (the client's
    side of a proxy reload is HAProxy's business in SWS, not what this bench measures);
    every outcome kept as (start, seconds, ok)."""

    def __init__(self, host: str, port: int, clients: int):
        self.host, self.port = host, port
        self.stop = threading.Event()
        self.results: list[tuple[float, float, bool]] = []
        self.errors: dict[str, int] = {}
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]

    def client(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
            try:
                conn.request("GET", "/")
                response = conn.getresponse()
                response.read()
                ok, why = response.status == 200, f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as err:
                ok, why = False, type(err).__name__
            finally:
                conn.close()
            self.results.append((started, time.monotonic() - started, ok))
            if not ok:
                self.errors[why] = self.errors.get(why, 0) + 1

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def summary(self, since: float | None = None) -> dict:
        """sent, failed, p50/p99/max in ms, how many took 1 s or more (a connect to a dead
        address, then the retry), and the last failure's start relative to `since`."""
        times = sorted(r[1] for r in self.results) or [0.0]
        cuts = quantiles(times, n=100) if len(times) > 1 else times * 99
        failed = [r[0] for r in self.results if not r[2]]
        last = round(max(failed) - since, 1) if failed and since is not None else None
        return {
            "sent": len(self.results),
            "failed": len(failed),
            "p50": round(cuts[49] * 1000, 1),
            "p99": round(cuts[98] * 1000, 1),
            "max": round(times[-1] * 1000),
            "slow": sum(1 for t in times if t >= 1.0),
            "last_failure_s": last,
            "errors": dict(self.errors),
        }
