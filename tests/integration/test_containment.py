"""Containment on the real engine: two real users' services, applied through the API and
deployed by the agent's pass (real PostgreSQL, Docker and ansible-runner), on a services
network made as the bootstrap makes it (role sws_network: inter-container traffic off).

- no service reaches another service's container; the host (where the proxies run) reaches all
- no raw socket in a service container (NET_RAW dropped with every capability but a few)
- the limits (default and the spec's resources) are in docker inspect
- a bounded fork and memory burst in one service leaves the other serving
- an existing services network without the option is recreated by the role, and the agent's
  next pass starts the disconnected service again, contained (the upgrade path)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
import requests

from swsagent.config import SERVICE_CAPABILITIES, config_from_mapping
from swsagent.lock import pass_lock
from swsagent.reconcile import reconcile_once
from swsapi import auth
from tests.fixtures.store import Store
from tests.integration.conftest import dispose, migrated_app
from tests.integration.test_agent_pass import docker, engine_lock, hello_image  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's ansible-playbook
LABELS = "swsiso"  # our own label prefix: no other agent's containers are touched
ICC = "com.docker.network.bridge.enable_icc"
# Bursts in one container, each capped in count and by `timeout 30` in time: spawn processes
# until the pids limit refuses one (at most 2,000), then kill them; write 16 MiB at a time
# until the memory limit stops it (at most 1 GiB).
FORK_BURST = """
import os, signal
children, refused = [], False
for _ in range(2000):
    try:
        children.append(os.posix_spawn("/bin/sleep", ["sleep", "30"], os.environ))
    except OSError:
        refused = True
        break
print("spawned", len(children), "refused", refused, flush=True)
for pid in children:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
"""
MEMORY_BURST = """
hog = []
for _ in range(64):
    hog.append(bytearray(b"x") * (16 * 2**20))
    print("allocated MiB", 16 * len(hog), flush=True)
"""


def run_role_network(name: str) -> None:
    """The bootstrap's sws_network role, for our network only (both names ours)."""
    playbook = Path("/tmp") / f"sws-iso-net-{uuid.uuid4().hex[:6]}.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: sws_network\n"
        f"      sws_network_control: {name}-ctl\n      sws_network_services: {name}\n"
        # Its own Linux bridge name (at most 15 characters), never the host's sws-services.
        "      sws_network_services_options:\n"
        '        com.docker.network.bridge.enable_icc: "false"\n'
        f"        com.docker.network.bridge.name: swsiso{uuid.uuid4().hex[:6]}\n"
    )
    try:
        subprocess.run(
            [str(BIN / "ansible-playbook"), str(playbook)],
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO / "playbooks",
            env={
                "PATH": f"{BIN}:/usr/bin:/bin",
                "ANSIBLE_CONFIG": str(REPO / "playbooks" / "ansible.cfg"),
                "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
                "ANSIBLE_LOCALHOST_WARNING": "0",
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            },
        )
    finally:
        playbook.unlink()


@pytest.fixture(scope="module")
def world(pg_server, engine_lock, hello_image):  # noqa: F811
    """A migrated store with alice and bob, and an agent config on a fresh services network
    that starts without the icc option (as on a host made before it)."""
    name = "sws-isotest-" + uuid.uuid4().hex[:6]
    docker("network", "create", name)
    database = "iso_" + uuid.uuid4().hex[:8]
    url = pg_server.create_database(database)
    app = migrated_app(url, SWS_MAX_MEMORY="256Mi", SWS_MAX_CPUS="1")
    with app.app_context():
        tokens = {user: auth.create_user(user) for user in ("alice", "bob")}
        tokens["root"] = auth.create_user("root", admin=True)
    tmp = Path("/tmp") / f"sws-isotest-{uuid.uuid4().hex[:6]}"
    config = config_from_mapping(
        {
            "database_url": url,
            "project_dir": str(REPO),
            "state_dir": str(tmp),
            "ready_timeout": 10,
            "stop_timeout": 2,
            "names": {"services_network": name, "proxies": [], "label_prefix": LABELS},
        }
    )
    yield {"app": app, "tokens": tokens, "config": config, "network": name, "image": hello_image}
    for cid in docker("ps", "-aq", "--filter", f"label={LABELS}.service").split():
        docker("rm", "-f", cid, check=False)
    docker("network", "rm", name, f"{name}-ctl", check=False)
    dispose(app)
    pg_server.drop_database(database)
    subprocess.run(["rm", "-rf", str(tmp)], check=False)


def api(world, user, method, path, **kwargs):
    client = world["app"].test_client()
    headers = {"Authorization": f"Bearer {world['tokens'][user]}"}
    return client.open(path, method=method, headers=headers, **kwargs)


def apply(world, user, name, expect=(200, 201), **extra):
    spec = {"name": name, "port": 8080, "domain": f"{name}.test", "image": world["image"]}
    spec.update(extra)
    document = {"apiVersion": "v1", "spec": spec}
    answer = api(world, user, "PUT", f"/v1/services/{name}", json=document)
    assert answer.status_code in expect, answer.get_json()
    return answer.get_json()


def passes_until_settled(config, seconds: float = 30.0) -> dict:
    """Passes until no container stops in the background (a deleted service's record goes in
    the pass that sees its container gone); what they changed, merged."""
    changed: dict = {}
    deadline = time.monotonic() + seconds
    while True:
        report = one_pass(config)
        changed.update(report.changed)
        if "stopping" not in report.changed or time.monotonic() > deadline:
            return changed
        time.sleep(0.2)


def one_pass(config):
    conn = psycopg2.connect(config.database_url)
    try:
        with pass_lock(config.database_url):
            return reconcile_once(config, conn)
    finally:
        conn.close()


def inspect(container) -> dict:
    return json.loads(docker("inspect", container))[0]


def address(world, container) -> str:
    return inspect(container)["NetworkSettings"]["Networks"][world["network"]]["IPAddress"]


def python_in(container, code, timeout=40) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "exec", container, "timeout", "30", "python3", "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def legacy_container(world, name: str) -> None:
    """A service container as an agent before containment ran it (no limits, every default
    capability, no containment label), recorded as running in the store."""
    Store(world["app"], world["config"].database_url).mark_running(name, 1)
    with psycopg2.connect(world["config"].database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT spec_digest FROM services WHERE name = %s", (name,))
        (digest,) = cur.fetchone()
    conn.close()
    labels = {"service": name, "generation": "1", "spec-digest": digest}
    labels.update({"domain": f"{name}.test", "port": "8080"})
    label_args = [arg for k, v in labels.items() for arg in ("--label", f"{LABELS}.{k}={v}")]
    docker("run", "-d", "--name", f"sws-svc-{name}-1", "--network", world["network"],
           *label_args, world["image"])  # fmt: skip


@pytest.fixture(scope="module")
def deployed(world):
    """A host before the upgrade: bob's `iso-b` runs uncontained on a services network with
    inter-container traffic on. The bootstrap's role recreates the network (icc off), and one
    agent pass starts iso-b again, contained, beside alice's new `iso-a` (resources 64Mi and
    0.25 CPU; iso-b has the operator's defaults)."""
    apply(world, "bob", "iso-b")
    legacy_container(world, "iso-b")

    run_role_network(world["network"])
    options = json.loads(docker("network", "inspect", world["network"]))[0]["Options"]
    assert options.get(ICC) == "false"

    apply(world, "alice", "iso-a", resources={"memory": "64Mi", "cpus": "0.25"})
    report = one_pass(world["config"])
    assert sorted(report.changed.get("deployed", [])) == ["iso-a", "iso-b"], report.summary()
    return {"a": "sws-svc-iso-a-1", "b": "sws-svc-iso-b-1"}


def test_no_service_reaches_another_but_the_host_reaches_both(world, deployed):
    b_address = address(world, deployed["b"])
    probe = python_in(
        deployed["a"],
        "import socket\n"
        "s = socket.socket(); s.settimeout(3)\n"
        f"print('connected' if s.connect_ex(({b_address!r}, 8080)) == 0 else 'refused')\n",
    )
    assert probe.stdout.strip() == "refused", probe.stdout + probe.stderr
    for name in ("a", "b"):  # the proxies run in the host's namespace: they reach every service
        assert requests.get(f"http://{address(world, deployed[name])}:8080/", timeout=5).ok


def test_no_raw_socket_in_a_service(deployed):
    probe = python_in(
        deployed["b"],
        "import socket\n"
        "try:\n"
        "    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n"
        "    print('raw socket opened')\n"
        "except PermissionError as err:\n"
        "    print('refused', err.errno)\n",
    )
    assert probe.stdout.strip() == "refused 1", probe.stdout + probe.stderr


def test_the_limits_and_capabilities_are_on_the_containers(world, deployed):
    a, b = (inspect(deployed[k])["HostConfig"] for k in ("a", "b"))
    assert (a["Memory"], a["MemorySwap"], a["NanoCpus"]) == (64 * 2**20, 64 * 2**20, 25 * 10**7)
    assert (b["Memory"], b["NanoCpus"]) == (256 * 2**20, 5 * 10**8)  # the operator's defaults
    for host in (a, b):
        assert host["PidsLimit"] == 256  # the operator's default
        assert host["CapDrop"] == ["ALL"]
        kept = {c.removeprefix("CAP_") for c in host["CapAdd"]}
        assert kept == set(SERVICE_CAPABILITIES) and "NET_RAW" not in kept
        assert host["SecurityOpt"] == ["no-new-privileges"]
    labels = inspect(deployed["a"])["Config"]["Labels"]
    assert len(labels[f"{LABELS}.containment"]) == 16


def test_a_fork_and_memory_burst_in_one_service_leaves_the_other_serving(world, deployed):
    b_url = f"http://{address(world, deployed['b'])}:8080/"
    outputs = []
    answers = []
    for code in (FORK_BURST, MEMORY_BURST):
        burst = subprocess.Popen(
            ["docker", "exec", deployed["a"], "timeout", "30", "python3", "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        while burst.poll() is None and len(answers) < 400:
            answers.append(requests.get(b_url, timeout=10).status_code)
        outputs.append((burst.communicate(timeout=60)[0], burst.returncode))
    answers.append(requests.get(b_url, timeout=10).status_code)
    assert set(answers) == {200}, answers

    # Each burst was stopped by a limit, not by its own cap: the pids limit refused a process
    # (256 in all, hello's own included), and the OOM killer (137) ended the writer long
    # before the 1 GiB it asked for.
    (spawned, spawn_rc), (allocated, alloc_rc) = outputs
    count, refused = spawned.split()[1], spawned.split()[3]
    assert (spawn_rc, refused) == (0, "True") and int(count) < 256, spawned
    assert alloc_rc == 137 and allocated.split()[-1] in ("16", "32", "48"), allocated
    # alice's service itself lost only the burst: its own server still answers.
    assert requests.get(f"http://{address(world, deployed['a'])}:8080/", timeout=10).ok


def volume_labels(name: str) -> dict | None:
    found = subprocess.run(["docker", "volume", "inspect", name], capture_output=True, text=True)
    return json.loads(found.stdout)[0]["Labels"] if found.returncode == 0 else None


def status(world, user, name) -> dict:
    return api(world, user, "GET", f"/v1/services/{name}").get_json()


@pytest.fixture
def volumes():
    names = ["iso-v-volume", "iso-old-volume"]
    for name in names:
        docker("volume", "rm", "-f", name, check=False)
    yield
    for name in names:
        docker("volume", "rm", "-f", name, check=False)


def test_a_kept_volume_stays_its_owners_until_an_administrator_purges_it(world, volumes):
    apply(world, "alice", "iso-v", volumeMount="/data")
    one_pass(world["config"])
    labels = {f"{LABELS}.service": "iso-v", f"{LABELS}.owner": "alice"}
    assert volume_labels("iso-v-volume") == labels
    # As root: the image's user cannot write to a fresh volume (root's, 0755).
    docker("exec", "-u", "0", "sws-svc-iso-v-1", "sh", "-c", "echo alice-secret > /data/secret")
    api(world, "alice", "DELETE", "/v1/services/iso-v")
    assert passes_until_settled(world["config"]).get("forgotten") == ["iso-v"]
    assert volume_labels("iso-v-volume") is not None  # kept: deleted without purge

    refused = apply(world, "bob", "iso-v", expect=(409,), volumeMount="/data")
    assert "kept volume iso-v-volume" in refused["error"]["message"]
    assert api(world, "root", "DELETE", "/v1/volumes/iso-v-volume").status_code == 202
    report = one_pass(world["config"])
    assert report.changed.get("purged") == ["iso-v"], report.summary()
    assert volume_labels("iso-v-volume") is None

    apply(world, "bob", "iso-v", volumeMount="/data")
    one_pass(world["config"])
    assert status(world, "bob", "iso-v")["status"] == "running"
    assert volume_labels("iso-v-volume")[f"{LABELS}.owner"] == "bob"
    listing = docker("exec", "sws-svc-iso-v-1", "ls", "-A", "/data")
    assert listing.strip() == "", "bob's service sees what alice left"


def test_a_volume_whose_owner_is_unknown_is_never_mounted(world, volumes):
    # Kept from a service deleted before volumes had owners: the store does not know it.
    docker("volume", "create", "--label", f"{LABELS}.service=iso-old", "iso-old-volume")
    apply(world, "bob", "iso-old", volumeMount="/data")
    one_pass(world["config"])
    failed = status(world, "bob", "iso-old")
    assert failed["status"] == "failed"
    assert "owner is unknown" in failed["message"], failed["message"]
    assert "DELETE /v1/volumes/iso-old-volume" in failed["message"]
    assert not docker("ps", "-aq", "--filter", f"label={LABELS}.service=iso-old").strip()
