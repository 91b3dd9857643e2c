"""Stack operations: `make down` then `make up` keeps every service and its data.

`make down` is the teardown playbook without purge; `make up` is the bootstrap (then the
agent brings the services back). Here the agent's pass is run directly: cron's agent is held
off for the whole e2e session (see test_agent.agent_host).
"""

from __future__ import annotations

import subprocess
import time

import pytest
import requests

from tests.e2e import test_agent

pytestmark = pytest.mark.e2e

agent_host = test_agent.agent_host


def shipper_runs(lock: str) -> bool:
    return subprocess.run(["flock", "--nonblock", lock, "true"]).returncode != 0


def shipper_starts(lock: str, seconds: float = 20.0) -> bool:
    """The bootstrap starts the shipper in the background (setsid): it takes its lock once its
    interpreter has started, a moment after the bootstrap returns."""
    deadline = time.monotonic() + seconds
    while not shipper_runs(lock):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_down_then_up_keeps_every_service_and_its_data(agent_host, bootstrapped_host):
    name = test_agent.unique("keep")
    lock = bootstrapped_host.settings["sws_logship_lock"]
    try:
        agent_host.apply(name, volume="/data")
        agent_host.run_pass()
        container = f"sws-svc-{name}-1"
        test_agent.docker("exec", "-u", "root", container, "sh", "-c", "echo kept > /data/f")
        assert shipper_starts(lock)

        bootstrapped_host.run_playbook("teardown.yml").check()
        assert not test_agent.containers_of(name)
        assert not shipper_runs(lock)

        bootstrapped_host.run_playbook("bootstrap.yml").check()
        assert shipper_starts(lock)
        agent_host.run_pass()
        answer = requests.get(
            agent_host.http + "/", headers={"Host": test_agent.domain(name)}, timeout=10
        )
        assert answer.status_code == 200, answer.text + agent_host.explain(name)
        (back,) = test_agent.containers_of(name)
        assert test_agent.docker("exec", back, "cat", "/data/f") == "kept\n"
        agent_host.assert_running(name)
    finally:
        agent_host.delete(name, purge=True)  # removed by the next pass
