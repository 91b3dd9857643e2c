"""Aliases, redirects, access and pages through the API (issue 27): a domain in any of the
spec's domain, aliases and redirects is one service's on the host, refused to anyone else with
a 409 naming the field, released when the service's row goes; racing claims end in one winner.
"""

from __future__ import annotations

import psycopg2
import pytest

from swsagent import record
from tests.integration.test_api_concurrency import race

HASH = "$2y$12$" + "A" * 53


def definition(name: str, domain: str | None = None, **extra) -> dict:
    spec = {"name": name, "port": 80, "image": "nginx", **extra}
    if domain:
        spec["domain"] = domain
    return {"apiVersion": "v1", "spec": spec}


def apply(client, headers, doc):
    return client.put(f"/v1/services/{doc['spec']['name']}", json=doc, headers=headers)


def error(response) -> dict:
    return response.get_json()["error"]


def claims(url: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT d.domain, s.name, d.role FROM service_domains d"
            " JOIN services s ON s.id = d.service_id ORDER BY d.domain"
        )
        found = cur.fetchall()
    conn.close()
    return found


def test_the_fields_are_stored_and_shown_back(client, alice, migrated_database_url):
    doc = definition(
        "web",
        "example.com",
        aliases=["www.example.com"],
        redirects=["old.example.com"],
        access={"basicAuth": [{"user": "alice", "passwordHash": HASH}], "allow": ["10.1.2.3/8"]},
        pages={"maintenance": "<p>back soon</p>", "error": "<p>oops</p>"},
    )
    response = apply(client, alice, doc)
    assert response.status_code == 201, response.get_json()
    spec = response.get_json()["spec"]
    assert spec["aliases"] == ["www.example.com"] and spec["redirects"] == ["old.example.com"]
    assert spec["access"]["allow"] == ["10.0.0.0/8"]  # normalised
    assert spec["pages"]["maintenance"] == "<p>back soon</p>"
    assert claims(migrated_database_url) == [
        ("example.com", "web", "domain"),
        ("old.example.com", "web", "redirect"),
        ("www.example.com", "web", "alias"),
    ]
    # The same spec again is unchanged: the normalised network is what the digest saw.
    assert apply(client, alice, doc).get_json()["result"] == "unchanged"


@pytest.mark.parametrize("field", ["domain", "aliases", "redirects"])
def test_a_domain_in_any_field_is_refused_to_another_user_naming_the_field(
    client, alice, bob, field
):
    taken = {"domain": "example.com", "aliases": "www.example.com", "redirects": "old.example.com"}
    assert (
        apply(
            client,
            alice,
            definition(
                "web", "example.com", aliases=["www.example.com"], redirects=["old.example.com"]
            ),
        ).status_code
        == 201
    )
    for key in ("domain", "aliases", "redirects"):
        extra = {} if key == "domain" else {key: ["free.example.net", taken[field]]}
        domain = taken[field] if key == "domain" else "bob.example.net"
        response = apply(client, bob, definition("bobs", domain, **extra))
        assert response.status_code == 409, (field, key)
        path = "spec.domain" if key == "domain" else f"spec.{key}[1]"
        assert error(response)["fields"] == {
            path: f"{taken[field]} is already used by another user's service"
        }


def test_a_domain_given_up_is_free_and_a_deleted_service_releases_its_own(
    client, alice, bob, migrated_database_url
):
    apply(client, alice, definition("web", "example.com", aliases=["www.example.com"]))
    assert apply(client, bob, definition("bobs", "www.example.com")).status_code == 409
    # Moving a name from aliases to redirects keeps it the same service's.
    moved = apply(client, alice, definition("web", "example.com", redirects=["www.example.com"]))
    assert moved.status_code == 200, moved.get_json()
    assert apply(client, alice, definition("web", "example.com")).status_code == 200
    assert apply(client, bob, definition("bobs", "www.example.com")).status_code == 201
    apply(client, alice, definition("web2", "two.example.com", aliases=["www2.example.com"]))
    assert client.delete("/v1/services/web2", headers=alice).status_code == 202
    # Deleting keeps the claim until the agent has removed the service and forgets its row.
    held = apply(client, bob, definition("late", "x.example.com", aliases=["www2.example.com"]))
    assert held.status_code == 409
    conn = psycopg2.connect(migrated_database_url)
    try:
        assert record.forget(conn, "web2")
    finally:
        conn.close()
    response = apply(client, bob, definition("late", "x.example.com", aliases=["www2.example.com"]))
    assert response.status_code in (200, 201), response.get_json()
    assert ("www2.example.com", "late", "alias") in claims(migrated_database_url)


def test_an_alias_still_served_as_another_services_old_domain_is_refused(
    client, alice, bob, migrated_database_url
):
    apply(client, alice, definition("web", "old.example.com"))
    conn = psycopg2.connect(migrated_database_url)
    try:
        record.mark_running(conn, "web", 1)
    finally:
        conn.close()
    apply(client, alice, definition("web", "new.example.com"))
    response = apply(
        client, bob, definition("bobs", "b.example.com", redirects=["old.example.com"])
    )
    assert response.status_code == 409
    assert "still served" in error(response)["fields"]["spec.redirects[0]"]


def test_reserved_and_own_names_are_refused_in_aliases(client, alice):
    response = apply(client, alice, definition("web", "example.com", aliases=["api.sws.test"]))
    assert response.status_code == 409
    assert error(response)["fields"] == {
        "spec.aliases[0]": "api.sws.test is reserved (SWS_RESERVED_DOMAINS)"
    }
    response = apply(client, alice, definition("web", "example.com", redirects=["localhost"]))
    assert response.status_code == 400
    assert "spec.redirects[0]" in error(response)["fields"]


def test_clear_passwords_are_refused_naming_the_field(client, alice):
    access = {"basicAuth": [{"user": "alice", "passwordHash": "hunter2"}]}
    response = apply(client, alice, definition("web", "example.com", access=access))
    assert response.status_code == 400
    message = error(response)["fields"]["spec.access.basicAuth[0].passwordHash"]
    assert "bcrypt" in message and "hunter2" not in message


def test_aliases_need_a_domain(client, alice):
    response = apply(client, alice, definition("web", aliases=["www.example.com"]))
    assert response.status_code == 400
    assert error(response)["fields"] == {
        "spec.aliases": "a service without a domain has no aliases"
    }


def test_racing_claims_of_one_alias_give_one_winner(live_api):
    racers = [{"Authorization": f"Bearer {live_api.create_user(f'racer-{i}')}"} for i in range(4)]
    for n in range(6):
        shared = f"shared-{n}.example.com"
        jobs = []
        for i, headers in enumerate(racers):
            # Each racer claims the shared name in another field (or as its domain).
            field = ("aliases", "redirects")[i % 2]
            doc = definition(f"r{n}-{i}", f"r{n}-{i}.example.com", **{field: [shared]})
            if i == 3:
                doc = definition(f"r{n}-{i}", shared)
            jobs.append((f"/v1/services/r{n}-{i}", doc, headers))
        responses = race(live_api.url, jobs)
        assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
        for r in responses:
            if r.status_code == 409:
                assert shared in next(iter(r.json()["error"]["fields"].values()))
    with psycopg2.connect(live_api.database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM service_domains WHERE domain LIKE 'shared-%'")
        assert cur.fetchone() == (6,)
    conn.close()
    assert "Traceback" not in live_api.log()
