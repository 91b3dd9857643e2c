"""The whole chain on a 3-node swarm against one host (issue 28's targets), side by side in one
run, through HAProxy and two nginx proxies rolled by the agent's own pass:

- apply -> first 200 of a 3-replica service: the spec written to the store, one pass (a
  watching agent starts it 0.3 s after the apply), then GETs through HAProxy every 50 ms until
  one answers 200; on the SWS host's engine (containers) and on the fixture with the swarm
  executor on, rounds alternating, each round a new service deleted afterwards. Target: the
  swarm's median <= 2x the host's.
- an update of that 3-replica service under load on the swarm: failed requests. Target: 0.
- a worker node killed under load (`docker kill` of its container, left down) while passes
  run one after another, as a watching agent's do when the manager's tasks change: failed
  requests, requests that took >= 1 s, seconds until three tasks run again and until the
  route lists none of the dead node's. Target: serving from the other nodes within 30 s.

The edge is tests/fixtures/edgechain.py's throwaway containers on each engine, the store a
throwaway PostgreSQL (one database an engine); no bootstrapped host is touched. The fixture
comes up under its own prefix (a minute and a half, the join included) and always goes.

    .venv/bin/python bench/swarm_chain.py [--rounds 5] [--prefix swchain]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median

import requests
from swarm_edge import fixture, load

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from swsagent import collection  # noqa: E402
from swsagent.config import config_from_mapping  # noqa: E402
from swsagent.lock import pass_lock  # noqa: E402
from swsagent.reconcile import reconcile_once  # noqa: E402
from tests.fixtures import edgechain  # noqa: E402
from tests.fixtures.apiserver import migrated_app  # noqa: E402
from tests.fixtures.postgres import remove_postgres, start_postgres  # noqa: E402
from tests.fixtures.store import Store  # noqa: E402
from tests.integration.test_replicas_chain import Load as ChainLoad  # noqa: E402

HELLO = "sws-local/hello:2"
HOST_SOCKET = "/var/run/docker.sock"


def domain(name: str) -> str:
    """Each service its own domain: a deleted one keeps its claim until it is forgotten."""
    return f"{name}.swchain.test"


PORT = 8088


class Side:
    """One engine with its edge, its store and its agent's settings."""

    def __init__(self, name, socket, store, chain, labels, network, state_dir, swarm=None):
        self.name, self.socket, self.store, self.chain = name, socket, store, chain
        self.labels = labels
        settings = chain.agent_settings(store.database_url, state_dir, labels, network)
        if swarm:
            settings["swarm"] = {**swarm, "executor": True}
        self.config = config_from_mapping(settings)

    def one_pass(self):
        with edgechain.on_engine(self.socket), pass_lock(self.config.database_url):
            report = reconcile_once(self.config, self.store.conn)
        if report.outcome not in ("changed", "noop"):
            raise SystemExit(f"{self.name}: pass {report.outcome}: {report.summary()}")
        return report

    def apply(self, name: str, greeting: str) -> None:
        spec = {
            "name": name, "port": 8080, "domain": domain(name), "image": HELLO, "replicas": 3,
            "env": [{"name": "GREETING", "value": greeting}],
        }  # fmt: skip
        self.store.apply("alice", spec)


def first_200(url: str, name: str, seconds: float = 90.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, headers={"Host": domain(name)}, timeout=5).status_code == 200:
                return time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"no 200 from {url} within {seconds} s")


def apply_to_first_200(side: Side, name: str) -> float:
    started = time.monotonic()
    side.apply(name, "first")
    side.one_pass()
    answered = first_200(side.chain.url, name) - started
    side.store.delete("alice", name)
    side.one_pass()
    return answered


class Load(ChainLoad):
    """Clients sending GETs through HAProxy one after another, a new connection each (the
    chain test's load, whose threads it starts and stops): every request's start, duration
    and outcome."""

    def __init__(self, url: str, name: str, clients: int = 3):
        super().__init__(url, domain(name), clients)
        self.results = []

    def _send(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                answer = requests.get(self.url, headers={"Host": self.host}, timeout=10)
                outcome = "ok" if answer.status_code == 200 else f"{answer.status_code}"
            except requests.RequestException as err:
                outcome = type(err).__name__
            self.results.append((started, time.monotonic() - started, outcome))

    def summary(self, since: float = 0.0) -> dict:
        rows = [r for r in self.results if r[0] >= since]
        failed = [r for r in rows if r[2] != "ok"]
        return {
            "sent": len(rows),
            "failed": len(failed),
            "outcomes": sorted({r[2] for r in failed}),
            "slow": sum(1 for r in rows if r[1] >= 1.0),
            "max s": round(max((r[1] for r in rows), default=0), 2),
        }


def running_tasks(manager, labels: str, generation: int) -> dict[str, tuple[str, str]]:
    """task id -> (node id, overlay address) of a generation's running tasks meant to run (a
    dead node's task stays `running` in the manager's list, its desired state shutdown once
    the manager replaced it)."""
    found = {}
    for task in manager.call("GET", "/tasks"):
        spec_labels = task["Spec"].get("ContainerSpec", {}).get("Labels") or {}
        if spec_labels.get(f"{labels}.generation") != str(generation):
            continue
        if task["Status"]["State"] == "running" and task["DesiredState"] == "running":
            addresses = [
                a.split("/")[0]
                for n in task.get("NetworksAttachments") or []
                for a in n.get("Addresses") or []
            ]
            found[task["ID"]] = (task["NodeID"], ",".join(addresses))
    return found


def killed_node(side: Side, manager, victim: str, victim_id: str) -> dict:
    """A 3-replica service under load, passes one after another, the victim node killed."""
    side.apply("kn", "before")
    side.one_pass()
    first_200(side.chain.url, "kn")
    generation = 1  # the service's first
    route = side.chain.sockets.parent / side.chain.proxies[0] / "live" / "routes.conf"
    dead = [
        a for n, a in running_tasks(manager, side.labels, generation).values() if n == victim_id
    ]
    passes, stop = [], threading.Event()

    def passes_loop() -> None:
        while not stop.is_set():
            passes.append(side.one_pass().outcome)
            time.sleep(0.5)

    with Load(side.chain.url, "kn") as traffic:
        time.sleep(3)
        killed = time.monotonic()
        edgechain.docker(HOST_SOCKET, "kill", victim)
        looper = threading.Thread(target=passes_loop)
        looper.start()
        three = rerouted = None
        while time.monotonic() - killed < 60 and not (three and rerouted):
            tasks = running_tasks(manager, side.labels, generation)
            if three is None and len(tasks) == 3 and all(n != victim_id for n, _ in tasks.values()):
                three = round(time.monotonic() - killed, 1)
            text = route.read_text()
            if rerouted is None and dead and not any(a and a in text for a in dead):
                rerouted = round(time.monotonic() - killed, 1)
            time.sleep(0.2)
        time.sleep(3)
        stop.set()
        looper.join()
    return {
        **traffic.summary(),
        "three tasks again s": three,
        "route without the dead task s": rerouted,
        "passes": len(passes),
    }


def update_under_load(side: Side) -> dict:
    side.apply("up", "one")
    side.one_pass()
    first_200(side.chain.url, "up")
    with Load(side.chain.url, "up") as traffic:
        time.sleep(2)
        started = time.monotonic()
        side.apply("up", "two")
        side.one_pass()
        took = round(time.monotonic() - started, 1)
        time.sleep(2)
    side.store.delete("alice", "up")
    side.one_pass()
    return {**traffic.summary(), "update pass s": took}


def node_address(container: str) -> str:
    template = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    return edgechain.docker(HOST_SOCKET, "inspect", "-f", template, container)


def host_side(prefix: str, store: Store, work: Path) -> Side:
    """Containers on this host's engine, on a bridge of the bench's own."""
    network = f"{prefix}-services"
    edgechain.docker(HOST_SOCKET, "network", "create", network)
    chain = edgechain.start(work / "host", f"{prefix}-h", network, HOST_SOCKET)
    return Side("host", HOST_SOCKET, store, chain, "swbh", network, work / "host-state")


def swarm_side(prefix: str, store: Store, work: Path, up: dict) -> Side:
    """Swarm services; the edge on the manager, its proxies on a bridge of their own."""
    manager, proxies = up["manager_socket"], f"{prefix}-px"
    icc_off = "com.docker.network.bridge.enable_icc=false"
    edgechain.docker(manager, "network", "create", "--internal", "-o", icc_off, proxies)
    root = Path(up["manager_dir"]) / "chain"
    chain = edgechain.start(root, f"{prefix}-s", proxies, manager, node_port=PORT)
    chain.address = f"{node_address(f'{prefix}-node-1')}:{PORT}"
    swarm = {"manager_socket": manager, "report_image": up["report_image"]}
    return Side(
        "swarm", manager, store, chain, "swbs", "unused-on-swarm", work / "swarm-state", swarm
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prefix", default="swchain")
    args = parser.parse_args()
    run_dir = Path(f"/tmp/{args.prefix}")
    images = ",".join((HELLO, edgechain.PROXY_IMAGE, edgechain.HAPROXY_IMAGE))
    up = fixture("up", "--join", "--prefix", args.prefix, "--run-dir", str(run_dir),
                 "--images", images)  # fmt: skip
    print(f"fixture up: {up['seconds']} s; load {load()}", flush=True)
    server = start_postgres()
    work = Path(tempfile.mkdtemp(prefix="swchain-"))
    sides, stores = [], []
    try:
        for name in ("host", "swarm"):
            url = server.create_database(f"bench_{name}")
            stores.append(Store(migrated_app(url), url, owns_app=True))
            stores[-1].create_user("alice")
        sides.append(host_side(args.prefix, stores[0], work))
        sides.append(swarm_side(args.prefix, stores[1], work, up))
        report(sides, args, up)
    finally:
        for side in sides:
            side.chain.remove()
        for store in stores:
            store.close()
        left = edgechain.docker(HOST_SOCKET, "ps", "-aq", "--filter", "label=swbh.service")
        for cid in left.split():
            edgechain.docker(HOST_SOCKET, "rm", "-f", cid, check=False)
        edgechain.docker(HOST_SOCKET, "network", "rm", f"{args.prefix}-services", check=False)
        remove_postgres(server)
        shutil.rmtree(work, ignore_errors=True)
        fixture("down", "--prefix", args.prefix, "--run-dir", str(run_dir))


def report(sides: list[Side], args, up: dict) -> None:
    host, swarm = sides
    manager = collection.engine().Engine(up["manager_socket"], 30)
    times = {"host": [], "swarm": []}
    for n in range(args.rounds):
        for side in (host, swarm) if n % 2 == 0 else (swarm, host):
            times[side.name].append(apply_to_first_200(side, f"{side.name}{n}"))
            print(f"round {n + 1} {side.name}: {times[side.name][-1]:.2f} s; load {load()}",
                  flush=True)  # fmt: skip
    update = update_under_load(swarm)
    print(f"update of 3 replicas under load (swarm): {update}", flush=True)
    nodes = {n["Description"]["Hostname"]: n["ID"] for n in manager.call("GET", "/nodes")}
    victim = f"{args.prefix}-node-3"
    killed = killed_node(swarm, manager, victim, nodes[victim])
    print(f"\napply -> first 200 of 3 replicas, {args.rounds} rounds each, medians:")
    h, s = median(times["host"]), median(times["swarm"])
    print(f"  host  {h:.2f} s  (rounds {', '.join(f'{t:.2f}' for t in times['host'])})")
    print(f"  swarm {s:.2f} s  (rounds {', '.join(f'{t:.2f}' for t in times['swarm'])})")
    print(f"  swarm / host: {s / h:.2f} [target <= 2]")
    print(f"update of 3 replicas under load on the swarm: {update['failed']} failed of "
          f"{update['sent']} [target 0]; max {update['max s']} s")  # fmt: skip
    print(f"worker node killed under load: {killed['failed']} failed of {killed['sent']}"
          f" {killed['outcomes']}, {killed['slow']} took >= 1 s (max {killed['max s']} s);"
          f" three tasks again after {killed['three tasks again s']} s, the route without the"
          f" dead node's task after {killed['route without the dead task s']} s"
          f" [target: serving within 30 s]; {killed['passes']} passes")  # fmt: skip


if __name__ == "__main__":
    main()
