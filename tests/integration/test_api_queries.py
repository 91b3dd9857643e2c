"""Listing many services costs a fixed number of queries, not one per service."""

import json

import pytest
from sqlalchemy import event

from swsapi.extensions import db
from tests.fixtures.store import Store


@pytest.fixture
def count_queries(app):
    """A list that records each SQL statement the app sends while the test runs."""
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield statements
    event.remove(engine, "before_cursor_execute", record)


def store_services(app, owner: str, count: int) -> None:
    """Apply the owner's services through the store, its quota raised to hold them (the API's
    own path is not what is measured)."""
    store = Store(app)
    store.set_quota(owner, max(count, 20))
    names = [f"{owner}-{i:04d}" for i in range(count)]
    store.apply_many(
        owner,
        [
            {"name": name, "port": 80, "domain": f"{name}.example.com", "image": "nginx", "env": []}
            for name in names
        ],
    )


def test_listing_1000_services_takes_a_fixed_number_of_queries(
    app, client, alice, bob, count_queries
):
    store_services(app, "alice", 1000)
    store_services(app, "bob", 1)
    client.get("/v1/whoami", headers=alice)  # records last_used_at, once a minute at most
    count_queries.clear()
    services = []
    for query in ("?limit=500", "?limit=500&cursor=alice-0499"):
        page = client.get("/v1/services" + query, headers=alice).get_json()
        services += page["services"]
        # One query for the token and its user, one for the page with the owner, one for the
        # host's line (the agent's last pass: the same for every service of the page).
        assert len(count_queries) == 3, count_queries
        count_queries.clear()
    assert page["next_cursor"] is None
    assert len(services) == 1000
    assert {s["owner"] for s in services} == {"alice"}
    assert json.dumps(services[0]["spec"]).startswith('{"name": "alice-0000"')


def test_get_and_apply_take_a_few_queries(client, alice, count_queries):
    client.get("/v1/whoami", headers=alice)  # records last_used_at
    count_queries.clear()
    doc = {
        "apiVersion": "v1",
        "spec": {"name": "web", "port": 80, "domain": "web.example.com", "image": "nginx"},
    }
    # token, service (locked), the domains' claims and the domains still served by another
    # (swsapi/domainclaims.py), kept volume, the user (locked) and the count of their services
    # (the quota), INSERT ... RETURNING, its domains' claims, its history row, pg_notify;
    # every answer with a service reads the agent's last pass once more (host_notice)
    assert client.put("/v1/services/web", json=doc, headers=alice).status_code == 201
    assert len(count_queries) == 12, count_queries
    count_queries.clear()
    # token, service (locked), the agent's last pass: an unchanged spec's domains are its own
    assert client.put("/v1/services/web", json=doc, headers=alice).status_code == 200
    assert len(count_queries) == 3, count_queries
    count_queries.clear()
    # token, service, the domains' claims and those still served, UPDATE ... RETURNING, its
    # claims made again (delete, insert), history row, pg_notify (the history is trimmed only
    # once a service has more generations than it keeps), the agent's last pass
    doc["spec"]["port"] = 81
    assert client.put("/v1/services/web", json=doc, headers=alice).get_json()["generation"] == 2
    assert len(count_queries) == 10, count_queries
    count_queries.clear()
    client.get("/v1/services/web", headers=alice)  # token, service, the agent's last pass
    assert len(count_queries) == 3, count_queries
