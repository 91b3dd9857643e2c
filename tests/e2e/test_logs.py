"""Logs and live status end to end: a real service prints lines, the host's log shipper (started
by the bootstrap) ships them, and `swsctl` reads them through the load balancer and the API.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.e2e import test_agent

pytestmark = pytest.mark.e2e

agent_host = test_agent.agent_host  # the bootstrapped host, with cron's agent held off
SWSCTL = os.path.join(os.path.dirname(sys.executable), "swsctl")
WAIT = 60  # seconds an eventual state may take on a loaded machine (not a timing assertion)


def swsctl_env(host) -> dict:
    port = "" if host.http.endswith(":80") else ":" + host.http.rsplit(":", 1)[1]
    return {
        **os.environ,
        "SWS_URL": f"http://{host.api_domain}{port}",
        "SWS_TOKEN": host.token,
        "XDG_CONFIG_HOME": "/nonexistent",
    }


def visit(host, name: str, path: str) -> None:
    """One request to the service: hello prints an access line with the path."""
    answer = requests.get(host.http + path, headers={"Host": test_agent.domain(name)}, timeout=10)
    assert answer.status_code == 200, answer.text + host.explain(name)


def until(check, what: str):
    deadline = time.monotonic() + WAIT
    while not (result := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return result


def test_logs_show_a_services_lines_and_follow_it_across_an_update(agent_host):
    name = test_agent.unique("logs")
    env = swsctl_env(agent_host)
    try:
        agent_host.apply(name, env={"GREETING": "one"})
        agent_host.run_pass()
        visit(agent_host, name, "/marker-generation-1")

        def printed(*args):
            run = subprocess.run(
                [SWSCTL, "logs", name, *args], env=env, capture_output=True, text=True, timeout=60
            )
            assert run.returncode == 0, run.stderr
            return run.stdout

        until(lambda: "/marker-generation-1" in printed(), "the service's line is not shown")
        with subprocess.Popen(
            [SWSCTL, "logs", name, "-f", "--tail", "1", "--prefix"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ) as follower:  # fmt: skip
            seen: list[str] = []
            reader = threading.Thread(target=lambda: seen.extend(follower.stdout), daemon=True)
            reader.start()
            try:
                until(lambda: seen, "the follow prints nothing")
                agent_host.apply(name, env={"GREETING": "two"})
                agent_host.run_pass()
                visit(agent_host, name, "/marker-generation-2")
                line = until(
                    lambda: next((x for x in seen if "/marker-generation-2" in x), None),
                    "the follow does not go on to the new generation",
                )
                assert line.startswith(f"sws-svc-{name}-2 | ")
                get = subprocess.run(
                    [SWSCTL, "get", name], env=env, capture_output=True, text=True, timeout=60
                )
                assert "/marker-generation-2" in get.stdout  # the last log line, shipped
                assert "Restarts:" in get.stdout and "running (for" in get.stdout
                # Marked for deletion is enough for the stream to end; the removal itself is
                # left to the next pass (each pass costs seconds).
                agent_host.delete(name, purge=True)
                assert follower.wait(timeout=WAIT) == 0
            finally:
                follower.kill()
    finally:
        agent_host.delete(name, purge=True)
