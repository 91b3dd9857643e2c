"""The swarm executor's volume nodes in the store (issue 28, migration 0015), on PostgreSQL:
recorded once, at the first task seen running; a recorded node down fails the service naming
it, once; read back for the next pass."""

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
