"""The agent's pass against a real store, a real Docker engine and real ansible-runner.

No proxies here (names.proxies is empty, so no routes are rolled): this tier proves the
deploy / retire / remove stages, failure isolation, secrets and the lock. Routes through
HAProxy and nginx are the e2e tier's job (tests/e2e/test_agent*.py).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from swsagent.config import config_from_mapping
from swsagent.lock import LockBusy, pass_lock
from swsagent.reconcile import reconcile_once
from tests.fixtures.store import Store
from tests.integration.conftest import migrated_app

REPO = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO / "tests" / "fixtures" / "agent-image"
TEMPLATE_IN_ENV = "{{ lookup('pipe','id') }}"
SECRET = "s3cret-" + uuid.uuid4().hex
# Our own label prefix: the agent under test owns only these containers, so a bootstrapped
# host's services on the same engine are neither seen nor removed as orphans.
LABELS = "swstest"


def docker(*args, check=True) -> str:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True).stdout


ENGINE_LOCK = "/tmp/sws-e2e.lock"


def held_by_this_process(path: str) -> bool:
    """True when this process already holds the flock (the e2e tier's session fixture does,
    when both tiers run in one pytest): flocking it again from here would wait forever."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks") as locks:
            for line in locks:
                if "->" in line:
                    continue  # a waiter, not a holder
                fields = line.split()
                if fields[1] == "FLOCK" and int(fields[4]) == os.getpid():
                    if int(fields[5].rsplit(":", 1)[1]) == inode:
                        return True
    except (OSError, ValueError, IndexError):
        pass
    return False


@pytest.fixture(scope="module")
def engine_lock():
    """Service containers carry SWS names: hold the engine lock every helper honours."""
    if held_by_this_process(ENGINE_LOCK):
        yield
        return
    with open(ENGINE_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="module")
def hello_image(engine_lock):
    """The local test image: sws-local/hello:2 if the bootstrap built it, else ours."""
    for image in ("sws-local/hello:2", "sws-agenttest/hello:1"):
        if docker("images", "-q", image).strip():
            return image
    pytest.skip("no hello image on this engine (run the bootstrap, or build one)")


@pytest.fixture(scope="module")
def network(engine_lock):
    name = "sws-agenttest-" + uuid.uuid4().hex[:6]
    docker("network", "create", name)
    yield name
    for cid in docker("ps", "-aq", "--filter", f"label={LABELS}.service").split():
        docker("rm", "-f", cid, check=False)
    docker("network", "rm", name, check=False)


@pytest.fixture
def store(database_url):
    """The migrated store with the user alice; `store.conn` is the agent's connection."""
    store = Store(migrated_app(database_url), database_url, owns_app=True)
    store.create_user("alice")
    yield store
    store.close()


@pytest.fixture
def config(database_url, network, tmp_path):
    return config_from_mapping(
        {
            "database_url": database_url,
            "project_dir": str(REPO),
            "state_dir": str(tmp_path / "state"),
            "ready_timeout": 4,
            "stop_timeout": 2,
            "names": {"services_network": network, "proxies": [], "label_prefix": LABELS},
        }
    )


@pytest.fixture(autouse=True)
def clean_services(engine_lock):
    yield
    for cid in docker("ps", "-aq", "--filter", f"label={LABELS}.service").split():
        docker("rm", "-f", cid, check=False)


def apply(store, name, image, port=8080, env=None, volume=None):
    """Apply the service as alice, through the apiserver's store (a new generation, pending)."""
    spec = {
        "name": name,
        "port": port,
        "domain": f"{name}.test",
        "image": image,
        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
    }
    if volume:
        spec["volumeMount"] = volume
    store.apply("alice", spec)


def delete(store, name, purge=False):
    """Alice deletes the service (a purge, once set, stays set)."""
    store.delete("alice", name, purge=purge)


def row(store, name):
    conn = store.conn
    with conn.cursor() as cur:
        cur.execute(
            "SELECT status, generation, applied_generation, message, last_log FROM services"
            " WHERE name = %s",
            (name,),
        )
        found = cur.fetchone()
    conn.commit()
    if found is None:
        return None
    return dict(zip(("status", "generation", "applied", "message", "last_log"), found, strict=True))


def one_pass(config, conn):
    with pass_lock(config.database_url):
        return reconcile_once(config, conn)


def passes_until_settled(config, conn, seconds=30.0) -> dict:
    """Passes until no container's background stop is under way (a delete's record goes in the
    pass that sees its containers gone); what they changed, merged."""
    changed: dict = {}
    deadline = time.monotonic() + seconds
    while True:
        report = one_pass(config, conn)
        changed.update(report.changed)
        if "stopping" not in report.changed or time.monotonic() > deadline:
            return changed
        time.sleep(0.2)


def inspect(container) -> dict:
    return json.loads(docker("inspect", container))[0]


def body_of(container, network, port=8080) -> str:
    ip = inspect(container)["NetworkSettings"]["Networks"][network]["IPAddress"]
    return requests.get(f"http://{ip}:{port}/", timeout=5).text


@pytest.fixture
def alpha_volume():
    """alpha-volume goes afterwards (a leftover would hold another run's owner label)."""
    docker("volume", "rm", "-f", "alpha-volume", check=False)
    yield
    docker("volume", "rm", "-f", "alpha-volume", check=False)


def test_deploy_then_noop(config, store, hello_image, network, alpha_volume):
    apply(
        store,
        "alpha",
        hello_image,
        env={"GREETING": "hello alpha", "TRAP": TEMPLATE_IN_ENV, "TOKEN": SECRET},
        volume="/data",
    )
    report = one_pass(config, store.conn)
    assert report.outcome == "changed", report.summary()
    assert report.changed["deployed"] == ["alpha"]
    assert row(store, "alpha")["status"] == "running"
    assert row(store, "alpha")["applied"] == 1
    assert "hello alpha" in body_of("sws-svc-alpha-1", network)

    detail = inspect("sws-svc-alpha-1")
    env = detail["Config"]["Env"]
    assert f"TRAP={TEMPLATE_IN_ENV}" in env, "Ansible must hand user env over verbatim"
    assert detail["Config"]["Labels"][f"{LABELS}.generation"] == "1"
    assert list(detail["NetworkSettings"]["Networks"]) == [network]
    assert any(m.get("Name") == "alpha-volume" for m in detail["Mounts"])

    artifacts = Path(config.state_dir)
    leaked = [
        p for p in artifacts.rglob("*") if p.is_file() and SECRET in p.read_text(errors="ignore")
    ]
    assert leaked == [], "a secret env value reached the runner artifacts"

    runs_before = len(list((artifacts / "artifacts").iterdir()))
    again = one_pass(config, store.conn)
    assert again.outcome == "noop" and again.changed == {}
    assert len(list((artifacts / "artifacts").iterdir())) == runs_before, "a no-op ran Ansible"


def test_failures_are_isolated_and_explained(config, store, hello_image):
    apply(store, "good", hello_image)
    apply(store, "noimage", "sws-local/does-not-exist:1")
    apply(store, "crashes", hello_image, env={"PORT": "not-a-port"})
    apply(store, "silent", hello_image, port=9999)
    report = one_pass(config, store.conn)

    assert report.changed["deployed"] == ["good"]
    assert row(store, "good")["status"] == "running"
    noimage = row(store, "noimage")
    assert noimage["status"] == "failed"
    assert "sws-local/does-not-exist:1" in noimage["message"]
    assert "not on this host" in noimage["message"]
    crashes = row(store, "crashes")
    assert crashes["status"] == "failed" and "exited with code" in crashes["message"]
    assert "ValueError" in (crashes["last_log"] or "")
    silent = row(store, "silent")
    assert silent["status"] == "failed" and "port 9999" in silent["message"]
    for name in ("noimage", "crashes", "silent"):
        assert len(row(store, name)["message"]) < 300
        assert not docker("ps", "-aq", "--filter", f"label={LABELS}.service={name}").strip()

    # A failure sticks to its generation: the next pass does not retry it.
    assert one_pass(config, store.conn).outcome == "noop"


def gone(container: str, seconds: float = 30) -> bool:
    """Whether the container is gone within `seconds` (the retire removes an older generation
    in the background, after the pass)."""
    deadline = time.monotonic() + seconds
    while docker("ps", "-aq", "--filter", f"name=^{container}$").strip():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_update_replaces_the_container(config, store, hello_image, network):
    apply(store, "beta", hello_image, env={"GREETING": "one"})
    one_pass(config, store.conn)
    apply(store, "beta", hello_image, env={"GREETING": "two"})
    report = one_pass(config, store.conn)
    assert report.changed["deployed"] == ["beta"]
    assert report.changed["retired"] == ["beta"]
    assert "two" in body_of("sws-svc-beta-2", network)
    assert gone("sws-svc-beta-1")  # stopped and removed in the background
    assert row(store, "beta")["applied"] == 2


def test_failed_update_keeps_the_old_generation(config, store, hello_image, network):
    apply(store, "gamma", hello_image, env={"GREETING": "stable"})
    one_pass(config, store.conn)
    apply(store, "gamma", "sws-local/does-not-exist:2")
    one_pass(config, store.conn)
    gamma = row(store, "gamma")
    assert gamma["status"] == "failed" and gamma["applied"] == 1
    assert "stable" in body_of("sws-svc-gamma-1", network)


def restart(store, name):
    """Alice restarts the service: the same spec, a new generation."""
    store.restart("alice", name)


def test_a_restart_retries_a_failed_generation_then_replaces_a_running_one(
    config, store, hello_image, network
):
    later = f"sws-agenttest/later-{uuid.uuid4().hex[:6]}:1"
    apply(store, "eps", later)
    one_pass(config, store.conn)
    assert row(store, "eps")["status"] == "failed"
    assert one_pass(config, store.conn).outcome == "noop"  # a failure sticks to its generation
    docker("tag", hello_image, later)  # the missing image is built meanwhile
    try:
        restart(store, "eps")
        assert one_pass(config, store.conn).changed["deployed"] == ["eps"]
        assert (row(store, "eps")["status"], row(store, "eps")["applied"]) == ("running", 2)
        restart(store, "eps")  # the same spec again: a fresh container all the same
        report = one_pass(config, store.conn)
        assert report.changed["deployed"] == ["eps"] and report.changed["retired"] == ["eps"]
        assert inspect("sws-svc-eps-3")["State"]["Running"]
        assert gone("sws-svc-eps-2")
    finally:
        for cid in docker("ps", "-aq", "--filter", f"label={LABELS}.service=eps").split():
            docker("rm", "-f", cid, check=False)
        docker("rmi", later, check=False)


def test_delete_removes_container_and_record_keeps_volume(config, store, hello_image):
    apply(store, "delta", hello_image, volume="/data")
    one_pass(config, store.conn)
    delete(store, "delta")
    report = one_pass(config, store.conn)
    assert report.changed["removed"] == ["delta"]
    assert passes_until_settled(config, store.conn)["forgotten"] == ["delta"]
    assert row(store, "delta") is None
    assert not docker("ps", "-aq", "--filter", f"label={LABELS}.service=delta").strip()
    assert docker("volume", "ls", "-q", "--filter", "name=delta-volume").strip() == "delta-volume"
    docker("volume", "rm", "delta-volume")


def volume_exists(name) -> bool:
    return name in docker("volume", "ls", "-q", "--filter", f"name={name}").split()


@pytest.fixture
def purged_name():
    """A fresh service name; its volume is removed afterwards if a test left it."""
    name = "pz-" + uuid.uuid4().hex[:6]
    yield name
    docker("volume", "rm", "-f", f"{name}-volume", check=False)


def test_delete_with_purge_removes_container_volume_and_record(
    config, store, hello_image, purged_name
):
    name = purged_name
    apply(store, name, hello_image, volume="/data")
    one_pass(config, store.conn)
    assert volume_exists(f"{name}-volume")
    delete(store, name, purge=True)
    report = one_pass(config, store.conn)
    assert report.outcome == "changed", report.summary()
    assert report.changed["removed"] == [name]
    assert report.changed["purged"] == [name]
    assert passes_until_settled(config, store.conn)["forgotten"] == [name]
    assert row(store, name) is None
    assert not docker("ps", "-aq", "--filter", f"label={LABELS}.service={name}").strip()
    assert not volume_exists(f"{name}-volume")


def test_purge_leaves_a_volume_not_labelled_as_the_services(
    config, store, hello_image, purged_name
):
    name = purged_name
    # Same name, but labelled for another agent's prefix (e.g. the live host's): not ours.
    docker("volume", "create", "--label", f"sws.service={name}", f"{name}-volume")
    apply(store, name, hello_image)
    delete(store, name, purge=True)
    report = one_pass(config, store.conn)
    assert report.outcome == "changed", report.summary()
    assert report.changed["forgotten"] == [name]
    assert row(store, name) is None
    assert volume_exists(f"{name}-volume")


def test_a_volume_in_use_keeps_the_service_deleting_until_it_can_go(
    config, store, hello_image, purged_name
):
    name = purged_name
    apply(store, name, hello_image, volume="/data")
    one_pass(config, store.conn)
    holder = f"sws-agenttest-holder-{name}"
    docker("create", "--name", holder, "-v", f"{name}-volume:/held", hello_image)
    try:
        delete(store, name, purge=True)
        passes_until_settled(config, store.conn)  # its container stops in the background
        report = one_pass(config, store.conn)
        assert report.outcome == "failed", report.summary()
        assert "purged" not in report.changed and "forgotten" not in report.changed
        stuck = row(store, name)
        assert stuck["status"] == "deleting"
        assert f"volume {name}-volume could not be removed" in stuck["message"]
        assert "volume is in use" in stuck["message"] and len(stuck["message"]) < 300
        assert not docker("ps", "-aq", "--filter", f"label={LABELS}.service={name}").strip()
        assert volume_exists(f"{name}-volume")
    finally:
        docker("rm", "-f", holder, check=False)
    report = one_pass(config, store.conn)
    assert report.changed["purged"] == [name] and report.changed["forgotten"] == [name]
    assert "removed" not in report.changed  # its container went in the pass before
    assert row(store, name) is None
    assert not volume_exists(f"{name}-volume")


def test_orphans_are_stopped_at_once_and_removed_after_their_grace(
    config, store, hello_image, network
):
    # A store that reads empty must not remove everything: a lone orphan is kept and reported.
    docker(
        "run", "-d", "--name", "sws-svc-lone-1", "--network", network,
        "--label", f"{LABELS}.service=lone", hello_image,
    )  # fmt: skip
    report = one_pass(config, store.conn)
    assert "orphans" not in report.changed
    assert "max_orphan_share" in report.problems[0]
    docker("rm", "-f", "sws-svc-lone-1")
    apply(store, "alpha", hello_image)
    one_pass(config, store.conn)
    docker(
        "run",
        "-d",
        "--name",
        "sws-svc-ghost-1",
        "--network",
        network,
        "--label",
        f"{LABELS}.service=ghost",
        hello_image,
    )
    report = one_pass(config, store.conn)
    assert report.changed["orphans_stopped"] == ["sws-svc-ghost-1"]
    assert "orphans" not in report.changed
    passes_until_settled(config, store.conn)  # stopped in the background
    found = docker(
        "ps", "-a", "--format", "{{.State}}", "--filter", f"label={LABELS}.service=ghost"
    )
    assert found.split() == ["exited"], "stopped, kept for orphan_grace (default one hour)"
    assert "orphans_stopped" not in one_pass(config, store.conn).changed  # reported once
    report = one_pass(dataclasses.replace(config, orphan_grace=0), store.conn)
    assert report.changed["orphans"] == ["ghost"]
    assert not docker("ps", "-aq", "--filter", f"label={LABELS}.service=ghost").strip()


def test_a_crashed_container_is_started_again(config, store, hello_image, network):
    apply(store, "eps", hello_image, env={"GREETING": "back"})
    one_pass(config, store.conn)
    docker("rm", "-f", "sws-svc-eps-1")
    report = one_pass(config, store.conn)
    assert report.changed["deployed"] == ["eps"]
    assert "back" in body_of("sws-svc-eps-1", network)


def test_second_agent_does_not_act_while_one_holds_the_lock(config):
    holding, release = threading.Event(), threading.Event()

    def hold():
        with pass_lock(config.database_url):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        with pytest.raises(LockBusy), pass_lock(config.database_url):
            pass
    finally:
        release.set()
        thread.join()
    with pass_lock(config.database_url):
        pass  # released: the next agent gets it


def test_dynamic_inventory_shows_the_store(config, store, hello_image, tmp_path):
    apply(store, "zeta", hello_image, env={"TRAP": TEMPLATE_IN_ENV})
    agent_yml = tmp_path / "agent.yml"
    agent_yml.write_text(f"database_url: {config.database_url}\nproject_dir: {REPO}\n")
    bindir = Path(sys.executable).parent
    env = {
        **os.environ,
        "SWS_AGENT_CONFIG": str(agent_yml),
        "PATH": f"{bindir}:{os.environ['PATH']}",
    }
    listed = subprocess.run(
        [str(bindir / "ansible-inventory"), "-i", str(REPO / "inventory/sws_confdb.py"), "--list"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    inventory = json.loads(listed.stdout)
    assert inventory["services"]["hosts"] == ["sws-svc-zeta"]
    assert inventory["proxies"]["hosts"] == ["sws-proxy-1", "sws-proxy-2"]
    hostvars = inventory["_meta"]["hostvars"]["sws-svc-zeta"]
    # Every string of a service host is marked unsafe (issue 10): either form, verbatim.
    assert hostvars["sws_service_image"] in (hello_image, {"__ansible_unsafe": hello_image})
    trap = hostvars["sws_service_env"]["TRAP"]
    # ansible-inventory marks values it must never template; either way, verbatim.
    assert trap in (TEMPLATE_IN_ENV, {"__ansible_unsafe": TEMPLATE_IN_ENV})


@pytest.fixture(scope="module")
def exits_once_image(hello_image, tmp_path_factory):
    """The hello image, but its first start exits 3 (an entrypoint that waits for something)."""
    context = tmp_path_factory.mktemp("exits-once")
    (context / "Dockerfile").write_text(
        f"FROM {hello_image}\n"
        'CMD ["sh", "-c", "if [ ! -e /tmp/started ]; then touch /tmp/started; exit 3; fi;'
        ' exec python3 /app/hello.py"]\n'
    )
    tag = "sws-agenttest/exits-once:1"
    docker("build", "-q", "-t", tag, str(context))
    yield tag
    docker("rmi", "-f", tag, check=False)


def test_a_container_that_restarted_once_and_then_serves_is_healthy(
    config, store, exits_once_image, network
):
    apply(store, "flaky", exits_once_image)
    report = one_pass(config, store.conn)
    assert report.changed.get("deployed") == ["flaky"], report.summary()
    assert row(store, "flaky")["status"] == "running"
    assert inspect("sws-svc-flaky-1")["RestartCount"] >= 1


def test_a_recreate_stops_the_older_generation_first_and_defers_a_slow_stop(
    config, store, hello_image, network
):
    """spec.update recreate (a volume): never two containers on one volume. A quick stop is
    waited for in the same pass; one longer than recreate_stop_wait is left to the background
    and the next pass starts the new generation."""
    docker("volume", "rm", "-f", "delta-volume", check=False)
    # PID 1 ignores SIGTERM: its stop takes the whole stop timeout (2 s here).
    noterm = "sws-agenttest/hello-noterm:1"
    subprocess.run(
        ["docker", "build", "-q", "-t", noterm, "-"],
        input=f"FROM {hello_image}\nSTOPSIGNAL SIGTERM\n"
        'CMD ["python3", "-c", "import runpy, signal;'
        " signal.signal = lambda *a: None; runpy.run_path('/app/hello.py',"
        " run_name='__main__')\"]\n",
        text=True,
        capture_output=True,
        check=True,
    )
    slow = dataclasses.replace(config, recreate_stop_wait=0.5)
    try:
        apply(store, "delta", noterm, env={"GREETING": "one"}, volume="/data")
        one_pass(slow, store.conn)
        apply(store, "delta", hello_image, env={"GREETING": "two"}, volume="/data")
        report = one_pass(slow, store.conn)
        assert report.changed.get("deferred") == ["delta"], report.changed
        delta = row(store, "delta")
        assert delta["status"] == "pending" and "still stopping" in delta["message"], delta
        assert not docker("ps", "-aq", "--filter", "name=^sws-svc-delta-2$").strip()
        passes_until_settled(slow, store.conn)
        one_pass(slow, store.conn)
        assert row(store, "delta")["status"] == "running", row(store, "delta")
        assert "two" in body_of("sws-svc-delta-2", network)
        assert not docker("ps", "-q", "--filter", "name=^sws-svc-delta-1$").strip()
        # A quick stop (hello.py ends on SIGTERM): stopped and started in one pass.
        apply(store, "delta", hello_image, env={"GREETING": "three"}, volume="/data")
        report = one_pass(slow, store.conn)
        assert report.changed["deployed"] == ["delta"], report.changed
        assert "three" in body_of("sws-svc-delta-3", network)
        # Stopped before the new one started, then removed once it got ready.
        assert gone("sws-svc-delta-2")
    finally:
        for cid in docker("ps", "-aq", "--filter", "name=^sws-svc-delta-").split():
            docker("rm", "-f", cid, check=False)
        docker("volume", "rm", "-f", "delta-volume", check=False)
