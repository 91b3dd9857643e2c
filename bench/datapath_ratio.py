"""The data path against the service itself: requests/s and p99 latency through the load
balancer and a proxy (HAProxy -> nginx -> service) and to the same container directly, with
wrk, side by side in one run: rounds alternate direct and chain, and the ratio is the median of
the rounds' ratios (this machine's speed drifts by a third between minutes). Two services: a
trivial nginx (the chain's own cost shows) and the example Python app (the service is the
bottleneck). Where the time goes: the CPU each part spent per request (microseconds, from the
containers' cgroups and wrk's own rusage), medians of the rounds.

The chain is reached on 127.0.0.1:80, where HAProxy listens (the host's own address takes the
same loopback path in the kernel): the host itself is exempt from the per-address limits, so
wrk's 32 connections and ~40,000 requests/s are not refused or answered 429.

    .venv/bin/python bench/datapath_ratio.py [--rounds 5] [--seconds 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import tempfile
import time
from pathlib import Path
from statistics import median

import yaml
from agent_host import REPO, bench_host, remove_services

PREFIX = "dp-"
STATIC_IMAGE = "sws-bench/static:1"
STATIC_CONF = """worker_processes 2;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 8080;
        location / { default_type text/plain; return 200 "ok\\n"; }
    }
}
"""


def build_static_image(base: str) -> None:
    """A trivial nginx on port 8080, built from the bootstrap's nginx image (no registry)."""
    if (
        subprocess.run(["docker", "image", "inspect", STATIC_IMAGE], capture_output=True).returncode
        == 0
    ):
        return
    with tempfile.TemporaryDirectory() as ctx:
        Path(ctx, "bench.conf").write_text(STATIC_CONF)
        Path(ctx, "Dockerfile").write_text(
            f"FROM {base}\nCOPY bench.conf /etc/nginx/bench.conf\n"
            'CMD ["nginx", "-c", "/etc/nginx/bench.conf", "-g", "daemon off;"]\n'
        )
        subprocess.run(
            ["docker", "build", "-q", "-t", STATIC_IMAGE, ctx], check=True, capture_output=True
        )


def wrk(url: str, seconds: int, connections: int, host: str | None = None) -> tuple[float, float]:
    """requests/s and p99 latency in ms."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if host:
        cmd[1:1] = ["-H", f"Host: {host}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out) or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return rate, float(p99.group(1)) * scale


def profiled(url: str, args, containers: list[str], host: str | None = None) -> tuple:
    """wrk's requests/s and p99, and the CPU microseconds per request of each container and
    of wrk itself."""
    before = {name: cpu_ns(name) for name in containers}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    rate, p99 = wrk(url, args.seconds, args.connections, host)
    requests_done = rate * (time.monotonic() - started)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {name: (cpu_ns(name) - ns) / 1000 / requests_done for name, ns in before.items()}
    wrk_s = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    cpu["wrk"] = wrk_s * 1e6 / requests_done
    return rate, p99, cpu


def cpu_ns(container: str) -> int:
    """CPU time a container has used (cgroup v1 cpuacct, or v2 cpu.stat), in ns."""
    cid = subprocess.run(
        ["docker", "inspect", "-f", "{{.Id}}", container], capture_output=True, text=True
    ).stdout.strip()
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text())
    for v2 in (
        Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat"),
        Path(f"/sys/fs/cgroup/docker/{cid}/cpu.stat"),
    ):
        if v2.exists():
            return int(v2.read_text().split("usage_usec ")[1].split()[0]) * 1000
    return 0


def container_address(name: str) -> str:
    detail = json.loads(
        subprocess.run(
            ["docker", "inspect", name], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    return next(iter(detail["NetworkSettings"]["Networks"].values()))["IPAddress"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    with bench_host() as host:
        nginx_image = host_image("nginx")
        build_static_image(nginx_image)
        remove_services(host, PREFIX)
        services = {
            f"{PREFIX}static": (STATIC_IMAGE, 8080),
            f"{PREFIX}hello": ("sws-local/hello:2", 8080),
        }
        for name, (image, port) in services.items():
            host.apply(name, image=image, port=port)
        host.run_pass()
        port80 = host.http.rsplit(":", 1)[1]
        # HAProxy's own listener, from the host (exempt from the per-address limits).
        chain_url = f"http://127.0.0.1:{port80}/"
        results = {}
        settings = yaml.safe_load((REPO / "inventory/group_vars/all/sws.yml").read_text())
        chain_parts = [settings["sws_loadbalancer_container"], *host.proxies]
        for name, (_, port) in services.items():
            service = f"sws-svc-{name}-1"
            direct_url = f"http://{container_address(service)}:{port}/"
            wrk(chain_url, 2, args.connections, host=f"{name}.agent.test")  # warm up
            rounds = []
            for _ in range(args.rounds):
                direct = profiled(direct_url, args, [service])
                chain = profiled(
                    chain_url, args, [*chain_parts, service], host=f"{name}.agent.test"
                )
                rounds.append((direct, chain))
            results[name] = rounds
        remove_services(host, PREFIX)
    report(results, args)


def report(results: dict, args) -> None:
    print(
        f"wrk -t2 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds alternating "
        "direct and chain; chain = HAProxy -> nginx -> service; medians"
    )
    print(
        f"{'service':<10} {'direct req/s':>12} {'chain req/s':>12} {'ratio':>6} "
        f"{'ratio per round':<32} {'p99 direct':>10} {'p99 chain':>10}"
    )
    for name, rounds in results.items():
        ratios = [c[0] / d[0] for d, c in rounds]
        print(
            f"{name:<10} {median(d[0] for d, _ in rounds):>12,.0f} "
            f"{median(c[0] for _, c in rounds):>12,.0f} {median(ratios):>6.2f} "
            f"{' '.join(f'{r:.2f}' for r in ratios):<32} "
            f"{median(d[1] for d, _ in rounds):>8.2f}ms {median(c[1] for _, c in rounds):>8.2f}ms"
        )
    print("CPU per request (us; the service is sws-svc-*, wrk is the client)")
    for name, rounds in results.items():
        for label, index in (("direct", 0), ("chain", 1)):
            parts = rounds[0][index][2]
            spent = {part: median(r[index][2][part] for r in rounds) for part in parts}
            print(
                f"{name:<10} {label:<7} total {sum(spent.values()):6.1f}: "
                + "  ".join(f"{part.removeprefix('sws-')} {us:.1f}" for part, us in spent.items())
            )


def host_image(component: str) -> str:
    """The bootstrap's image for a component: the offline stand-in if built, else upstream."""
    settings = yaml.safe_load((REPO / "inventory/group_vars/all/sws.yml").read_text())
    offline = settings["sws_offline_images_names"][component]
    return offline if docker_has(offline) else settings["sws_upstream_images"][component]


def docker_has(image: str) -> bool:
    return (
        subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0
    )


if __name__ == "__main__":
    main()
