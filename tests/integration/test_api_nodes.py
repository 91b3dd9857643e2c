"""The swarm's nodes (issue 28) in the store and through the API, against a real PostgreSQL:
the rows are written by the agent's own store functions (swsagent/swarm/nodestore.py), read
with GET /v1/nodes (administrators only) and `swsctl nodes`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg2
from click.testing import CliRunner

from swsagent.swarm.nodes import NodeRow
from swsagent.swarm.nodestore import record_nodes
from swsagent.swarm.report import Report
from swsctl.cli import main

T0 = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)


def row(node_id: str, name: str, state="ready", services=(), report=None, role="worker"):
    return NodeRow(
        id=node_id,
        name=name,
        role=role,
        state=state,
        availability="active",
        address="10.0.0.2",
        labels={"zone": "a"},
        cpus=2.0,
        memory_bytes=4 * 2**30,
        services=tuple(services),
        report=report,
    )


def record(url: str, rows: list[NodeRow], now: datetime) -> int:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            left = record_nodes(cur, rows, now)
        conn.commit()
        return left
    finally:
        conn.close()


def stored(url: str) -> dict[str, dict]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                """SELECT id, state, services, mem_free_bytes, registered_at, last_seen_at
                   FROM nodes"""
            )
            keys = ("state", "services", "mem_free", "registered_at", "last_seen_at")
            return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in cur.fetchall()}
    finally:
        conn.close()


def test_a_node_registers_reports_goes_down_with_its_services_and_leaves(migrated_database_url):
    url = migrated_database_url
    report = Report("n2", 2**30, 2**31, T0)
    record(url, [row("n1", "node-1", role="manager"), row("n2", "node-2", report=report)], T0)
    first = stored(url)
    assert first["n2"]["state"] == "ready" and first["n2"]["mem_free"] == 2**30
    registered = first["n2"]["registered_at"]

    later = T0 + timedelta(minutes=1)
    record(url, [row("n1", "node-1"), row("n2", "node-2", services=["web"])], later)
    # Down: the manager no longer hears from it. Its services and last report are kept,
    # and it was last seen when it was last ready.
    down = T0 + timedelta(minutes=2)
    record(url, [row("n1", "node-1"), row("n2", "node-2", state="down")], down)
    node = stored(url)["n2"]
    assert (node["state"], node["services"], node["mem_free"]) == ("down", ["web"], 2**30)
    assert node["last_seen_at"] == later and node["registered_at"] == registered

    assert record(url, [row("n1", "node-1")], down + timedelta(minutes=1)) == 1
    node = stored(url)["n2"]
    assert (node["state"], node["services"]) == ("left", [])
    assert record(url, [row("n1", "node-1")], down + timedelta(minutes=2)) == 0


def test_an_administrator_lists_the_nodes_and_others_may_not(
    client, make_user, alice, migrated_database_url
):
    record(migrated_database_url, [row("n2", "node-2", services=["web"]), row("n1", "node-1")], T0)
    answer = client.get("/v1/nodes", headers=make_user("root", admin=True))
    assert answer.status_code == 200, answer.get_json()
    nodes = answer.get_json()["nodes"]
    assert [n["name"] for n in nodes] == ["node-1", "node-2"]
    assert nodes[1]["services"] == ["web"] and nodes[1]["labels"] == {"zone": "a"}
    assert nodes[1]["last_seen_at"].startswith("2026-12-06T19:00:00")
    refused = client.get("/v1/nodes", headers=alice)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    assert client.get("/v1/nodes").status_code == 401


def test_a_single_host_has_no_nodes(client, make_user):
    answer = client.get("/v1/nodes", headers=make_user("root", admin=True))
    assert answer.get_json() == {"nodes": []}


def test_swsctl_nodes_shows_the_table_to_an_administrator(live_api):
    report = Report("n2", 3 * 2**30, 40 * 2**30, T0)
    record(
        live_api.database_url,
        [row("n1", "node-1"), row("n2", "node-2", services=["api", "web"], report=report)],
        T0,
    )
    record(live_api.database_url, [row("n1", "node-1"), row("n2", "node-2", "down")], T0)
    env = {"SWS_URL": live_api.url, "SWS_TOKEN": live_api.create_user("root", admin=True)}
    shown = CliRunner().invoke(main, ["nodes"], env=env, catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    header, first, second = shown.output.splitlines()
    assert "FREE MEMORY" in header and "LAST SEEN" in header
    assert first.split()[:3] == ["node-1", "worker", "ready"]
    assert second.split()[2:7] == ["down", "active", "api,web", "3.0GiB", "40.0GiB"]
    as_json = CliRunner().invoke(main, ["nodes", "-o", "json"], env=env)
    assert len(json.loads(as_json.output)["nodes"]) == 2
    env["SWS_TOKEN"] = live_api.create_user("alice")
    refused = CliRunner().invoke(main, ["nodes"], env=env)
    assert refused.exit_code == 3 and "administrator" in refused.output
