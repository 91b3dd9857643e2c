"""The agent when a part of the host fails: a route nginx refuses, a proxy or the load
balancer stopped or removed. Each fault is made for real on the bootstrapped host; the pass
must repair what it owns, fail only what is at fault, and say what it found.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.test_agent import SWS_AGENT, agent_host, docker, domain, unique  # noqa: F401
from tests.faults.harness import wait_for

pytestmark = pytest.mark.e2e


def status_of(container: str) -> str:
    return docker("inspect", "-f", "{{.State.Status}}", container, check=False).strip() or "missing"


def test_a_route_nginx_refuses_fails_alone(agent_host):  # noqa: F811
    # The proxies accept every domain the API accepts; to make nginx refuse one anyway, the
    # proxies' candidate configuration gets nginx's old server-name limits for this test.
    long_name, good = unique("long"), unique("good")
    long_host = ".".join([long_name, "x" * 63, "y" * 63, "agent.test"])
    saved = {p: agent_host.proxy_file(p, "test.conf") for p in agent_host.proxies}
    try:
        for proxy in agent_host.proxies:
            docker(
                "exec",
                proxy,
                "sed",
                "-i",
                "-e",
                "s/server_names_hash_bucket_size [0-9]*;/server_names_hash_bucket_size 64;/",
                "-e",
                "s/server_names_hash_max_size [0-9]*;/server_names_hash_max_size 512;/",
                "/etc/nginx/sws/test.conf",
            )
        agent_host.apply(long_name, host=long_host)
        agent_host.apply(good)
        result = agent_host.run_pass(check=False)
        assert result.returncode == 0, result.stderr
    finally:
        for proxy, text in saved.items():
            subprocess.run(
                ["docker", "exec", "-i", proxy, "sh", "-c", "cat > /etc/nginx/sws/test.conf"],
                input=text,
                text=True,
                check=True,
            )
    refused = agent_host.service(long_name)
    assert refused["status"] == "failed"
    assert "[emerg] could not build server_names_hash" in refused["message"]
    agent_host.assert_running(good)
    assert agent_host.get(good).status_code == 200
    assert agent_host.get(long_name, host=long_host).status_code == 404
    assert long_name in agent_host.last_passes()[0]["changed"]["refused"]
    agent_host.delete(long_name)
    agent_host.delete(good)


def test_a_stopped_proxy_is_started_and_brought_up_to_date_before_it_serves(agent_host):  # noqa: F811
    stopped = agent_host.proxies[1]
    name = unique("whiledown")
    agent_host.run_pass()
    docker("stop", stopped)
    agent_host.apply(name)
    agent_host.run_pass()

    assert status_of(stopped) == "running"
    agent_host.assert_running(name)
    assert domain(name) in agent_host.proxy_file(stopped, "live/routes.applied")
    assert set(agent_host.haproxy_states().values()) == {"ready"}
    last = agent_host.last_passes()[0]
    assert stopped in last["changed"]["down"] and stopped in last["changed"]["revived"]
    for _ in range(10):  # both proxies serve it
        assert agent_host.get(name).status_code == 200
    agent_host.delete(name)


def test_a_removed_proxy_and_a_stopped_load_balancer_come_back(agent_host):  # noqa: F811
    removed = agent_host.proxies[0]
    name = unique("rebuilt")
    agent_host.apply(name)
    agent_host.run_pass()
    docker("rm", "-f", removed)
    docker("stop", "sws-loadbalancer")
    result = agent_host.run_pass(check=False)
    assert result.returncode == 0, result.stderr

    assert status_of(removed) == "running"
    assert status_of("sws-loadbalancer") == "running"
    assert wait_for(lambda: set(agent_host.haproxy_states().values()) == {"ready"})
    last = agent_host.last_passes()[0]
    assert {removed, "sws-loadbalancer"} <= set(last["changed"]["revived"])
    assert wait_for(lambda: agent_host.get(name).status_code == 200)
    assert domain(name) in agent_host.proxy_file(removed, "live/routes.applied")
    agent_host.delete(name)


def agent(host, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SWS_AGENT, *args, "--config", str(host.config)],
        capture_output=True,
        text=True,
        env=host.env(),
        timeout=120,
    )


def test_status_and_the_pause_switch(agent_host):  # noqa: F811
    name = unique("paused")
    assert agent(agent_host, "pause", "--reason", "e2e").returncode == 0
    try:
        agent_host.apply(name)
        agent_host.run_pass(check=False)  # paused: it runs no pass
        assert agent_host.service(name)["status"] == "pending"
        shown = agent(agent_host, "status").stdout
        assert "agent: paused since" in shown and "e2e" in shown
        lines = shown.splitlines()
        for proxy in agent_host.proxies:
            assert any(
                line.split()[:2] == [proxy, "running,"] and line.endswith("in HAProxy: ready")
                for line in lines
            ), shown
        assert "last passes:" in shown
    finally:
        assert agent(agent_host, "resume").returncode == 0
    agent_host.run_pass()
    agent_host.assert_running(name)
    agent_host.delete(name)
