"""How the edge should reach swarm tasks (issue 28), measured on bin/swarm-fixture's 3 nodes.

An nginx on the manager node, attached to an attachable overlay and published on the node's
address, fronts dnsrr services of the example app (3 replicas, one a node) three ways, all
with the same retries (`proxy_next_upstream error timeout http_502 http_503`, 3 tries, 1 s
connect timeout):
- A, re-resolving: `resolver 127.0.0.11 valid=1s` and the service's name in a variable;
- B, rendered: an upstream of the tasks' overlay addresses from the manager's /tasks, which
  a loop of this bench polls every --interval seconds and reloads on change (the agent's pass);
- C, SWS's generations: B's rendering, but an update is a new service beside the old one
  (blue/green), switched to by a reload once its tasks answer, the old one removed after.
Measured: rolling updates under load (A and B side by side, start-first and stop-first; C's
switch), a killed worker node (A, B and C under load at once: failed requests and when the
last one started), and the chain's cost to a task on the proxy's node against one on another
node (wrk, alternating rounds). The load client counts every request; wrk only the last part.
It brings the fixture up under its own prefix and always takes it down: 3.5-4 minutes here,
a minute of it the fixture (images loaded into the nodes). Figures and the decision they led
to: ARCHITECTURE.md, "How the edge reaches swarm tasks (measured)".

    /work/main/.venv/bin/python bench/swarm_edge.py [--prefix swedge] [--interval 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from measure import P99_SCALE
from swarm_edge_kit import (
    HAPROXY_PORTS,
    NO_TASK,
    PROXY_PORTS,
    REPO,
    Load,
    Proxy,
    Renderer,
    Swarm,
    service_spec,
    start_haproxy,
)

HELLO = "sws-local/hello:2"
NGINX = "sws-local/nginx:1.22-2"  # the proxies' image (sws.yml), which the bootstrap builds
HAPROXY = "sws-local/haproxy:2.6-1"
FIXTURE = REPO / "bin/swarm-fixture"


def fixture(*args: str) -> dict:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, str(FIXTURE), *args], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        raise SystemExit(f"swarm-fixture {args[0]} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout[done.stdout.index("{") :])


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def row(variant: str, phase: str, summary: dict, note: str = "") -> dict:
    return {"variant": variant, "phase": phase, **summary, "load": load(), "note": note}


def under_load(host: str, ports: dict[str, int], clients: int, action, before=2.0, after=2.0):
    """Run action() while every variant in ports is under load; the loads and its result."""
    loads = {v: Load(host, port, clients) for v, port in ports.items()}
    for each in loads.values():
        each.__enter__()
    try:
        time.sleep(before)
        result = action()
        time.sleep(after)
    finally:
        for each in loads.values():
            each.__exit__()
    return loads, result


def rolling_updates(swarm: Swarm, host: str, service: str, clients: int) -> list[dict]:
    rows = []
    for order in ("start-first", "stop-first"):
        ports = {"A": PROXY_PORTS["a"], "B": PROXY_PORTS["b"]}
        loads, took = under_load(host, ports, clients, lambda o=order: swarm.update(service, o))
        for variant, each in loads.items():
            rows.append(row(variant, f"update {order}", each.summary(), f"update {took:.1f} s"))
    return rows


def blue_green(swarm, renderer: Renderer, host, prefix: str, clients: int) -> tuple[dict, str]:
    """C's update: gen 2 beside gen 1, its tasks probed through the proxy, the switch (one
    reload), gen 1 removed a second later, when the old workers' requests are done."""
    old, new = f"{prefix}-c-g1", f"{prefix}-c-g2"

    def switch() -> float:
        started = time.monotonic()
        swarm.create(service_spec(new, HELLO, swarm.network, 3))
        for address, _, _ in swarm.wait_running(new, 3):
            wait_answers(host, PROXY_PORTS["probe"], f"/?a={address}")
        renderer.switch("c", new)
        time.sleep(1)
        swarm.remove(old)
        return time.monotonic() - started

    loads, took = under_load(host, {"C": PROXY_PORTS["c"]}, clients, switch)
    return row("C", "blue/green switch", loads["C"].summary(), f"switch {took:.1f} s"), new


def wait_answers(host: str, port: int, path: str = "/", timeout: float = 30.0) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{host}:{port}{path} did not answer 200 in {timeout:.0f} s")


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float, int]:
    """requests/s, p99 ms and the non-2xx answers and socket errors (counted, not fatal: the
    example app's listen backlog of 5 drops connects on this loaded machine)."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = int(bad.group(1)) if bad else 0
    failed += sum(int(n) for n in errors.groups()) if errors else 0
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rate, float(p99.group(1)) * P99_SCALE[p99.group(2)], failed


def chain_cost(host: str, rounds: int, seconds: int) -> list[dict]:
    """Per pair, local (task on the proxy's node) and remote (another node) alternating; the
    cost of a request is its time, so remote/local = median of local req/s over remote's."""
    pairs = {
        "static, nginx only": (PROXY_PORTS["local"], PROXY_PORTS["remote"]),
        "static, HAProxy + nginx": (PROXY_PORTS["local"] + 1000, PROXY_PORTS["remote"] + 1000),
        "example app, HAProxy + nginx": (
            PROXY_PORTS["app_local"] + 1000,
            PROXY_PORTS["app_remote"] + 1000,
        ),
    }
    got = {pair: ([], []) for pair in pairs}
    for number in range(rounds):
        for pair, ports in pairs.items():
            sides = (0, 1) if number % 2 == 0 else (1, 0)
            for side in sides:
                url = f"http://{host}:{ports[side]}/"
                got[pair][side].append(wrk(url, seconds, 8 if "app" in pair else 16))
    results = []
    for pair, (local, remote) in got.items():
        ratios = [loc[0] / rem[0] for loc, rem in zip(local, remote, strict=True)]
        results.append(
            {
                "pair": pair,
                "local_rps": round(median(r[0] for r in local)),
                "remote_rps": round(median(r[0] for r in remote)),
                "local_p99": round(median(r[1] for r in local), 1),
                "remote_p99": round(median(r[1] for r in remote), 1),
                "ratio": round(median(ratios), 2),
                "spread": f"{min(ratios):.2f}-{max(ratios):.2f}",
                "failed": sum(r[2] for r in local + remote),
                "load": load(),
            }
        )
    return results


def killed_node(swarm, host: str, victim: str, services: dict, clients: int, seconds: float):
    """docker kill of a worker node's container while A, B and C are under load; when the
    manager has every service's replicas running elsewhere, and each variant's failures."""
    marks: dict[str, float] = {}

    def kill() -> None:
        marks["killed"] = time.monotonic()
        subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
        names = swarm.node_names()
        pending = dict(services)
        while pending and time.monotonic() - marks["killed"] < seconds:
            if "down" not in marks and swarm.node_state(victim) == "down":
                marks["down"] = time.monotonic() - marks["killed"]
            for service, count in list(pending.items()):
                tasks = swarm.tasks(service)
                if len(tasks) >= count and all(names[t[1]] != victim for t in tasks):
                    marks[service] = time.monotonic() - marks["killed"]
                    del pending[service]
            time.sleep(0.5)
        time.sleep(max(0.0, seconds - (time.monotonic() - marks["killed"])))

    ports = {v: PROXY_PORTS[v.lower()] for v in ("A", "B", "C")}
    loads, _ = under_load(host, ports, clients, kill, before=3.0, after=0.0)
    moved = ", ".join(f"{s} {marks[s]:.1f} s" for s in services if s in marks) or "none"
    moved += f"; node down after {marks['down']:.1f} s" if "down" in marks else ""
    rows = []
    for variant, each in loads.items():
        summary = each.summary(since=marks["killed"])
        note = f"serves again after {summary.pop('last_failure_s') or 0} s; tasks moved: {moved}"
        rows.append(row(variant, f"killed {victim}", summary, note))
    return rows


def setup(swarm: Swarm, prefix: str, interval: float) -> tuple[Proxy, Renderer, str]:
    """The overlay, the services (3-replica web for A and B, C's first generation, the
    pinned pair) and the proxy; host: the manager node's address on the fixture's network."""
    swarm.create_network()
    web = f"{prefix}-web"
    specs = [
        service_spec(web, HELLO, swarm.network, 3),
        service_spec(f"{prefix}-c-g1", HELLO, swarm.network, 3),
        service_spec(f"{prefix}-local", NGINX, swarm.network, 1, node=f"{prefix}-node-1"),
        service_spec(f"{prefix}-remote", NGINX, swarm.network, 1, node=f"{prefix}-node-2"),
        service_spec(f"{prefix}-app-local", HELLO, swarm.network, 1, node=f"{prefix}-node-1"),
        service_spec(f"{prefix}-app-remote", HELLO, swarm.network, 1, node=f"{prefix}-node-2"),
    ]
    for spec in specs:
        swarm.create(spec)
    for spec in specs:
        swarm.wait_running(spec["Name"], spec["Mode"]["Replicated"]["Replicas"])
    proxy = Proxy(swarm, f"{prefix}-proxy", web)
    ups = ("b", "c", "local", "remote", "app_local", "app_remote")
    proxy.start(NGINX, "".join(f"upstream {u} {{ {NO_TASK} }}\n" for u in ups))
    mapping = dict(zip(ups, [s["Name"] for s in specs], strict=True))
    renderer = Renderer(swarm, proxy, mapping, interval)
    node = f"{prefix}-node-1"
    address = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    host = subprocess.run(
        ["docker", "inspect", "-f", address, node], capture_output=True, text=True, check=True
    ).stdout.strip()
    wait_answers(host, PROXY_PORTS["a"])
    renderer.render()
    for port in ups:
        wait_answers(host, PROXY_PORTS[port])
    start_haproxy(swarm, f"{prefix}-haproxy", HAPROXY, proxy.name)
    for port in HAPROXY_PORTS:
        wait_answers(host, port + 1000)
    renderer.start()
    names = swarm.node_names()
    spread = sorted(names[t[1]] for t in swarm.tasks(web))
    print(f"{web} tasks on: {', '.join(spread)}; proxy on {node} ({host})", flush=True)
    return proxy, renderer, host


def run(args) -> None:
    up = fixture(
        "up", "--join", "--prefix", args.prefix, "--run-dir", f"/tmp/{args.prefix}",
        "--images", f"{HELLO},{NGINX},{HAPROXY}",
    )  # fmt: skip
    print(f"fixture up: {up['seconds']} s {up['timings']}; load {load()}", flush=True)
    swarm = Swarm(up["manager_socket"], f"{args.prefix}-ov")
    proxy, renderer, host = setup(swarm, args.prefix, args.interval)
    try:
        cost = chain_cost(host, args.rounds, args.seconds)
        print_costs(cost, args)
        rows = rolling_updates(swarm, host, f"{args.prefix}-web", args.clients)
        c_row, c_service = blue_green(swarm, renderer, host, args.prefix, args.clients)
        rows.append(c_row)
        services = {f"{args.prefix}-web": 3, c_service: 3}
        victim = f"{args.prefix}-node-3"
        rows += killed_node(swarm, host, victim, services, args.clients, args.kill_seconds)
    finally:
        # Before the fixture goes: a poll of a removed engine would only print errors.
        renderer.stop.set()
        renderer.join()
    print_rows(rows)
    seen = sorted(renderer.seen)
    print(
        f"\nB/C: a new task in the upstream {median(seen):.1f} s (max {seen[-1]:.1f}) after it "
        f"ran, polling every {args.interval} s; {len(proxy.reloads)} reloads, each "
        f"{median(proxy.reloads):.2f} s (docker exec + nginx -t + reload)"
        if seen
        else "\nB/C: no new task was seen"
    )
    print_costs(cost, args)
    print_verdict(rows, cost)


def print_verdict(rows: list[dict], cost: list[dict]) -> None:
    """The figures the decision rests on, and the decision (its reasons: ARCHITECTURE.md)."""
    updates = [r for r in rows if not r["phase"].startswith("killed")]
    clean = sorted({r["variant"] for r in updates} - {r["variant"] for r in updates if r["failed"]})
    killed = ", ".join(f"{r['variant']} {r['failed']} failed, {r['slow']} >= 1 s" for r in rows
                       if r["phase"].startswith("killed"))  # fmt: skip
    within = ", ".join(f"{c['pair']} {c['ratio']}" for c in cost)
    print(f"\n0 failed in every update: {', '.join(clean) or 'none'}; a killed node: {killed}")
    print(f"chain cost remote/local (target <= 1.3): {within}")
    print(
        "recommendation: C - each generation a dnsrr swarm service, switched to by rendering its"
        " tasks' addresses into the upstream once they answer (one reload), re-rendered when"
        " the manager's tasks change; keep-alive to tasks, a lost node's address rested after"
        " one failure, the executor's model unchanged. Why: ARCHITECTURE.md, 'How the edge"
        " reaches swarm tasks (measured)'."
    )


def print_costs(cost: list[dict], args) -> None:
    print(f"\nchain cost, local vs remote task (wrk -t1, {args.rounds} x {args.seconds} s)")
    head = "| pair | local req/s | remote req/s | p99 local | p99 remote | cost (rounds) | failed"
    print(head + " | load |\n" + "|---" * 8 + "|")
    for c in cost:
        print(
            f"| {c['pair']} | {c['local_rps']} | {c['remote_rps']} | {c['local_p99']} | "
            f"{c['remote_p99']} | {c['ratio']} ({c['spread']}) | {c['failed']} | {c['load']} |"
        )


def print_rows(rows: list[dict]) -> None:
    print("\n| variant | phase | sent | failed | p50 ms | p99 ms | max ms | >= 1 s | load | note |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        errors = f" {r['errors']}" if r["errors"] else ""
        print(
            f"| {r['variant']} | {r['phase']} | {r['sent']} | {r['failed']} | {r['p50']} | "
            f"{r['p99']} | {r['max']} | {r['slow']} | {r['load']} | {r['note']}{errors} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prefix", default="swedge")
    parser.add_argument("--interval", type=float, default=1.0, help="B/C's poll of /tasks (s)")
    parser.add_argument("--clients", type=int, default=3, help="load clients per variant")
    parser.add_argument("--rounds", type=int, default=4, help="chain-cost rounds")
    parser.add_argument("--seconds", type=int, default=3, help="seconds of each wrk run")
    parser.add_argument("--kill-seconds", type=float, default=35.0)
    args = parser.parse_args()
    started = time.monotonic()
    fixture("down", "--prefix", args.prefix, "--run-dir", f"/tmp/{args.prefix}")
    try:
        run(args)
    finally:
        fixture("down", "--prefix", args.prefix, "--run-dir", f"/tmp/{args.prefix}")
        print(f"\nwhole run {time.monotonic() - started:.0f} s (fixture down included)")


if __name__ == "__main__":
    main()
