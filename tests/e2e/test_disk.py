"""Disk limits on the real host, with two real users (issue 25: one tenant could fill the
host's disk in minutes).

User A's service has a 32Mi volume (`resources.disk`) and fills it from inside its container:
the writes end in ENOSPC there, while user B's service and the API answer throughout and
after, and the volume is a loop-mounted filesystem of its own that a purge takes away whole.
Below the operator's free-disk floor (an agent.yml of this test with the floor above the free
space) a new service waits with a message naming the free space and the floor, while an
update of a running service goes on. A container that writes past the writable layer cap is
stopped and its service failed, saying why.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
import time

import pytest
import requests
import yaml

from tests.e2e import test_agent
from tests.e2e.test_agent import HELLO, docker, unique
from tests.e2e.test_stacks import Tenant, passes_until, status_is

pytestmark = pytest.mark.e2e

agent_host = test_agent.agent_host
MiB = 2**20
DISK_KEYS = ("service_disk", "volumes_dir", "min_free_disk", "writable_layer_max")


def with_settings(host, name: str, **settings):
    """The session's agent, with the installed agent's disk settings and these over them."""
    config = yaml.safe_load(host.config.read_text())
    path = host.config.with_name(name)
    path.write_text(yaml.safe_dump({**config, **settings}))
    return dataclasses.replace(host, config=path)


@pytest.fixture
def disk_host(agent_host, bootstrapped_host):
    installed = bootstrapped_host.agent_config
    if "volumes_dir" not in installed:
        pytest.fail("the installed agent.yml has no volumes_dir: bootstrap from this branch")
    disk = {k: installed[k] for k in DISK_KEYS if k in installed}
    return with_settings(agent_host, "agent-disk.yml", **disk)


def hello(name: str, **spec) -> dict:
    return {"name": name, "port": 8080, "domain": f"{name}.disk.test", "image": HELLO, **spec}


def answers(host, name: str) -> bool:
    try:
        got = requests.get(host.http + "/", headers={"Host": f"{name}.disk.test"}, timeout=5)
    except requests.RequestException:
        return False
    return got.status_code == 200


class Watcher(threading.Thread):
    """B's service and the API, asked over and over while A fills its volume."""

    def __init__(self, host, tenant: Tenant, name: str):
        super().__init__(daemon=True)
        self.host, self.tenant, self.name = host, tenant, name
        self.sent, self.failed = 0, []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.sent += 2
            if not answers(self.host, self.name):
                self.failed.append("service")
            try:
                if self.tenant.api("GET", f"/services/{self.name}").status_code != 200:
                    self.failed.append("api")
            except requests.RequestException:
                self.failed.append("api")
            time.sleep(0.05)


FILL = """
import errno, os
written = 0
try:
    with open("/data/fill", "wb") as out:
        while True:
            out.write(b"x" * 1048576)
            out.flush()
            os.fsync(out.fileno())
            written += 1048576
except OSError as err:
    print(errno.errorcode[err.errno], written)
"""


def the_container(name: str) -> str:
    return test_agent.containers_of(name)[0]


def test_a_full_volume_fails_that_service_alone(disk_host):
    a, b = Tenant(disk_host, unique("disk-a")), Tenant(disk_host, unique("disk-b"))
    full, calm = unique("full"), unique("calm")
    a.apply(**hello(full, volumeMount="/data", resources={"disk": "32Mi"}))
    b.apply(**hello(calm))
    try:
        passes_until(disk_host, status_is(a, full, "running"), 60, a.service(full))
        passes_until(disk_host, status_is(b, calm, "running"), 60, b.service(calm))
        volume = json.loads(docker("volume", "inspect", f"{full}-volume"))[0]
        mountpoint = volume["Options"]["device"]
        assert os.path.ismount(mountpoint) and shutil.disk_usage(mountpoint).total <= 32 * MiB
        watcher = Watcher(disk_host, b, calm)
        watcher.start()
        # A's own process, as root in its container (its image's user may not own /data).
        said = docker("exec", "-u", "0", the_container(full), "python3", "-c", FILL).split()
        time.sleep(0.5)
        disk_host.run_pass()  # the agent's pass on a host with one full volume
        watcher.stop.set()
        watcher.join()
        assert said[0] == "ENOSPC" and 16 * MiB < int(said[1]) <= 32 * MiB, said
        assert watcher.sent > 10 and watcher.failed == [], watcher.failed
        assert answers(disk_host, full) and answers(disk_host, calm)
        assert b.service(calm)["status"] == "running"
    finally:
        a.api("DELETE", f"/services/{full}?purge=true")
        b.api("DELETE", f"/services/{calm}")
    passes_until(disk_host, lambda: a.api("GET", f"/services/{full}").status_code == 404, 60)
    assert not os.path.ismount(mountpoint) and not os.path.exists(mountpoint + ".img")
    assert not os.path.exists(mountpoint)


def test_new_services_wait_below_the_free_disk_floor_and_updates_go_on(disk_host):
    a = Tenant(disk_host, unique("disk-c"))
    kept, late = unique("kept"), unique("late")
    a.apply(**hello(kept))
    try:
        passes_until(disk_host, status_is(a, kept, "running"), 60, a.service(kept))
        free = shutil.disk_usage("/var/lib").free
        floored = with_settings(disk_host, "agent-floor.yml", min_free_disk=free + 2**40)
        a.apply(**hello(kept, env=[{"name": "GENERATION", "value": "2"}]))
        a.apply(**hello(late))
        passes_until(floored, lambda: a.service(kept)["applied_generation"] == 2, 30)
        waiting = a.service(late)
        assert waiting["status"] == "pending", waiting
        assert "waiting for disk space" in waiting["message"]
        assert "under the host's floor of" in waiting["message"], waiting["message"]
        assert a.service(kept)["status"] == "running"
        # Space again (the installed floor): the new service deploys.
        passes_until(disk_host, status_is(a, late, "running"), 60, a.service(late))
    finally:
        a.api("DELETE", f"/services/{kept}")
        a.api("DELETE", f"/services/{late}")


def test_a_container_writing_past_the_writable_layer_cap_is_stopped(disk_host):
    a = Tenant(disk_host, unique("disk-d"))
    scribble = unique("scribble")
    a.apply(**hello(scribble))
    try:
        passes_until(disk_host, status_is(a, scribble, "running"), 60, a.service(scribble))
        container = the_container(scribble)
        docker("exec", container, "sh", "-c", "head -c 12582912 /dev/zero > /tmp/big")
        watched = with_settings(disk_host, "agent-layer.yml", writable_layer_max="8Mi")
        watched.run_pass()
        failed = a.service(scribble)
        assert failed["status"] == "failed", failed
        assert f"{container} wrote 12 MiB to its container filesystem" in failed["message"]
        assert "over the host's 8 MiB" in failed["message"]
        state = docker("inspect", "-f", "{{.State.Running}}", container).strip()
        deadline = time.monotonic() + 15  # its stop timeout runs in the engine
        while state == "true" and time.monotonic() < deadline:
            time.sleep(0.2)
            state = docker("inspect", "-f", "{{.State.Running}}", container).strip()
        assert state == "false"
    finally:
        a.api("DELETE", f"/services/{scribble}")
