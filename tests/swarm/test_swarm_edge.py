"""The edge on the swarm (issue 28): roles/sws_proxy with `sws_proxy_network` a bridge of the
proxies' own instead of the host's namespace, run by ansible-playbook against the fixture's
manager as the bootstrap runs on an SWS host that is the manager: DOCKER_HOST is the
manager's socket, and the role's paths (the proxies' volumes, their sockets) lie in the
fixture's manager_dir, the same path on the host and in the node. The proxy it makes joins a
service's edge overlay, serves the route the agent's renderer writes to the tasks' overlay
addresses through its unix socket, and, removed and made again by the role, is back on the
overlay and serving without a deploy.

Everything lives in the fixture's manager and goes at the end of the module.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from swsagent import collection
from swsagent.plan import Route
from swsagent.render import routes_conf
from tests.fixtures.contract import repo_contract, repo_names
from tests.swarm import leftovers
from tests.swarm.test_generations import HELLO, ensure_images, spec

engine_api = collection.engine()
generations = collection.module_utils("swarmgeneration")
swarmedge = collection.module_utils("swarmedge")
swarmspec = collection.module_utils("swarmspec")

ROOT = Path(__file__).resolve().parents[2]
LABELS = "swe"  # a label prefix of its own: only this module's overlays are the proxy's
SERVICE = "swe-web"
DOMAIN = "web.swe.test"
PROXY = "swe-proxy-1"
NETWORK = "swe-proxies"


def proxy_playbook(swarm, home: Path) -> Path:
    """The bootstrap's proxy play alone, run here against the manager's engine as on an SWS
    host that is the manager (its paths in the fixture's manager_dir, the same in the node),
    with sws.yml and images.yml as the bootstrap reads them and this test's names and paths
    over them (extra vars: above the files)."""
    group_vars = [str(p) for p in sorted((ROOT / "inventory/group_vars/all").glob("*.yml"))]
    play = {
        "name": "The proxies on a bridge of their own",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars_files": group_vars,
        "roles": [{"role": "sws_proxy"}],
    }
    path = home / "edge.yml"
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    overrides = {
        "sws_proxy_containers": [PROXY],
        "sws_proxy_network": NETWORK,
        "sws_proxy_label_prefix": LABELS,
        "sws_proxy_socket_dir": str(swarm.manager_dir / "proxies"),
        "sws_apiserver_socket_dir": str(swarm.manager_dir / "apiserver"),
        "ansible_python_interpreter": sys.executable,
        "sws_proxy_image": repo_contract().offline_images_names["nginx"],
    }
    (home / "overrides.json").write_text(json.dumps(overrides))
    return path


def run_role(swarm, playbook: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "ANSIBLE_CONFIG": str(ROOT / "playbooks/ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "playbooks/collections"),
        # The manager's engine; nginx -t's throwaway container there mounts the candidate
        # file from Ansible's temporary directory, which must be a path the node sees too.
        "DOCKER_HOST": f"unix://{swarm.manager_socket}",
        "ANSIBLE_REMOTE_TMP": str(swarm.manager_dir / "ansible-tmp"),
    }
    overrides = f"@{playbook.parent / 'overrides.json'}"
    command = ["ansible-playbook", "-i", "localhost,", "-e", overrides, str(playbook)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done


def ask(swarm, path: str = "/", host: str = DOMAIN) -> tuple[int, bytes]:
    """A request on the proxy's routes socket, as HAProxy sends it (the client's address in
    X-SWS-Client)."""
    sock_path = swarm.manager_dir / "proxies" / PROXY / "http.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(sock_path))
        head = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-SWS-Client: 192.0.2.7\r\n"
        sock.sendall(head.encode() + b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def answers_within(swarm, seconds: float = 30.0) -> bytes:
    deadline = time.monotonic() + seconds
    while True:
        try:
            status, body = ask(swarm)
            if status == 200:
                return body
            last = f"{status} {body[:300]!r}"
        except OSError as err:
            last = repr(err)
        assert time.monotonic() < deadline, f"the route never answered 200; last: {last}"
        time.sleep(0.3)


def write_route(manager, addresses: list[str]) -> None:
    """The agent's renderer's route to the tasks' overlay addresses, made live in the proxy
    (what the pass's roll writes, tested and reloaded)."""
    route = Route(DOMAIN, SERVICE, addresses[0], 8080, more_addresses=tuple(addresses[1:]))
    conf = routes_conf([route], repo_names())
    live = f"{repo_contract().proxy_conf_mount}/live/routes.conf"
    script = f'printf "%s" "$1" > {live} && nginx -q -t -c {live.rsplit("/", 2)[0]}/nginx.conf'
    script += f" && nginx -c {live.rsplit('/', 2)[0]}/nginx.conf -s reload"
    assert manager.run_in(PROXY, ["sh", "-c", script, "sh", conf]) == 0


@pytest.fixture(scope="module")
def manager(swarm, joined):
    engine = engine_api.Engine(swarm.manager_socket, 30)
    ensure_images(swarm, [HELLO], manager=[repo_contract().offline_images_names["nginx"]])
    yield engine
    engine.remove(PROXY, force=True)
    leftovers.remove(engine, f"{LABELS}-svc-", (f"{LABELS}-", NETWORK))
    try:
        engine.call("DELETE", f"/volumes/{PROXY}{repo_contract().proxy_conf_volume_suffix}")
    except engine_api.EngineError as err:
        assert err.status == 404, err


def test_the_role_puts_the_proxy_on_its_bridge_and_the_edge_reaches_the_tasks(
    swarm, manager, tmp_path
):
    timings = {}
    playbook = proxy_playbook(swarm, tmp_path)
    started = time.monotonic()
    run_role(swarm, playbook)
    timings["role, first run"] = round(time.monotonic() - started, 1)
    detail = manager.inspect(PROXY)
    assert detail["HostConfig"]["NetworkMode"] == NETWORK
    bridge = manager.call("GET", f"/networks/{NETWORK}")
    assert bridge["Internal"] is True
    assert bridge["Options"]["com.docker.network.bridge.enable_icc"] == "false"

    # A 2-replica generation with a domain: the deploy's edge step joins the proxy to its
    # overlay (swarm_generation's), the route goes to its tasks' addresses there.
    generation = swarmspec.SwarmGeneration(
        spec(1, service=SERVICE, container=f"sws-svc-{SERVICE}-1", domain=DOMAIN, replicas=2,
             label_prefix=LABELS)
    )  # fmt: skip
    assert swarmedge.attach(manager, generation, [PROXY]) == {PROXY: "connected"}
    addresses = generations.deploy(manager, generation, swarm.report_image, timeout=90)
    write_route(manager, addresses)
    assert b'"gen1"' in answers_within(swarm)
    status, _ = ask(swarm, host="unknown.swe.test")
    assert status != 200  # only the route's domain reaches the service

    # The proxy removed (what a crash that takes the container does) and the role run again
    # (the bootstrap again, or the pass's revival: the same container task file): back on the
    # overlay by the role itself, serving the route its volume kept.
    manager.remove(PROXY, force=True)
    started = time.monotonic()
    done = run_role(swarm, playbook)
    timings["role, proxy made again"] = round(time.monotonic() - started, 1)
    assert generation.edge_network in manager.inspect(PROXY)["NetworkSettings"]["Networks"]
    assert "Join the proxies to the services' edge overlays" in done.stdout
    assert b'"gen1"' in answers_within(swarm)
    print(f"\nswarm edge timings (s): {timings}")
