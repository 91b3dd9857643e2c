"""The data path against the service itself: requests/s and p99 latency through the load
balancer and a proxy (HAProxy -> nginx -> service) and to the same container directly, with
wrk, side by side in one run: rounds alternate direct and chain, and the ratio is the median of
the rounds' ratios (this machine's speed drifts by a third between minutes). Two services: a
trivial nginx (the chain's own cost shows) and the example Python app (the service is the
bottleneck).

    .venv/bin/python bench/datapath_ratio.py [--rounds 5] [--seconds 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
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
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise SystemExit(f"wrk saw errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return rate, float(p99.group(1)) * scale


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
        # What a client elsewhere gets: the host's address, where HAProxy listens itself.
        chain_url = f"http://{host_address()}:{port80}/"
        results = {}
        for name, (_, port) in services.items():
            direct_url = f"http://{container_address(f'sws-svc-{name}-1')}:{port}/"
            wrk(chain_url, 2, args.connections, host=f"{name}.agent.test")  # warm up
            rounds = []
            for _ in range(args.rounds):
                direct = wrk(direct_url, args.seconds, args.connections)
                chain = wrk(chain_url, args.seconds, args.connections, host=f"{name}.agent.test")
                rounds.append((direct, chain))
            results[name] = rounds
        remove_services(host, PREFIX)
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


def host_address() -> str:
    route = subprocess.run(["ip", "route", "get", "1.1.1.1"], capture_output=True, text=True)
    words = route.stdout.split()
    return words[words.index("src") + 1] if "src" in words else "127.0.0.1"


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
