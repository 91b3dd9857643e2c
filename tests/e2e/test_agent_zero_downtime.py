"""Zero downtime: constant load on one service while the agent changes everything around it.

Under at least 100 requests/s to service A for the whole test, the agent applies five other
services, updates A's env three times and deletes one service. Not one request to A may fail
or answer anything but 2xx. The figures are printed (pytest -s shows them).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import requests

from tests.e2e.test_agent import agent_host, unique  # noqa: F401 - agent_host is a fixture

pytestmark = pytest.mark.e2e

CLIENTS = 3  # threads, each with its own keep-alive session
# Paced a little above the required 100/s: more load only starves the passes of CPU (2 cores)
# and makes the test longer without making it stricter.
TARGET_RATE = 150


class Load:
    """Threads sending GETs to one domain through the load balancer, counting outcomes."""

    def __init__(self, url: str, host: str):
        self.url, self.host = url, host
        self.outcomes: Counter = Counter()
        self.bodies: Counter = Counter()
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(CLIENTS)]

    def client(self) -> None:
        interval = CLIENTS / TARGET_RATE
        with requests.Session() as session:
            next_at = time.monotonic()
            while not self.stop.is_set():
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))
                try:
                    answer = session.get(self.url, headers={"Host": self.host}, timeout=10)
                    outcome, body = answer.status_code, answer.text
                except requests.RequestException as err:
                    outcome, body = "error", ""
                    with self.lock:
                        self.errors.append(f"{type(err).__name__}: {err}"[:200])
                with self.lock:
                    self.outcomes[outcome] += 1
                    if outcome == 200:
                        self.bodies[body.split('"greeting": "')[1].split('"')[0]] += 1

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.seconds = time.monotonic() - self.started

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        return self.total - sum(n for code, n in self.outcomes.items() if code in range(200, 300))


def wait_until_serving(agent_host, name: str, greeting: str) -> None:  # noqa: F811
    answer = agent_host.get(name)
    assert answer.status_code == 200 and greeting in answer.text


def test_updates_around_a_service_under_load_drop_nothing(agent_host):  # noqa: F811
    a = unique("steady")
    agent_host.apply(a, env={"GREETING": "v0"})
    agent_host.run_pass()
    wait_until_serving(agent_host, a, "v0")
    others = [unique(f"other{i}") for i in range(5)]

    with Load(agent_host.http + "/", f"{a}.agent.test") as load:
        time.sleep(2)
        # Three passes, each mixing A's update with changes to other services.
        for other in others:
            agent_host.apply(other)
        agent_host.apply(a, env={"GREETING": "v1"})
        agent_host.run_pass()
        agent_host.apply(a, env={"GREETING": "v2"})
        agent_host.run_pass()
        agent_host.apply(a, env={"GREETING": "v3"})
        agent_host.delete(others[0])
        agent_host.run_pass()
        time.sleep(2)

    rate = load.total / load.seconds
    print(
        f"\nzero-downtime: {load.total} requests to {a} in {load.seconds:.1f} s "
        f"({rate:.0f}/s), failed or non-2xx: {load.failed}, outcomes {dict(load.outcomes)}, "
        f"greetings served {dict(load.bodies)}"
    )
    assert load.failed == 0, load.errors[:5]
    assert rate >= 100, f"the load was only {rate:.0f} requests/s"
    assert load.bodies["v3"] > 0, "the last update was never served"
    assert agent_host.get(others[0]).status_code == 404
    for other in others[1:]:
        assert agent_host.get(other).status_code == 200
    for name in [a, *others[1:]]:
        agent_host.delete(name)
    agent_host.run_pass()
