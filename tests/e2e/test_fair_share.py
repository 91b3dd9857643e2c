"""Fair share on the real host, with two real users: one user's burst of applies leaves room in
the pass for another user's single apply, and a change of the operator's containment defaults
redeploys the services it concerns (issue 11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
import requests
import yaml

from tests.e2e.test_agent import HELLO, agent_host, docker, domain  # noqa: F401

SCRIPT = os.path.join(os.path.dirname(sys.executable), "sws-apiserver")


def create_user(host, name: str) -> str:
    """A real user of the host, made as an administrator does; their token."""
    made = subprocess.run(
        [SCRIPT, "users", "create", name],
        env={**os.environ, "SWS_DATABASE_URL": host.database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


class User:
    def __init__(self, host, name: str):
        self.host, self.name = host, name
        self.token = create_user(host, name)

    def request(self, method: str, name: str, **kwargs) -> requests.Response:
        """This user's call on one of their services, with their own token."""
        return requests.request(
            method,
            f"{self.host.http}/v1/services/{name}",
            headers={"Host": self.host.api_domain, "Authorization": f"Bearer {self.token}"},
            timeout=15,
            **kwargs,
        )

    def service(self, name: str) -> dict:
        """The service as its owner sees it (a user's services are visible only to them)."""
        answer = self.request("GET", name)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def assert_running(self, name: str) -> None:
        found = self.service(name)
        assert found["status"] == "running", f"{found}\n{self.host.last_passes(3)}"

    def delete(self, name: str) -> None:
        answer = self.request("DELETE", name)
        assert answer.status_code == 202, answer.text

    def apply(self, name: str) -> None:
        spec = {"name": name, "port": 8080, "domain": domain(name), "image": HELLO}
        answer = self.request("PUT", name, json={"apiVersion": "v1", "spec": spec})
        assert answer.status_code == 201, answer.text


@pytest.fixture
def agent_config(agent_host):  # noqa: F811
    """Edit this session's agent.yml for one test; restored after."""
    saved = agent_host.config.read_text()

    def change(**settings):
        config = yaml.safe_load(saved)
        config.update(settings)
        agent_host.config.write_text(yaml.safe_dump(config))

    yield change
    agent_host.config.write_text(saved)
    # Back to the session's settings before the next test: a service this test's settings
    # started (another memory limit) is started again now, not in another test's pass.
    agent_host.run_pass()


def test_one_users_burst_leaves_room_for_anothers_apply(agent_host, agent_config):  # noqa: F811
    tag = uuid.uuid4().hex[:4]
    alice, bob = User(agent_host, f"alice-{tag}"), User(agent_host, f"bob-{tag}")
    burst = [f"fs{tag}-a{i}" for i in range(3)]
    for name in burst:  # oldest first
        alice.apply(name)
    bobs = f"fs{tag}-b"
    bob.apply(bobs)
    agent_config(deploys_per_user=1)

    agent_host.run_pass()
    # Bob's one apply went in the first pass beside alice's oldest, not after her burst.
    bob.assert_running(bobs)
    alice.assert_running(burst[0])
    for place, name in enumerate(burst[1:], start=1):
        waiting = alice.service(name)
        assert waiting["status"] == "pending"
        assert waiting["message"].startswith("queued: a pass deploys 1 services of one user")
        assert f"{place} of {alice.name}'s services go before this one" in waiting["message"]
    changed = agent_host.last_passes()[0]["changed"]
    assert changed["queued"] == burst[1:]

    agent_host.run_pass()
    agent_host.run_pass()
    assert all(alice.service(n)["status"] == "running" for n in burst)
    assert agent_host.get(burst[-1]).status_code == 200

    # The operator lowers the default memory limit: the services it concerns are started again
    # under it (the upgrade path of README.md, "Upgrading"), and keep serving.
    before = json.loads(docker("inspect", f"sws-svc-{bobs}-1"))[0]["HostConfig"]["Memory"]
    agent_config(deploys_per_user=0, service_memory="200Mi")
    agent_host.run_pass()
    after = json.loads(docker("inspect", f"sws-svc-{bobs}-1"))[0]["HostConfig"]["Memory"]
    assert (before, after) == (256 * 1024**2, 200 * 1024**2)
    bob.assert_running(bobs)
    assert agent_host.get(bobs).status_code == 200
    for name in burst:
        alice.delete(name)
    bob.delete(bobs)
    agent_host.run_pass()
