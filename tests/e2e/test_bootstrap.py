"""The bootstrap, end to end: the playbook turns this machine's engine into an SWS host whose
parts answer, are segmented as ARCHITECTURE.md says, survive a proxy going away, and a second
run changes nothing."""

from __future__ import annotations

import socket
import stat
import subprocess
import time
from pathlib import Path

import psycopg2
import pytest
import requests

from swsagent.collection import haproxy as runtime

pytestmark = pytest.mark.e2e


def proxy_states(host) -> dict[str, str]:
    """Server -> status (UP, DOWN, MAINT ...) of the proxies' backend, from `show stat`
    (through the one HAProxy client, the sws.host collection's)."""
    rows = runtime().stats(host.haproxy_socket, host.settings["sws_haproxy_backend"])
    return {server: row["status"] for server, row in rows.items()}


def wait_for_states(host, wanted, timeout=30.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        states = proxy_states(host)
        if wanted(states) or time.monotonic() > deadline:
            return states
        time.sleep(0.25)


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def host_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback (docker bridges included)."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=True).stdout
    return [a for a in out.split() if ":" not in a and not a.startswith("127.")]


def test_api_health_answers_through_the_load_balancer(bootstrapped_host):
    for host_header in (bootstrapped_host.api_domain, f"{bootstrapped_host.api_domain}:80"):
        answer = requests.get(
            f"{bootstrapped_host.base_url}/v1/health", headers={"Host": host_header}, timeout=5
        )
        assert answer.status_code == 200, host_header
        assert answer.json() == {"status": "ok"}


def test_the_first_admin_token_works_and_is_kept_root_only(bootstrapped_host):
    answer = requests.get(
        f"{bootstrapped_host.base_url}/v1/whoami", headers=bootstrapped_host.api_headers, timeout=5
    )
    assert answer.status_code == 200
    assert answer.json() == {"name": "admin", "admin": True}
    etc = Path(bootstrapped_host.settings["sws_etc_dir"])
    for name in ("admin-token", "confdb-password", "agent.yml"):
        assert stat.S_IMODE((etc / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(etc.stat().st_mode) == 0o700


def test_the_web_view_signs_in_on_the_api_domain_with_the_kept_session_key(bootstrapped_host):
    """The page and a cookie session through the load balancer: the bootstrap made the key
    once, root-only on the host, and the apiserver (as nobody) reads it from its mount."""
    api = {"Host": bootstrapped_host.api_domain}
    page = requests.get(f"{bootstrapped_host.base_url}/", headers=api, timeout=5)
    assert page.status_code == 200 and 'src="/ui/static/app.js"' in page.text
    token = bootstrapped_host.api_headers["Authorization"].removeprefix("Bearer ")
    with requests.Session() as browser:
        browser.headers.update(api)
        signed_in = browser.post(
            f"{bootstrapped_host.base_url}/v1/session", json={"token": token}, timeout=5
        )
        assert signed_in.status_code == 200, signed_in.text
        assert "HttpOnly" in signed_in.headers["Set-Cookie"]
        whoami = browser.get(f"{bootstrapped_host.base_url}/v1/whoami", timeout=5)
        assert whoami.json()["name"] == "admin"
    key = Path(bootstrapped_host.settings["sws_etc_dir"]) / "apiserver-secret-key"
    info = key.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o440, 0, 65534)
    assert len(key.read_text().strip()) >= 32


def test_an_unknown_host_gets_the_proxies_404(bootstrapped_host):
    answer = requests.get(
        f"{bootstrapped_host.base_url}/", headers={"Host": "nobody-here.example"}, timeout=5
    )
    assert answer.status_code == 404
    assert "no service is configured for host 'nobody-here.example'" in answer.text


def test_confdb_accepts_the_agents_credentials_on_loopback(bootstrapped_host):
    assert "@127.0.0.1:" in bootstrapped_host.database_url
    with psycopg2.connect(bootstrapped_host.database_url, connect_timeout=5) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM users WHERE is_admin")
            assert cur.fetchone()[0] >= 1
    conn.close()


def test_confdb_refuses_connections_on_the_hosts_other_addresses(bootstrapped_host):
    port = int(bootstrapped_host.settings["sws_confdb_host_port"])
    addresses = host_addresses()
    assert addresses, "this machine has no non-loopback address to try"
    for address in addresses:
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=3):
            pass


def test_a_service_container_cannot_reach_the_control_plane(bootstrapped_host):
    settings = bootstrapped_host.settings
    confdb_ip = docker(
        "inspect",
        "-f",
        f'{{{{(index .NetworkSettings.Networks "{settings["sws_control_network"]}").IPAddress}}}}',
        settings["sws_confdb_container"],
    ).stdout.strip()
    assert confdb_ip
    gateway = docker(
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        settings["sws_services_network"],
    ).stdout.strip()
    assert gateway
    ingress = (gateway, int(settings["sws_http_port"]))
    targets = [
        (settings["sws_confdb_container"], 5432),
        (confdb_ip, 5432),
        (settings["sws_apiserver_container"], int(settings["sws_apiserver_port"])),
        # The positive control: the same container does reach the host's ingress.
        ingress,
    ]
    probe = (
        "import socket, sys\n"
        "for target in sys.argv[1:]:\n"
        "    host, port = target.rsplit(':', 1)\n"
        "    try:\n"
        "        socket.create_connection((host, int(port)), timeout=2).close()\n"
        "        print(target, 'open')\n"
        "    except OSError as err:\n"
        "        print(target, 'closed', type(err).__name__)\n"
    )
    result = docker(
        "run",
        "--rm",
        "--network",
        settings["sws_services_network"],
        bootstrapped_host.images["python"],
        "python3",
        "-c",
        probe,
        *[f"{h}:{p}" for h, p in targets],
    )
    assert result.returncode == 0, result.stderr
    verdicts = dict(line.split(" ", 2)[:2] for line in result.stdout.splitlines())
    assert verdicts == {
        f"{settings['sws_confdb_container']}:5432": "closed",
        f"{confdb_ip}:5432": "closed",
        f"{settings['sws_apiserver_container']}:{settings['sws_apiserver_port']}": "closed",
        f"{ingress[0]}:{ingress[1]}": "open",
    }


def test_the_load_balancer_and_proxies_join_no_bridge(bootstrapped_host):
    """They share the host's network namespace and meet on unix sockets (ARCHITECTURE.md)."""
    settings = bootstrapped_host.settings
    for name in [settings["sws_loadbalancer_container"], *settings["sws_proxy_containers"]]:
        assert docker("inspect", "-f", "{{.HostConfig.NetworkMode}}", name).stdout.strip() == "host"
    for proxy in settings["sws_proxy_containers"]:
        sockets = Path(settings["sws_proxy_socket_dir"], proxy)
        assert {p.name for p in sockets.iterdir()} == {
            settings["sws_proxy_http_socket"],
            settings["sws_proxy_health_socket"],
            settings["sws_proxy_https_socket"],  # issue 15: TLS passed through from HAProxy
        }


def test_both_proxies_are_up_in_haproxy(bootstrapped_host):
    states = wait_for_states(bootstrapped_host, lambda s: set(s.values()) == {"UP"})
    assert states == {name: "UP" for name in bootstrapped_host.settings["sws_proxy_containers"]}


def test_the_agent_is_installed_and_scheduled(bootstrapped_host):
    settings = bootstrapped_host.settings
    agent = Path(settings["sws_agent_venv"]) / "bin" / "sws-agent"
    assert subprocess.run([agent, "--help"], capture_output=True).returncode == 0
    cron = Path("/etc/cron.d/sws-agent").read_text()
    log = "--log-file /var/log/sws-agent.log"
    assert (
        f"flock -n {settings['sws_agent_state_dir']}/cron.lock {agent} {log} run --config" in cron
    )
    # The watching agent, started again by cron whenever it is not running.
    assert f"flock -n {settings['sws_agent_state_dir']}/watch.lock {agent} {log} watch" in cron
    assert subprocess.run(["pgrep", "--exact", "cron"], capture_output=True).returncode == 0
    project = Path(bootstrapped_host.agent_config["project_dir"])
    assert (project / "playbooks" / "bootstrap.yml").exists()
    assert (project / "inventory" / "group_vars" / "all" / "sws.yml").exists()


def test_a_second_bootstrap_changes_nothing(bootstrapped_host):
    again = bootstrapped_host.run_playbook("bootstrap.yml").check()
    assert again.changed == 0, again.output[-3000:]


def test_stopping_a_proxy_leaves_requests_answered(bootstrapped_host):
    proxies = bootstrapped_host.settings["sws_proxy_containers"]
    stopped, other = proxies
    wait_for_states(bootstrapped_host, lambda s: set(s.values()) == {"UP"})
    session = requests.Session()

    def answers(count: int) -> list[int]:
        return [
            session.get(
                f"{bootstrapped_host.base_url}/", headers={"Host": "failover.example"}, timeout=5
            ).status_code
            for _ in range(count)
        ]

    assert docker("stop", "--time", "5", stopped).returncode == 0
    try:
        # Before and after HAProxy's checks notice: every request gets the other proxy's 404.
        during = answers(50)
        states = wait_for_states(
            bootstrapped_host, lambda s: not s[stopped].startswith("UP"), timeout=15
        )
        after = answers(50)
        assert states[stopped].startswith(("DOWN", "MAINT")), states
        assert states[other] == "UP"
        assert set(during) == {404} and set(after) == {404}
    finally:
        assert docker("start", stopped).returncode == 0
        restored = wait_for_states(bootstrapped_host, lambda s: set(s.values()) == {"UP"})
    assert restored == {name: "UP" for name in proxies}
