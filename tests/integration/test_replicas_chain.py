"""An update of a 3-replica service under load through the real chain: HAProxy -> two nginx
proxies -> the replicas, each a throwaway container of the host's images on the test network,
configured by the proxies' own nginx.conf template (test_routes_nginx.render_test_conf) and
rolled by the agent's pass (sws.host.proxy_roll). No bootstrapped host is touched: the pass
runs with test_agent_pass.py's label prefix and network, and these names of its own.

Requests open a new connection each (no client keep-alive to race a roll) and every one must
be answered 200, by the old generation's replicas, then the new one's.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from swsagent.config import config_from_mapping
from tests.fixtures import edgechain
from tests.integration import test_agent_pass as agent_pass
from tests.integration.test_agent_pass import LABELS, docker, one_pass
from tests.integration.test_routes_nginx import IMAGE

HAPROXY_IMAGE = edgechain.HAPROXY_IMAGE
# test_agent_pass.py's fixtures (see test_agent_replicas.py).
engine_lock = agent_pass.engine_lock
hello_image = agent_pass.hello_image
network = agent_pass.network
store = agent_pass.store
clean_services = agent_pass.clean_services

pytestmark = pytest.mark.skipif(
    not (docker("images", "-q", IMAGE).strip() and docker("images", "-q", HAPROXY_IMAGE).strip()),
    reason=f"no {IMAGE} or {HAPROXY_IMAGE} on this engine",
)


@pytest.fixture
def chain(network, tmp_path_factory):
    """Two proxies and HAProxy in front of them (tests/fixtures/edgechain.py)."""
    root = Path(tmp_path_factory.mktemp("chain"))
    chain = edgechain.start(root, "swsrepl-" + uuid.uuid4().hex[:6], network)
    yield chain
    chain.remove()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def config(database_url, network, chain, tmp_path):
    settings = chain.agent_settings(database_url, tmp_path / "state", LABELS, network)
    return config_from_mapping({**settings, "ready_timeout": 10})


class Load:
    """Threads sending GETs through HAProxy, a new connection each, until stopped."""

    def __init__(self, url: str, host: str, threads: int = 4):
        self.url, self.host = url, host
        self.answers: list[str] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._send) for _ in range(threads)]

    def _send(self) -> None:
        while not self.stop.is_set():
            try:
                response = requests.get(self.url, headers={"Host": self.host}, timeout=10)
                if response.status_code == 200:
                    self.answers.append(response.json()["hostname"])
                else:
                    self.failures.append(f"{response.status_code}: {response.text[:100]}")
            except (requests.RequestException, ValueError) as err:
                self.failures.append(repr(err)[:200])

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join()


def hostnames(service: str, generation: int) -> set[str]:
    """The container hostnames (short ids) of a generation's replicas."""
    listed = docker(
        "ps", "-q", "--filter", f"label={LABELS}.service={service}",
        "--filter", f"label={LABELS}.generation={generation}",
    )  # fmt: skip
    return set(listed.split())


def apply(store, image, greeting: str) -> None:
    spec = {
        "name": "load", "port": 8080, "domain": "load.test", "image": image, "replicas": 3,
        "env": [{"name": "GREETING", "value": greeting}],
    }  # fmt: skip
    store.apply("alice", spec)


def test_an_update_of_three_replicas_under_load_fails_no_request(config, store, hello_image, chain):
    apply(store, hello_image, "one")
    report = one_pass(config, store.conn)
    assert report.changed.get("routes") == "rolled", report.summary()
    first = hostnames("load", 1)
    assert len(first) == 3
    url = chain.url
    with Load(url, "load.test") as load:
        time.sleep(0.5)
        assert set(load.answers) == first, "every replica answers through the chain"
        apply(store, hello_image, "two")
        report = one_pass(config, store.conn)
        assert report.changed["deployed"] == ["load"], report.summary()
        time.sleep(0.5)
    second = hostnames("load", 2)
    assert len(second) == 3 and not second & first
    assert load.failures == [], load.failures[:5]
    assert len(load.answers) > 50
    assert set(load.answers[-20:]) <= second  # after the roll only the new replicas answer
    assert second <= set(load.answers)  # each of them did
