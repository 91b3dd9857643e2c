"""Nodes register and report (issue 28), on the real 3-node fixture: the join playbook (twice:
the second run changes nothing), the agent's nodes step against the manager's Engine API and
a real PostgreSQL, a killed node shown down with its services, a node that leaves, and the
fixture's `down` removing only its own objects.

Each destructive test stands on session fixtures that have already taken what the others
need (the joined swarm, the first records), so the tests hold in any order.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psycopg2
import pytest

from swsagent import collection
from swsagent.config import AgentConfig, config_from_mapping
from swsagent.swarm.step import nodes_step
from tests.fixtures.apiserver import dispose, migrated_app
from tests.fixtures.store import Store
from tests.swarm.conftest import ROOT, fixture_command
from tests.swarm.joining import changes
from tests.swarm.test_generations import HELLO, ensure_images
from tests.swarm.test_swarm_pass import any_pass, one_pass


@pytest.fixture(scope="session")
def manager(swarm, joined):
    return collection.engine().Engine(swarm.manager_socket, 15)


@pytest.fixture(scope="session")
def agent(swarm, joined, pg_server):
    """The agent's settings with a swarm section, on a migrated store of its own."""
    url = pg_server.create_database("swarm_nodes")
    dispose(migrated_app(url))
    section = {
        "manager_socket": swarm.manager_socket,
        "report_image": swarm.report_image,
        "report_interval": 1,
    }
    return config_from_mapping({"database_url": url, "project_dir": str(ROOT), "swarm": section})


def stored_nodes(config) -> dict[str, dict]:
    conn = psycopg2.connect(config.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                """SELECT name, role, state, labels, services, mem_free_bytes, disk_free_bytes,
                          registered_at, last_seen_at FROM nodes"""
            )
            keys = ("role", "state", "labels", "services", "mem_free", "disk_free")
            keys += ("registered_at", "last_seen_at")
            return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in cur.fetchall()}
    finally:
        conn.close()


def pass_until(config, done, timeout: float = 40.0) -> dict[str, dict]:
    """The nodes step, as after each pass, until the store shows what `done` wants."""
    deadline = time.monotonic() + timeout
    while True:
        conn = psycopg2.connect(config.database_url)
        try:
            nodes_step(config, conn)
        finally:
            conn.close()
        nodes = stored_nodes(config)
        if done(nodes) or time.monotonic() > deadline:
            return nodes
        time.sleep(1)


@pytest.fixture(scope="session")
def recorded(swarm, agent):
    """The first records with every node's report in (the report service starts at once)."""
    started = time.monotonic()
    names = [swarm.node(i) for i in (1, 2, 3)]
    nodes = pass_until(agent, lambda found: all(found.get(n, {}).get("disk_free") for n in names))
    swarm.timings["first reports"] = round(time.monotonic() - started, 1)
    return nodes


def test_nodes_join_with_the_labels_of_the_inventory(swarm, joined, manager):
    first, _ = joined
    assert first[swarm.node(2)] >= 1 and first[swarm.node(3)] >= 1  # joined, labelled
    listed = {n["Description"]["Hostname"]: n for n in manager.call("GET", "/nodes")}
    assert sorted(listed) == [swarm.node(i) for i in (1, 2, 3)]
    assert listed[swarm.node(1)]["Spec"]["Role"] == "manager"
    assert listed[swarm.node(1)]["Spec"]["Labels"] == {"sws.edge": "true", "zone": "a"}
    assert listed[swarm.node(3)]["Spec"]["Labels"] == {"zone": "c"}
    assert all(n["Status"]["State"] == "ready" for n in listed.values())


def test_the_join_playbook_run_twice_changes_nothing_the_second_time(swarm, joined):
    first, second = joined
    assert set(second) == {swarm.node(i) for i in (1, 2, 3)}
    assert second == dict.fromkeys(second, 0), second
    print(f"\nswarm timings (s): {swarm.timings}")


def test_every_node_registers_and_reports_its_free_memory_and_disk(swarm, recorded):
    for index in (1, 2, 3):
        node = recorded[swarm.node(index)]
        assert node["state"] == "ready" and node["last_seen_at"] is not None
        assert node["mem_free"] > 2**20 and node["disk_free"] > 2**20, node
    assert recorded[swarm.node(1)]["role"] == "manager"
    assert recorded[swarm.node(2)]["labels"] == {"zone": "b"}


def executor_config(swarm, agent, state_dir) -> AgentConfig:
    """The agent's settings with the swarm executor on (no edge proxies: test_swarm_chain.py
    has the whole chain), on the nodes' store."""
    return config_from_mapping(
        {
            "database_url": agent.database_url,
            "project_dir": str(ROOT),
            "state_dir": str(state_dir),
            "ready_timeout": 60,
            "stop_timeout": 2,
            "names": {"services_network": "unused-on-swarm", "proxies": []},
            "swarm": {
                "manager_socket": swarm.manager_socket,
                "report_image": swarm.report_image,
                "report_interval": 1,
                "executor": True,
            },
        }
    )


def state(store, name: str) -> tuple[str, str]:
    with store.conn.cursor() as cur:
        cur.execute("SELECT status, coalesce(message, '') FROM services WHERE name = %s", (name,))
        found = cur.fetchone()
    store.conn.commit()
    return found


def tasks_by_node(manager, service: str) -> list[str]:
    """The nodes of the SWS service's tasks that run and are meant to (a dead node's task
    stays `running` in the manager's list, its desired state shutdown once replaced)."""
    names = {n["ID"]: n["Description"]["Hostname"] for n in manager.call("GET", "/nodes")}
    return sorted(
        names[t["NodeID"]]
        for t in manager.call("GET", "/tasks")
        if (t["Spec"]["ContainerSpec"].get("Labels") or {}).get("sws.service") == service
        and t["Status"]["State"] == "running"
        and t["DesiredState"] == "running"
    )


def test_a_killed_node_its_stateless_tasks_run_elsewhere_its_volume_service_fails_naming_it(
    swarm, agent, manager, recorded, tmp_path
):
    # Real services through the agent's pass: a stateless one with a task on every node, and
    # one whose volume the store says is on node 3 (recorded by an earlier pass), pinned there.
    config = executor_config(swarm, agent, tmp_path)
    dead = swarm.node(3)
    ensure_images(swarm, [HELLO])
    with Store.open(agent.database_url) as store:
        store.create_user("alice")
        store.apply("alice", {"name": "web", "port": 8080, "image": HELLO, "replicas": 3})
        store.apply("alice", {"name": "db", "port": 8080, "image": HELLO, "volumeMount": "/d"})
        with store.conn.cursor() as cur:
            cur.execute("UPDATE services SET volume_node = %s WHERE name = 'db'", (dead,))
        store.conn.commit()
        report = one_pass(config, store.conn)
        assert sorted(report.changed.get("deployed", [])) == ["db", "web"], report.summary()
        assert tasks_by_node(manager, "web") == [swarm.node(i) for i in (1, 2, 3)]
        assert tasks_by_node(manager, "db") == [dead]
        running = pass_until(agent, lambda found: found[dead]["services"] == ["db", "web"])
        seen = running[dead]["last_seen_at"]

        subprocess.run(["docker", "kill", dead], check=True, capture_output=True)
        started, timings = time.monotonic(), {}
        deadline = started + 60
        while "web on the other nodes" not in timings or "db failed" not in timings:
            assert time.monotonic() < deadline, (timings, tasks_by_node(manager, "web"))
            one_pass(config, store.conn)
            web = tasks_by_node(manager, "web")
            if "web on the other nodes" not in timings and len(web) == 3 and dead not in web:
                timings["web on the other nodes"] = round(time.monotonic() - started, 1)
            if "db failed" not in timings and state(store, "db")[0] == "failed":
                timings["db failed"] = round(time.monotonic() - started, 1)
            time.sleep(0.5)
        # The volume's service is reported, naming the node, never started elsewhere.
        assert state(store, "db")[1] == f"node {dead} that holds the volume is down"
        assert tasks_by_node(manager, "db") == []
        # Deleted while its node is down: its generation stays until the node is back (its
        # task cannot end before; a new one on the volume must never race it), and the pass
        # does not wait for it; the service stays `deleting`, naming the node.
        store.delete("alice", "db")
        mark = time.monotonic()
        report = any_pass(config, store.conn)
        timings["a pass with the deleted db held"] = round(time.monotonic() - mark, 1)
        assert timings["a pass with the deleted db held"] < 15, report.summary()
        status, message = state(store, "db")
        assert status == "deleting" and f"node {dead} that holds the volume is down" in message

    down = pass_until(agent, lambda found: found[dead]["state"] == "down")
    swarm.timings["killed node shown down"] = round(time.monotonic() - started, 1)
    swarm.timings.update(timings)
    node = down[dead]
    assert node["state"] == "down", node
    assert node["services"] == ["db", "web"] and node["last_seen_at"] >= seen
    assert node["mem_free"] is not None  # its last report stays
    assert down[swarm.node(1)]["state"] == "ready"


def test_a_node_that_leaves_is_drained_removed_and_marked_left(swarm, agent, manager, recorded):
    started = time.monotonic()
    leave = ["--limit", swarm.node(2), "-e", "sws_swarm_state=absent"]
    assert changes(swarm.playbook(*leave))[swarm.node(2)] >= 2  # drained, left, removed
    swarm.timings["leave"] = round(time.monotonic() - started, 1)
    names = {n["Description"]["Hostname"] for n in manager.call("GET", "/nodes")}
    assert swarm.node(2) not in names
    assert changes(swarm.playbook(*leave))[swarm.node(2)] == 0  # leaving again: nothing
    gone = pass_until(agent, lambda found: found[swarm.node(2)]["state"] == "left")
    assert gone[swarm.node(2)]["state"] == "left" and gone[swarm.node(2)]["services"] == []
    print(f"\nswarm timings (s): {swarm.timings}")


def test_down_removes_only_what_the_fixture_made(swarm):
    # Its own one-node fixture, beside objects named like it that it did not make.
    prefix = f"{swarm.prefix}-x"
    run_dir = f"/tmp/{prefix}"
    decoy = f"{prefix}-node-9"
    made = fixture_command("up", "--prefix", prefix, "--nodes", "1", "--run-dir", run_dir)
    assert made["timings"]["engines up"] < 30
    subprocess.run(["docker", "volume", "create", decoy], check=True, capture_output=True)
    try:
        assert made["manager_dir"].startswith(run_dir)
        removed = fixture_command("down", "--prefix", prefix, "--run-dir", run_dir)["removed"]
        # The manager keeps its engine's data in the run directory, not in a volume.
        assert removed == {"containers": 1, "volumes": 0, "networks": 1}
        assert not Path(run_dir).exists()
        label = f"label=sws-swarm-fixture={prefix}"
        for kind in ("container", "volume", "network"):
            listing = ["docker", kind, "ls", "-q", "--filter", label]
            if kind == "container":
                listing.insert(3, "--all")
            listed = subprocess.run(listing, capture_output=True, text=True)
            assert listed.stdout.strip() == "", kind
        kept = subprocess.run(["docker", "volume", "inspect", decoy], capture_output=True)
        assert kept.returncode == 0
        # The session's own swarm is untouched.
        own = subprocess.run(["docker", "inspect", swarm.node(1)], capture_output=True)
        assert own.returncode == 0
    finally:
        subprocess.run(["docker", "volume", "rm", "-f", decoy], capture_output=True)
