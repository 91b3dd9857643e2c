"""The swarm executor's volume nodes in the store (issue 28, migrations 0015 and 0016), on
PostgreSQL: recorded once, at the first task seen running; a recorded node down fails the
service naming it, once; read back for the next pass. The volume keeps its node after its
service is gone: the owner's service of that name again goes back there, and an
administrator's purge of the kept volume is carried out there."""

from __future__ import annotations

from swsagent.desired import read_desired
from swsagent.observe import RunningContainer
from swsagent.swarm.observe import SwarmSeen, VolumeNode, read_volume_nodes
from swsagent.swarm.volumenode import record_volume_nodes
from tests.fixtures.store import Store

DB = {"name": "swp-db", "port": 5432, "image": "img:1", "env": [], "volumeMount": "/data"}
DOWN = "node worker-2 that holds the volume is down"


def status(store: Store, name: str) -> tuple:
    with store.conn.cursor() as cur:
        cur.execute("SELECT status, message, volume_node FROM services WHERE name = %s", (name,))
        found = cur.fetchone()
    store.conn.commit()
    return found


def test_a_volume_node_is_recorded_once_and_a_lost_node_fails_its_service(migrated_database_url):
    with Store.open(migrated_database_url) as store:
        store.create_user("alice")
        store.apply("alice", DB)
        store.mark_running("swp-db")
        conn = store.conn
        desired = read_desired(conn)
        assert read_volume_nodes(conn) == {}

        first = SwarmSeen(first_nodes={"swp-db": "worker-2"})
        assert record_volume_nodes(conn, first, desired, []) == (["swp-db"], [])
        again = SwarmSeen(first_nodes={"swp-db": "worker-3"})
        assert record_volume_nodes(conn, again, desired, []) == ([], [])
        assert status(store, "swp-db") == ("running", None, "worker-2")
        assert read_volume_nodes(conn) == {"swp-db": VolumeNode("worker-2", "running", "")}

        # Its task still runs there (a node paused): it serves on, nothing is written.
        lost = SwarmSeen(recorded=read_volume_nodes(conn), node_problems={"swp-db": DOWN})
        task = RunningContainer("sws-svc-swp-db-g1", "swp-db", 1, "d", "", 5432, True, "10.0.0.2")
        assert record_volume_nodes(conn, lost, desired, [task]) == ([], [])
        # No task: failed, naming the node, once.
        assert record_volume_nodes(conn, lost, desired, []) == ([], ["swp-db"])
        assert record_volume_nodes(conn, lost, desired, []) == ([], [])
        assert status(store, "swp-db") == ("failed", DOWN, "worker-2")
        back = SwarmSeen(recorded=read_volume_nodes(conn))
        assert back.node_back() == {"swp-db"}


def test_a_kept_volume_keeps_its_node_for_the_next_service_and_for_a_purge(migrated_database_url):
    with Store.open(migrated_database_url) as store:
        store.create_user("alice")
        store.create_user("root", admin=True)
        store.apply("alice", DB)
        conn = store.conn
        first = SwarmSeen(first_nodes={"swp-db": "worker-2"})
        assert record_volume_nodes(conn, first, read_desired(conn), []) == (["swp-db"], [])

        # Deleted without purge and forgotten: its volume and the volume's node stay.
        store.delete("alice", "swp-db")
        assert store.forget("swp-db")
        assert read_volume_nodes(conn) == {}
        # The same owner's service of that name again: its volume's node, before any task.
        store.apply("alice", DB)
        assert read_volume_nodes(conn) == {"swp-db": VolumeNode("worker-2", "pending", "")}

        # Deleted and forgotten again, then purged by an administrator: the purge is the
        # owner's volume on that node (a deleted service with purge, of no generation).
        store.delete("alice", "swp-db")
        assert store.forget("swp-db")
        store.purge_volume("root", "swp-db-volume")
        (purge,) = [s for s in read_desired(conn) if s.name == "swp-db"]
        assert (purge.deleting, purge.purge_volume, purge.owner) == (True, True, "alice")
        assert read_volume_nodes(conn) == {"swp-db": VolumeNode("worker-2", "deleting", "")}
        # Once the agent removed it, the record goes, and with it the node.
        assert store.forget("swp-db")
        assert read_volume_nodes(conn) == {}
