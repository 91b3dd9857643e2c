"""What a service's edge settings (issue 27) cost per request on the chain (HAProxy -> nginx
-> service): a plain route against the same trivial nginx behind basic auth plus an allow
list, and a redirect domain's 308, with wrk, side by side in one run: rounds alternate them,
and each ratio is the median of the rounds' ratios (this machine's speed drifts). Also what
the proxies spent per request (their cgroups' CPU), the part the settings add to.

The chain is a throwaway copy of the host's (bench/chain_variants.py's: HAProxy and two
one-worker proxies from the roles' templates and defaults, the routes from render.py, the
site files from sitefiles.py; `<prefix>*` containers, removed at the end), so the bench
changes nothing on the host and runs any proxy image (--image). Two chains: one with the
proxies' memory of accepted credentials (sws_authcache.lua, sws_proxy_auth_cache), one
without it, where nginx's auth_basic runs bcrypt on every request as before issue 27's fix.

The basic-auth user's hash is bcrypt at the spec's lowest cost (10), made by the C library
(libxcrypt) as the proxies' nginx checks it. Without the memory each request costs bcrypt's
~50 ms of CPU, so that row runs with at most 4 connections (more queue until wrk's timeout).

Measured 2026-12-06, 9 rounds x 5 s, wrk -t2 -c32, the image of this change (lua), the
machine shared with other sessions' tests (ARCHITECTURE.md, "Basic auth's cost"):
plain 12,368 req/s; allow list 15,000 (0.96x); basic auth + allow, remembered 12,165 (cost
1.04x of plain, proxies 33.7 us a request against 27.7); redirect 20,571 (0.63x); without the
memory (4 connections) plain 8,334 and basic auth 24 req/s (356x: a bcrypt, ~53 ms of a
proxy's CPU, every request). Other runs that hour: 1.05x, and with a 60 s TTL 1.03x and
1.18x. Before the memory, on the bootstrapped host: 38 req/s with 2 and with 8 connections
against 9,000-16,000 plain.

    .venv/bin/python bench/site_cost.py [--rounds 5] [--seconds 5] [--connections 32]
        [--image sws-local/nginx:1.22-2] [--prefix sitecost-] [--ref HEAD|worktree]
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import os
import tempfile
from pathlib import Path
from statistics import median

import chain_variants as chains
import yaml
from measure import cgroup_cpu_file, cpu_us, wrk

from tests.e2e.test_site import bcrypt_hash

PASSWORD = "bench password"
PLAIN, GUARDED, OLD = "plain.sitecost.test", "guarded.sitecost.test", "old.sitecost.test"
ALLOWED = "allowed.sitecost.test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--image", help="the proxies' image (default: sws.yml's offline nginx)")
    parser.add_argument("--prefix", default="sitecost-", help="of the throwaway containers")
    parser.add_argument(
        "--ref", default="HEAD", help='the commit whose roles to run, or "worktree"'
    )
    args = parser.parse_args()
    with open(chains.ENGINE_LOCK, "a") as lock, tempfile.TemporaryDirectory() as tmp:
        if os.environ.get(chains.LOCK_HELD_ENV) != "1":
            print("waiting for the engine lock ...", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        workdir = Path(tmp)
        args.source = chains.use_source(args.ref, workdir)
        settings = yaml.safe_load((chains.SOURCE / "inventory/group_vars/all/sws.yml").read_text())
        image = args.image or settings["sws_offline_images_names"]["nginx"]
        args.upload_max = settings["sws_backup_upload_max"].removesuffix("i")
        chains.PREFIX, chains.NGINX_IMAGE = args.prefix, image
        chains.NETWORK, chains.SERVICE = f"{args.prefix}net", f"{args.prefix}service"
        chains.cleanup()
        try:
            rounds = measure(args, workdir)
        finally:
            chains.cleanup()
    report(rounds, args, image)


def measure(args, workdir: Path) -> list[dict]:
    address = chains.start_service(workdir)
    variant = chains.Variant("site")
    cached, uncached = (
        chains.start_chain(
            index,
            variant,
            workdir,
            address,
            lambda conf, _, memory=memory: lay_out(conf, address, memory),
            sws_proxy_auth_cache=True,
            # The role's value comes through an Ansible-only filter (regex_replace).
            sws_proxy_api_upload_max_body_size=args.upload_max,
        )
        for index, memory in enumerate((True, False))
    )
    backend = chains.role_vars(0, 0)["sws_loadbalancer_backend"]
    for chain in (cached, uncached):
        chains.wait_up(chain, backend)
    credentials = base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
    script = workdir / "auth.lua"
    script.write_text(f'wrk.headers["Authorization"] = "Basic {credentials}"\n')
    few = min(args.connections, 4)
    runs = {
        "plain": (cached, PLAIN, None, args.connections),
        "allow list": (cached, ALLOWED, None, args.connections),
        "basic auth + allow": (cached, GUARDED, str(script), args.connections),
        "redirect (308)": (cached, OLD, None, args.connections),
        "plain, 4 connections": (uncached, PLAIN, None, few),
        "auth, no memory, 4 conn.": (uncached, GUARDED, str(script), few),
    }
    for chain, host, wrk_script, connections in runs.values():  # warm up (and fill the memory)
        wrk(chain_url(chain), 1, connections, host=host, script=wrk_script)
    rounds = []
    for number in range(args.rounds):
        rounds.append({kind: profiled(args, *run) for kind, run in runs.items()})
        print(f"round {number + 1}/{args.rounds}", flush=True)
    return rounds


def lay_out(conf: Path, address: str, memory: bool) -> str:
    """The three routes (and the guarded one's htpasswd) in one proxy's volume; without the
    memory, a guarded location never asks it (as before issue 27's fix)."""
    from swsagent import sitefiles
    from swsagent.desired import DesiredService
    from swsagent.plan import Route
    from swsagent.render import routes_conf
    from swscore.spec import load_definition
    from tests.fixtures.contract import repo_names

    names, routes, desired = repo_names(), [], []
    access = {
        "basicAuth": [{"user": "bench", "passwordHash": bcrypt_hash(PASSWORD)}],
        "allow": ["127.0.0.1/32"],
    }
    for name, domain, site in [
        ("plain", PLAIN, {"redirects": [OLD]}),
        ("guarded", GUARDED, {"access": access}),
        ("allowed", ALLOWED, {"access": {"allow": access["allow"]}}),
    ]:
        spec = {"name": name, "port": chains.SERVICE_PORT, "domain": domain, "image": "x/y:1"}
        definition = load_definition({"apiVersion": "v1", "spec": {**spec, **site}})
        routes.append(Route(domain, name, address, chains.SERVICE_PORT, site=definition.site))
        desired.append(DesiredService(name, 1, 1, "running", definition.digest(), definition))
    sitefiles.write_files([conf], names.proxy_files, sitefiles.wanted_files(desired))
    if not memory:
        (conf / "authcache.conf").write_text("# no memory: auth_basic checks every request\n")
    return routes_conf(routes, names)


def chain_url(chain: chains.Chain) -> str:
    return f"http://127.0.0.1:{chain.port}/"


def profiled(args, chain, host: str, script: str | None, connections: int) -> tuple:
    """req/s, p99 ms and the proxies' CPU in us per request."""
    files = [cgroup_cpu_file(chains.docker("inspect", "-f", "{{.Id}}", p)) for p in chain.proxies]
    before = sum(cpu_us(f) for f in files)
    rate, p99 = wrk(chain_url(chain), args.seconds, connections, host=host, script=script)
    return rate, p99, (sum(cpu_us(f) for f in files) - before) / (rate * args.seconds)


def report(rounds: list[dict], args, image: str) -> None:
    print(
        f"\nchain HAProxy -> 2 proxies ({image}, roles of {args.source}) -> nginx service, "
        f"side by side; medians of {args.rounds} rounds x {args.seconds} s:"
    )
    for kind in rounds[0]:
        rate = median(r[kind][0] for r in rounds)
        p99 = median(r[kind][1] for r in rounds)
        proxy_us = median(r[kind][2] for r in rounds)
        line = f"  {kind:26} {rate:9.0f} req/s  p99 {p99:7.2f} ms  proxies {proxy_us:8.1f} us/req"
        base = "plain" if "4 conn" not in kind else "plain, 4 connections"
        if kind != base:
            ratio = median(r[base][0] / r[kind][0] for r in rounds)
            added = median(r[kind][2] / r[base][2] for r in rounds)
            target = " [<= 1.10x]" if kind in ("basic auth + allow", "redirect (308)") else ""
            line += f"  cost {ratio:.2f}x of {base}, proxies' CPU {added:.2f}x{target}"
        print(line)


if __name__ == "__main__":
    main()
