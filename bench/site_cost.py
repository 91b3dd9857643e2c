"""What a service's edge settings (issue 27) cost per request on the chain (HAProxy -> nginx
-> service): a plain route against the same trivial nginx behind basic auth plus an allow
list, and a redirect domain's 308, with wrk, side by side in one run: rounds alternate the
three, and each ratio is the median of the rounds' ratios (this machine's speed drifts).
Also what the proxies spent per request (their cgroups' CPU), the part the settings add to.

The basic-auth user's hash is bcrypt at the spec's lowest cost (10), made by the C library
(libxcrypt) as the proxies' nginx checks it: nginx's auth_basic runs crypt() on every
request, with no cache: about 50 ms of CPU each here, so the guarded route takes only a few
dozen requests a second, and past a few connections wrk's requests queue until they time out
(measured 2026-12-06: 38 req/s with 2 and with 8 connections, against 9,000-16,000 plain).
Hence the few connections by default.

    .venv/bin/python bench/site_cost.py [--rounds 5] [--seconds 5] [--connections 4]
"""

from __future__ import annotations

import argparse
import base64
import tempfile
from pathlib import Path
from statistics import median

import yaml
from agent_host import REPO, bench_host, remove_services
from datapath_ratio import STATIC_IMAGE, build_static_image, host_image, profiled

from tests.e2e.test_agent import domain
from tests.e2e.test_site import bcrypt_hash

PREFIX = "sitecost-"
PASSWORD = "bench password"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    settings = yaml.safe_load((REPO / "inventory/group_vars/all/sws.yml").read_text())
    with bench_host() as host, tempfile.TemporaryDirectory() as tmp:
        build_static_image(host_image("nginx"))
        remove_services(host, PREFIX)
        plain, guarded, old = f"{PREFIX}plain", f"{PREFIX}guarded", f"{PREFIX}old"
        apply(host, plain, redirects=[domain(old)])
        apply(
            host,
            guarded,
            access={
                "basicAuth": [{"user": "bench", "passwordHash": bcrypt_hash(PASSWORD)}],
                "allow": ["127.0.0.1/32"],
            },
        )
        host.run_pass()
        credentials = base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
        script = Path(tmp, "auth.lua")
        script.write_text(
            f'wrk.headers["Host"] = "{domain(guarded)}"\n'
            f'wrk.headers["Authorization"] = "Basic {credentials}"\n'
        )
        url = f"http://127.0.0.1:{host.http.rsplit(':', 1)[1]}/"
        parts = [settings["sws_loadbalancer_container"], *host.proxies]
        rounds = []
        for _ in range(args.rounds):
            rounds.append(
                {
                    "plain": profiled(url, args, parts, host=domain(plain)),
                    "basic auth + allow": profiled(url, args, parts, script=str(script)),
                    "redirect (308)": profiled(url, args, parts, host=domain(old)),
                }
            )
        remove_services(host, PREFIX)
    report(rounds, host.proxies)


def apply(host, name: str, **site) -> None:
    spec = {"name": name, "port": 8080, "domain": domain(name), "image": STATIC_IMAGE, **site}
    answer = host.api("PUT", f"/services/{name}", json={"apiVersion": "v1", "spec": spec})
    assert answer.status_code in (200, 201), answer.text


def report(rounds: list[dict], proxies: list[str]) -> None:
    print("chain on :80, side by side; medians of the rounds:")
    for kind in rounds[0]:
        rate = median(r[kind][0] for r in rounds)
        p99 = median(r[kind][1] for r in rounds)
        proxy_us = median(sum(r[kind][2][p] for p in proxies) for r in rounds)
        line = f"  {kind:20} {rate:9.0f} req/s  p99 {p99:7.2f} ms  proxies {proxy_us:7.1f} us/req"
        if kind != "plain":
            ratio = median(r["plain"][0] / r[kind][0] for r in rounds)
            added = median(
                sum(r[kind][2][p] for p in proxies) / sum(r["plain"][2][p] for p in proxies)
                for r in rounds
            )
            line += f"  cost {ratio:.2f}x of plain, proxies' CPU {added:.2f}x [<= 1.10x]"
        print(line)


if __name__ == "__main__":
    main()
