"""The data path against the service itself: requests/s and p99 latency through the load
balancer and a proxy (HAProxy -> nginx -> service) and to the same container directly, with
wrk, side by side in one run: rounds alternate direct and chain, and the ratio is the median of
the rounds' ratios (this machine's speed drifts by a third between minutes). Two services: a
trivial nginx (the chain's own cost shows) and the example Python app (the service is the
bottleneck). Where the time goes: the CPU each part spent per request (microseconds, from the
containers' cgroups and wrk's own rusage), medians of the rounds.

HTTPS in the same rounds (issue 15): each bench service gets a certificate from a throwaway CA
the bench makes (uploaded through the API, as `swsctl cert set` does), and the chain is also
measured on port 443 (HAProxy ending TLS -> nginx -> service) against plain HTTP
direct: requests/s and p99 with keep-alive, and new handshakes/s (`Connection: close`, so each
request is a new TCP connection and a full TLS handshake) against new plain connections/s
direct. wrk sends the service's domain as SNI and connects to 127.0.0.1 (a wrk script's
resolve), so no name needs to resolve.

The chain is reached on 127.0.0.1:80, where HAProxy listens (the host's own address takes the
same loopback path in the kernel): the host itself is exempt from the per-address limits, so
wrk's 32 connections and ~40,000 requests/s are not refused or answered 429.

    .venv/bin/python bench/datapath_ratio.py [--rounds 5] [--seconds 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path
from statistics import median

import yaml
from agent_host import REPO, bench_host, remove_services
from measure import cgroup_cpu_file, cpu_us, wrk
from tls_edge import answering_nginx_conf

from tests.e2e.test_agent import domain, https_agent_settings
from tests.fixtures.certs import TestCA

PREFIX = "dp-"
STATIC_IMAGE = "sws-bench/static:1"
STATIC_CONF = answering_nginx_conf("8080", workers="2")
# wrk connects to 127.0.0.1 whatever the URL's host, which stays the SNI and the Host header.
RESOLVE_LOOPBACK = """wrk.resolve = function(host, service)
    wrk.addrs = wrk.lookup("127.0.0.1", service)
end
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


def profiled(url: str, args, containers: list[str], **wrk_options) -> tuple:
    """wrk's requests/s and p99, and the CPU microseconds per request of each container and
    of wrk itself."""
    before = {name: container_cpu_us(name) for name in containers}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    rate, p99 = wrk(url, args.seconds, args.connections, **wrk_options)
    requests_done = rate * (time.monotonic() - started)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {name: (container_cpu_us(name) - us) / requests_done for name, us in before.items()}
    wrk_s = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    cpu["wrk"] = wrk_s * 1e6 / requests_done
    return rate, p99, cpu


def container_cpu_us(container: str) -> float:
    """CPU time a container has used, in us (0 where the host has no cgroup accounting)."""
    cid = subprocess.run(
        ["docker", "inspect", "-f", "{{.Id}}", container], capture_output=True, text=True
    ).stdout.strip()
    path = cgroup_cpu_file(cid)
    return cpu_us(path) if path else 0.0


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
    settings = yaml.safe_load((REPO / "inventory/group_vars/all/sws.yml").read_text())
    https_port = int(settings["sws_https_port"])
    # The agent of this run installs the services' certificates (tls_dir: the sealing key).
    tls_settings = https_agent_settings(settings)
    with bench_host(**tls_settings) as host, tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "resolve.lua")
        script.write_text(RESOLVE_LOOPBACK)
        nginx_image = host_image("nginx")
        build_static_image(nginx_image)
        remove_services(host, PREFIX)
        services = {
            f"{PREFIX}static": (STATIC_IMAGE, 8080),
            f"{PREFIX}hello": ("sws-local/hello:2", 8080),
        }
        ca = TestCA("SWS bench CA (throwaway)")
        for name, (image, port) in services.items():
            host.apply(name, image=image, port=port)
            host.certify(name, ca)
        host.run_pass()
        port80 = host.http.rsplit(":", 1)[1]
        # HAProxy's own listener, from the host (exempt from the per-address limits).
        chain_url = f"http://127.0.0.1:{port80}/"
        results = {}
        chain_parts = [settings["sws_loadbalancer_container"], *host.proxies]
        for name, (_, port) in services.items():
            service = f"sws-svc-{name}-1"
            direct_url = f"http://{container_address(service)}:{port}/"
            https_url = f"https://{domain(name)}:{https_port}/"
            on_chain = [*chain_parts, service]
            loopback = str(script)
            wrk(chain_url, 2, args.connections, host=domain(name))  # warm up
            wrk(https_url, 2, args.connections, script=loopback)
            rounds = []
            for _ in range(args.rounds):
                rounds.append(
                    {
                        "direct": profiled(direct_url, args, [service]),
                        "chain": profiled(chain_url, args, on_chain, host=domain(name)),
                        "https": profiled(https_url, args, on_chain, script=loopback),
                        "direct new": profiled(direct_url, args, [service], close=True),
                        "https new": profiled(
                            https_url, args, on_chain, close=True, script=loopback
                        ),
                    }
                )
            results[name] = rounds
        remove_services(host, PREFIX)
    report(results, args)


def report(results: dict, args) -> None:
    print(
        f"wrk -t2 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds alternating "
        "direct and chain; chain = HAProxy -> nginx -> service; medians"
    )
    compare(results, "direct", "chain", "direct req/s", "chain req/s")
    print(
        "HTTPS through the chain (port 443, HAProxy ends TLS, ECDSA P-256) against plain HTTP "
        "direct; new = Connection: close, each request a new connection (https: a full "
        "handshake)"
    )
    compare(results, "direct", "https", "direct req/s", "https req/s")
    compare(results, "direct new", "https new", "direct new/s", "handshakes/s")
    print("CPU per request (us; the service is sws-svc-*, wrk is the client)")
    for name, rounds in results.items():
        for label in rounds[0]:
            parts = rounds[0][label][2]
            spent = {part: median(r[label][2][part] for r in rounds) for part in parts}
            print(
                f"{name:<10} {label:<10} total {sum(spent.values()):6.1f}: "
                + "  ".join(f"{part.removeprefix('sws-')} {us:.1f}" for part, us in spent.items())
            )


def compare(results: dict, base: str, other: str, base_title: str, other_title: str) -> None:
    """One table: the base and the other measure's medians, and the median of the rounds'
    ratios (other / base)."""
    print(
        f"{'service':<10} {base_title:>12} {other_title:>12} {'ratio':>6} "
        f"{'ratio per round':<32} {'p99 ' + base:>14} {'p99 ' + other:>14}"
    )
    for name, rounds in results.items():
        ratios = [r[other][0] / r[base][0] for r in rounds]
        print(
            f"{name:<10} {median(r[base][0] for r in rounds):>12,.0f} "
            f"{median(r[other][0] for r in rounds):>12,.0f} {median(ratios):>6.2f} "
            f"{' '.join(f'{x:.2f}' for x in ratios):<32} "
            f"{median(r[base][1] for r in rounds):>12.2f}ms "
            f"{median(r[other][1] for r in rounds):>12.2f}ms"
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
