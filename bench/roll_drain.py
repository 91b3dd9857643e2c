"""How a proxy roll tells HAProxy, side by side in one run under load: today's drain-then-reload,
reload without a drain (HAProxy's retries and redispatch), both proxies at once (what a pass
that only adds routes could do) and HAProxy runtime weights. Each strategy rolls both proxies
--rolls times while clients send keep-alive GETs through the load balancer; prints failed
requests and the seconds a roll of both proxies takes (median, worst). Then the drain again
with long requests in flight (two `logs --follow` streams through the proxies, as a client
of SSE or a slow download would hold): waiting for the sessions to end (up to 5 s, the old
default) against a drain that waits at most 0.5 s (nginx's graceful reload finishes what is in
flight anyway), and the reload without drain; prints the streams cut too.

    .venv/bin/python bench/roll_drain.py [--rolls 5]

The rolls are the ones the agent makes (module_utils/proxyroll.py: write, nginx -t, reload,
health), with the live routes plus a comment, so the routes served never change.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import sys
import threading
import time

import requests
from agent_host import bench_host, remove_services

from swsagent.collection import haproxy as runtime
from swsagent.collection import module_utils
from tests.e2e.test_agent import domain
from tests.e2e.test_agent_zero_downtime import Load
from tests.fixtures.contract import repo_contract

# Where each proxy's configuration volume is mounted (sws.yml's sws_proxy_conf_mount).
CONF_DIR = repo_contract().proxy_conf_mount

NAME = "rolldrain-0"


def load_proxyroll():
    return module_utils("proxyroll")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rolls", type=int, default=5)
    args = parser.parse_args()
    proxyroll = load_proxyroll()
    haproxy = runtime()
    rows = []
    with bench_host() as host:
        remove_services(host, "rolldrain-")
        host.apply(NAME, env={"GREETING": "steady"})
        host.run_pass()
        backend = "proxies"
        live = {p: host.proxy_file(p, "live/routes.conf") for p in host.proxies}

        def health(proxy):
            return os.path.join("/run/sws/proxies", proxy, "healthz.sock")

        def reload(proxy, i):
            proxyroll.write_and_reload(proxy, live[proxy] + f"\n# bench roll {i}\n", CONF_DIR)
            proxyroll.healthy(health(proxy))

        def drained(state_on, state_off, wait=10.0):
            def roll(proxy, i):
                state_on(proxy)
                haproxy.wait_for_no_sessions(host.socket, backend, proxy, wait)
                try:
                    reload(proxy, i)
                finally:
                    state_off(proxy)

            return roll

        drain = drained(
            lambda p: haproxy.set_state(host.socket, backend, p, "drain"),
            lambda p: haproxy.set_state(host.socket, backend, p, "ready"),
        )
        weights = drained(
            lambda p: haproxy.command(host.socket, f"set weight {backend}/{p} 0"),
            lambda p: haproxy.command(host.socket, f"set weight {backend}/{p} 100%"),
        )

        def serial(step):
            def roll(i):
                for proxy in host.proxies:
                    step(proxy, i)

            return roll

        def together(i):
            threads = [threading.Thread(target=reload, args=(p, i)) for p in host.proxies]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        strategies = {
            "drain then reload (serial)": serial(drain),
            "reload, no drain (serial)": serial(reload),
            "both proxies at once, no drain": together,
            "runtime weight 0, then reload (serial)": serial(weights),
        }

        def ready(p):
            haproxy.set_state(host.socket, backend, p, "ready")

        def draining(p):
            haproxy.set_state(host.socket, backend, p, "drain")

        with_streams = {
            "streams open: drain, wait <= 5 s (old default)": serial(drained(draining, ready, 5.0)),
            "streams open: drain, wait <= 0.5 s": serial(drained(draining, ready, 0.5)),
            "streams open: reload, no drain": serial(reload),
        }
        for label, roll in [*strategies.items(), *with_streams.items()]:
            seconds = []
            streams = Streams(host, 2) if label.startswith("streams") else contextlib.nullcontext()
            with Load(f"{host.http}/", domain(NAME)) as load, streams as opened:
                time.sleep(1)
                for i in range(args.rolls):
                    started = time.monotonic()
                    roll(i)
                    seconds.append(time.monotonic() - started)
                    time.sleep(0.5)
                time.sleep(1)
            cut = f" ({opened.cut} of {opened.opened} streams cut)" if opened else ""
            rows.append((label + cut, load.total, load.failed, seconds, load.errors[:2]))
            print(f"  {label}: done", file=sys.stderr, flush=True)
        for proxy in host.proxies:
            proxyroll.write_and_reload(proxy, live[proxy], CONF_DIR)
        remove_services(host, "rolldrain-")
    print(f"{'strategy':72} {'requests':>9} {'failed':>7} {'roll p50':>9} {'worst':>7}")
    for label, total, failed, seconds, errors in rows:
        print(
            f"{label:72} {total:9d} {failed:7d} {statistics.median(seconds):8.2f}s"
            f" {max(seconds):6.2f}s" + (f"  e.g. {errors[0]}" if errors else "")
        )


class Streams:
    """`n` log-follow streams of the bench service through the load balancer, held open (a
    long request in flight on the proxies) until the block ends; counts those cut early."""

    def __init__(self, host, n: int):
        self.host, self.n = host, n
        self.opened = self.cut = 0
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.socks: list[socket.socket] = []

    def __enter__(self):
        for _ in range(self.n):
            thread = threading.Thread(target=self.follow)
            thread.start()
            self.threads.append(thread)
        return self

    def follow(self) -> None:
        headers = {"Host": self.host.api_domain, "Authorization": f"Bearer {self.host.token}"}
        url = f"{self.host.http}/v1/services/{NAME}/logs?follow=true"
        try:
            with requests.get(url, headers=headers, stream=True, timeout=(5, 600)) as answer:
                self.socks.append(answer.raw.connection.sock)
                self.opened += 1
                for _ in answer.iter_lines():
                    pass
        except (requests.RequestException, OSError, AttributeError):
            pass
        if not self.stop.is_set():
            self.cut += 1  # ended before the bench closed it

    def __exit__(self, *exc):
        self.stop.set()
        for sock in self.socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join()


if __name__ == "__main__":
    main()
