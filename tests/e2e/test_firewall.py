"""The services' firewall on the real host (issue 25): a service reaches the edge through the
host's public address, as anyone does, and nothing else of the host.

The targets are the test's own listeners, never anyone else's address: one on 0.0.0.0 (tried
at the host's primary address and at the services bridge's gateway) and one on a link-local
address the test puts on `lo` for the while (169.254.77.77, which stands for a cloud's
instance metadata; the real one is never asked). The probes run inside a deployed service's
container (docker exec: its network namespace, its bridge), with 2-second connect timeouts;
REJECT answers them at once. Then a rule removed by hand is put back by the next pass, which
says so in its record.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from swsagent.firewall import Tables
from tests.e2e import test_agent
from tests.e2e.conftest import load_settings
from tests.e2e.test_agent import docker, domain, unique

pytestmark = pytest.mark.e2e

agent_host = test_agent.agent_host
LINK_LOCAL = "169.254.77.77"

# Runs inside the service's container: "<target> open|refused <error>" per target, and for
# "http:<address>:<port>:<host header>" the status and body of a GET through the edge.
PROBE = """
import http.client, socket, sys
for target in sys.argv[1:]:
    if target.startswith("http:"):
        _, address, port, host = target.split(":")
        try:
            conn = http.client.HTTPConnection(address, int(port), timeout=5)
            conn.request("GET", "/", headers={"Host": host})
            answer = conn.getresponse()
            print(target, "open", answer.status, answer.read().decode().strip())
        except OSError as err:
            print(target, "refused", type(err).__name__)
        continue
    address, port = target.rsplit(":", 1)
    started = __import__("time").monotonic()
    try:
        socket.create_connection((address, int(port)), timeout=2).close()
        print(target, "open")
    except OSError as err:
        took = __import__("time").monotonic() - started
        print(target, "refused", type(err).__name__, f"{took:.2f}")
"""


class Listener:
    """A TCP listener of the test's own: counts the connections it accepted."""

    def __init__(self, address: str):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.accepted += 1
                conn.close()

    def close(self) -> None:
        self.sock.close()


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


@contextlib.contextmanager
def link_local_on_lo():
    ip("addr", "add", f"{LINK_LOCAL}/32", "dev", "lo")
    try:
        yield LINK_LOCAL
    finally:
        ip("addr", "del", f"{LINK_LOCAL}/32", "dev", "lo")


def primary_address() -> str:
    """The host's address on its default route's interface (its public address here)."""
    route = json.loads(ip("-4", "-j", "route", "show", "default"))
    addresses = json.loads(ip("-4", "-j", "addr", "show", "dev", route[0]["dev"]))
    return addresses[0]["addr_info"][0]["local"]


def probe(container: str, *targets: str) -> dict[str, list[str]]:
    out = docker("exec", container, "python3", "-c", PROBE, *targets)
    return {line.split(" ", 1)[0]: line.split(" ")[1:] for line in out.splitlines()}


def filter_table() -> Tables:
    out = subprocess.run(["iptables", "-w", "5", "-S"], check=True, capture_output=True)
    return Tables.parse(out.stdout.decode())


@pytest.fixture(scope="module")
def service(agent_host):
    """A running service (the hello app: it has python3) and its container."""
    name = unique("fw")
    agent_host.apply(name)
    agent_host.run_pass()
    agent_host.assert_running(name)
    container = docker("ps", "-q", "--filter", f"label=sws.service={name}").split()[0]
    yield name, container
    agent_host.delete(name)


def test_a_service_reaches_the_edge_and_nothing_else_of_the_host(agent_host, service):
    name, container = service
    settings = load_settings()
    public = primary_address()
    gateway = docker(
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        settings["sws_services_network"],
    ).strip()
    anywhere = Listener("0.0.0.0")
    try:
        with link_local_on_lo() as link_local:
            metadata = Listener(link_local)
            try:
                # The listeners answer the host itself: what the service meets is the firewall.
                for address, port in ((public, anywhere.port), (link_local, metadata.port)):
                    socket.create_connection((address, port), timeout=2).close()
                seen = probe(
                    container,
                    f"{public}:{anywhere.port}",
                    f"{gateway}:{anywhere.port}",
                    f"{link_local}:{metadata.port}",
                    f"http:{public}:{settings['sws_http_port']}:{domain(name)}",
                )
                accepted = anywhere.accepted + metadata.accepted
            finally:
                metadata.close()
    finally:
        anywhere.close()
    assert accepted == 2, "only the host's own connections may arrive"
    for target in (f"{public}:{anywhere.port}", f"{gateway}:{anywhere.port}"):
        assert seen[target][0] == "refused", seen
    assert seen[f"{LINK_LOCAL}:{metadata.port}"][0] == "refused", seen
    # REJECT: refused at once, not after the timeout.
    assert all(float(v[2]) < 1.5 for k, v in seen.items() if not k.startswith("http:")), seen
    edge = seen[f"http:{public}:{settings['sws_http_port']}:{domain(name)}"]
    assert edge[:2] == ["open", "200"] and json.loads(" ".join(edge[2:]))["greeting"], seen
    # The proxies still reach the service: its route answers from outside.
    assert agent_host.get(name).status_code == 200


def test_the_rules_head_input_and_docker_user_and_a_pass_puts_back_a_lost_one(agent_host):
    settings = load_settings()
    bridge, inp = settings["sws_services_bridge"], settings["sws_input_chain"]
    fwd = settings["sws_forward_chain"]
    table = filter_table()
    assert table.of("INPUT")[0] == f"-A INPUT -i {bridge} -j {inp}", table.of("INPUT")
    assert table.of("DOCKER-USER")[0] == f"-A DOCKER-USER -i {bridge} -j {fwd}"
    assert any("-d 169.254.0.0/16 -j REJECT" in r for r in table.of(fwd)), table.of(fwd)
    # The bridge carries SWS's name (the rules match it).
    assert (
        f"{bridge}:" in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    )

    subprocess.run(["iptables", "-w", "5", "-D", "INPUT", "-i", bridge, "-j", inp], check=True)
    try:
        started = time.monotonic()
        agent_host.run_pass()
        took = time.monotonic() - started
    finally:
        if filter_table().of("INPUT")[:1] != (f"-A INPUT -i {bridge} -j {inp}",):
            subprocess.run(["iptables", "-w", "5", "-I", "INPUT", "1", "-i", bridge, "-j", inp])
    last = agent_host.last_passes()[0]
    assert last["changed"].get("firewall_restored") == ["the jumps at the top of INPUT"], last
    assert "firewall was not all in place and was put back" in last["message"], last
    assert filter_table().of("INPUT")[0] == f"-A INPUT -i {bridge} -j {inp}"
    assert took < 30, took
    # The next pass finds everything in place: no change of its own.
    agent_host.run_pass()
    assert "firewall_restored" not in (agent_host.last_passes()[0]["changed"] or {})


@pytest.mark.skipif(
    os.environ.get("SWS_FAULTS_DAEMON") != "1",
    reason="restarts the Docker daemon for everyone on this engine: SWS_FAULTS_DAEMON=1",
)
def test_the_rules_outlive_a_docker_restart(agent_host, service):
    """Docker puts its jump to DOCKER-USER first in FORWARD again and keeps the chain's rules;
    it never touches INPUT. Checked before any pass could have put anything back."""
    from tests.faults.test_faults import restart_dockerd

    name, _ = service
    before = filter_table()
    settings = load_settings()
    ours = (settings["sws_input_chain"], settings["sws_forward_chain"])
    restart_dockerd()
    after = filter_table()
    for chain in ("INPUT", "DOCKER-USER", *ours):
        kept = [r for r in before.of(chain) if chain in ours or r.split()[-1] in ours]
        assert [r for r in after.of(chain) if r in kept] == kept, (chain, after.of(chain))
        assert after.of(chain)[: len(kept)] == tuple(kept), (chain, after.of(chain))
    assert after.of("FORWARD")[0] == "-A FORWARD -j DOCKER-USER"
    # The host converges as after any daemon restart: the service serves again.
    deadline = time.monotonic() + 120
    while (
        agent_host.service(name)["status"] != "running" or agent_host.get(name).status_code != 200
    ):
        assert time.monotonic() < deadline, agent_host.explain(name)
        agent_host.run_pass(check=False)
        time.sleep(0.5)
