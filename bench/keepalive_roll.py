"""What a proxy roll does to clients' keep-alive connections, on port 80 and on HTTPS, side by
side in one run: clients each hold one connection and send GETs on it back to back while the
bench rolls both proxies --rolls times, as the agent does (drain in HAProxy, write, nginx -t,
graceful reload, health, ready).

HAProxy holds the clients' connections (HTTP mode) on both ports, and ends TLS on HTTPS, so a
roll only closes its pooled connections to a proxy. (Until HAProxy ended TLS, HTTPS passed
through it in tcp mode to nginx, a client's connection was a connection to one proxy, and its
graceful reload closed it between two requests: 17 of 3,135 GETs failed over 5 rolls.) Prints,
per port: requests, requests that failed, connections the server closed (with the first
reason), and the failures left when a client sends a request again once on a new connection
after its reused one closed without an answer (what browsers and most HTTP libraries do for a
GET).

    .venv/bin/python bench/keepalive_roll.py [--rolls 5] [--clients 4]
"""

from __future__ import annotations

import argparse
import http.client
import os
import ssl
import sys
import threading
import time

import yaml
from agent_host import REPO, bench_host, remove_services

from swsagent.collection import haproxy as runtime
from swsagent.collection import module_utils
from tests.e2e.test_agent import domain, https_agent_settings
from tests.e2e.test_https import PinnedHTTPSConnection
from tests.fixtures.certs import TestCA
from tests.fixtures.contract import repo_contract

# Where each proxy's configuration volume is mounted (sws.yml's sws_proxy_conf_mount).
CONF_DIR = repo_contract().proxy_conf_mount

NAME = "karoll-0"


class Client(threading.Thread):
    """One keep-alive connection at a time; counts what happens to its requests."""

    def __init__(self, connect, stop: threading.Event, retry: bool):
        super().__init__(daemon=True)
        self.connect, self.stop, self.retry = connect, stop, retry
        self.sent = self.failed = self.closed = 0
        self.errors: list[str] = []

    def run(self) -> None:
        conn = self.connect()
        while not self.stop.is_set():
            self.sent += 1
            for attempt in (1, 2):
                try:
                    conn.request("GET", "/", headers={"Host": domain(NAME)})
                    answer = conn.getresponse()
                    answer.read()
                    if answer.status != 200:
                        raise http.client.HTTPException(f"status {answer.status}")
                    if answer.getheader("Connection", "").lower() == "close":
                        self.closed += 1  # told in the answer: the next request opens anew
                        conn.close()
                        conn = self.connect()
                    break
                except (OSError, http.client.HTTPException) as err:
                    self.closed += 1
                    self.errors.append(f"{type(err).__name__}: {err}"[:120])
                    conn.close()
                    conn = self.connect()
                    if attempt == 2 or not self.retry:
                        self.failed += 1
                        break
            time.sleep(0.005)
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rolls", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    settings = yaml.safe_load((REPO / "inventory/group_vars/all/sws.yml").read_text())
    https_port = int(settings["sws_https_port"])
    tls_settings = https_agent_settings(settings)
    proxyroll, haproxy = module_utils("proxyroll"), runtime()
    rows = []
    with bench_host(**tls_settings) as host:
        remove_services(host, "karoll-")
        host.apply(NAME)
        ca = TestCA("SWS bench CA (throwaway)")
        host.certify(NAME, ca)
        host.run_pass()
        live = {p: host.proxy_file(p, "live/routes.conf") for p in host.proxies}
        port80 = int(host.http.rsplit(":", 1)[1])
        ctx = ssl.create_default_context(cadata=ca.pem)

        def plain():
            return http.client.HTTPConnection("127.0.0.1", port80, timeout=10)

        def tls():
            return PinnedHTTPSConnection(domain(NAME), https_port, ctx)

        def roll(i: int) -> None:
            for proxy in host.proxies:
                haproxy.set_state(host.socket, "proxies", proxy, "drain")
                haproxy.wait_for_no_sessions(host.socket, "proxies", proxy, 0.5)
                try:
                    proxyroll.write_and_reload(
                        proxy, live[proxy] + f"\n# bench roll {i}\n", CONF_DIR
                    )
                    proxyroll.healthy(os.path.join("/run/sws/proxies", proxy, "healthz.sock"))
                finally:
                    haproxy.set_state(host.socket, "proxies", proxy, "ready")

        for label, connect, retry in (
            ("port 80 (HAProxy holds the connection)", plain, False),
            ("HTTPS (HAProxy ends TLS, holds the connection)", tls, False),
            ("HTTPS, a GET sent again once on a new connection", tls, True),
        ):
            stop = threading.Event()
            clients = [Client(connect, stop, retry) for _ in range(args.clients)]
            for client in clients:
                client.start()
            time.sleep(1)
            for i in range(args.rolls):
                roll(i)
                time.sleep(0.5)
            time.sleep(1)
            stop.set()
            for client in clients:
                client.join(30)
            errors = [e for c in clients for e in c.errors]
            rows.append(
                (
                    label,
                    sum(c.sent for c in clients),
                    sum(c.failed for c in clients),
                    sum(c.closed for c in clients),
                    errors[:1],
                )
            )
            print(f"  {label}: done", file=sys.stderr, flush=True)
        for proxy in host.proxies:
            proxyroll.write_and_reload(proxy, live[proxy], CONF_DIR)
        remove_services(host, "karoll-")
    print(f"{args.clients} keep-alive clients, {args.rolls} rolls of both proxies")
    print(f"{'clients':52} {'requests':>9} {'failed':>7} {'closed by server':>17}")
    for label, sent, failed, closed, errors in rows:
        print(
            f"{label:52} {sent:9d} {failed:7d} {closed:17d}"
            + (f"  e.g. {errors[0]}" if errors else "")
        )


if __name__ == "__main__":
    main()
