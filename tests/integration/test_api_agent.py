"""The agent's passes for administrators (GET /v1/agent/passes, `swsctl agent`), against a
real PostgreSQL; the passes are rows the agent writes (here with its own journal functions,
swsagent/record.py's start_pass and finish_pass)."""

from __future__ import annotations

import json

import psycopg2
import pytest
from click.testing import CliRunner

from swsagent import record
from swsctl.cli import main

KEEP = 1000  # passes the journal keeps (the agent's passes_kept)


def add_pass(url: str, outcome: str, changed: dict, message=None, minutes_ago=None) -> None:
    """One pass, opened and closed as the agent's journal records it (swsagent/record.py)."""
    conn = psycopg2.connect(url)
    try:
        pass_id = record.start_pass(conn)
        record.finish_pass(conn, pass_id, outcome, changed, message, KEEP)
        if minutes_ago is not None:
            with conn.cursor() as cur:
                # Raw SQL: the journal stamps now(); the tables show when a pass started and
                # how long it took, so it gets a start of its own and a run of one second.
                cur.execute(
                    """UPDATE agent_passes SET started_at = now() - %s * interval '1 minute',
                           finished_at = now() - %s * interval '1 minute' + interval '1 second'
                       WHERE id = %s""",
                    (minutes_ago, minutes_ago, pass_id),
                )
            conn.commit()
    finally:
        conn.close()


def add_passes(url: str) -> None:
    add_pass(url, "changed", {"deployed": ["web"], "routes": "rolled"}, minutes_ago=2)
    add_pass(
        url,
        "degraded",
        {"down": {"sws-proxy-2": "exited"}},
        "sws-proxy-2 is down: exited (could not be started)",
        minutes_ago=1,
    )


def test_an_administrator_reads_the_last_passes_newest_first(
    client, make_user, migrated_database_url
):
    add_passes(migrated_database_url)
    admin = make_user("root", admin=True)
    answer = client.get("/v1/agent/passes?limit=5", headers=admin)
    assert answer.status_code == 200, answer.get_json()
    passes = answer.get_json()["passes"]
    assert [p["outcome"] for p in passes] == ["degraded", "changed"]
    assert passes[0]["changed"] == {"down": {"sws-proxy-2": "exited"}}
    assert "sws-proxy-2 is down" in passes[0]["message"]
    assert len(client.get("/v1/agent/passes?limit=1", headers=admin).get_json()["passes"]) == 1


def test_other_users_may_not_read_the_hosts_passes(client, alice):
    answer = client.get("/v1/agent/passes", headers=alice)
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("limit", ["0", "101", "x", "-1", "1.5"])
def test_a_bad_limit_is_a_400_naming_it(client, make_user, limit):
    admin = make_user("root", admin=True)
    answer = client.get(f"/v1/agent/passes?limit={limit}", headers=admin)
    assert answer.status_code == 400
    assert "limit" in answer.get_json()["error"]["fields"]


def test_swsctl_agent_shows_the_passes_to_an_administrator(live_api):
    add_passes(live_api.database_url)
    env = {"SWS_URL": live_api.url, "SWS_TOKEN": live_api.create_user("root", admin=True)}
    shown = CliRunner().invoke(main, ["agent"], env=env, catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].split() == ["PASS", "STARTED", "SECONDS", "OUTCOME", "DETAILS"]
    assert "degraded" in lines[1] and "down=sws-proxy-2" in lines[1] and "1.00" in lines[1]
    assert "deployed=web" in lines[2] and "routes=rolled" in lines[2]
    as_json = CliRunner().invoke(main, ["agent", "-o", "json"], env=env)
    assert len(json.loads(as_json.output)["passes"]) == 2
    env["SWS_TOKEN"] = live_api.create_user("alice")
    refused = CliRunner().invoke(main, ["agent"], env=env)
    assert refused.exit_code == 3 and "administrator" in refused.output


def test_every_user_sees_which_proxy_is_down_in_their_services(
    client, alice, migrated_database_url
):
    spec = {"name": "web", "port": 8080, "domain": "web.test", "image": "img:1"}
    put = client.put("/v1/services/web", json={"apiVersion": "v1", "spec": spec}, headers=alice)
    assert put.status_code == 201 and put.get_json()["host_notice"] is None
    add_passes(migrated_database_url)
    shown = client.get("/v1/services/web", headers=alice).get_json()
    assert shown["host_notice"].startswith("sws-proxy-2 is exited: ")
    listed = client.get("/v1/services", headers=alice).get_json()["services"]
    assert listed[0]["host_notice"] == shown["host_notice"]

    from swsctl.output import describe

    assert "Host:" in describe(shown) and "sws-proxy-2 is exited" in describe(shown)
    # The pass after it started the proxy again: the line goes.
    revived = {"down": {"sws-proxy-2": "exited"}, "revived": ["sws-proxy-2"]}
    add_pass(migrated_database_url, "changed", revived)
    again = client.get("/v1/services/web", headers=alice).get_json()
    assert again["host_notice"] is None and "Host:" not in describe(again)
