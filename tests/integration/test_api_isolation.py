"""Tenant isolation in the store, through the API with two real users on a real PostgreSQL:
the service quota, pages of the list, kept volumes holding their name for their owner, an
administrator's purge, the domain still served by an update that has not gone live, and the
spec's resources within the operator's caps."""

import psycopg2
import pytest

from swsagent import record
from swsapi import auth
from swsapi.app import create_app
from tests.fixtures.apiserver import TestConfig, dispose
from tests.integration.test_api_cli import run
from tests.integration.test_api_services import apply, definition, error


@pytest.fixture
def small_app(migrated_database_url):
    """The app with a quota of 3 services a user and caps of 512Mi, 1.5 CPUs and 64Mi of
    disk."""
    app = create_app(
        TestConfig(
            migrated_database_url,
            SWS_SERVICE_QUOTA="3",
            SWS_MAX_MEMORY="512Mi",
            SWS_MAX_CPUS="1.5",
            SWS_MAX_DISK="64Mi",
        )
    )
    yield app
    dispose(app)


@pytest.fixture
def small(small_app):
    return small_app.test_client()


@pytest.fixture
def users(small_app):
    def make(name, admin=False):
        with small_app.app_context():
            return {"Authorization": f"Bearer {auth.create_user(name, admin=admin)}"}

    return {"alice": make("alice"), "bob": make("bob"), "root": make("root", admin=True)}


def sql(url, query, params=()):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall() if cur.description else None
    conn.close()
    return rows


def test_past_the_quota_an_apply_is_a_409_saying_so(small, users):
    for name in ("a1", "a2", "a3"):
        assert apply(small, users["alice"], definition(name)).status_code == 201
    response = apply(small, users["alice"], definition("a4"))
    assert response.status_code == 409
    err = error(response)
    assert err["code"] == "conflict"
    assert err["message"] == (
        "you have 3 services, your quota is 3: delete one, or ask an administrator to "
        "raise your quota"
    )
    assert err["fields"] == {"spec.name": "over the quota of 3 services"}
    # Updates of existing services are not creates, and bob has his own quota.
    assert apply(small, users["alice"], definition("a1", image="nginx:2")).status_code == 200
    assert apply(small, users["bob"], definition("b1")).status_code == 201
    # A service being deleted no longer counts.
    assert small.delete("/v1/services/a1", headers=users["alice"]).status_code == 202
    assert apply(small, users["alice"], definition("a4")).status_code == 201
    # Administrators (the operator's accounts) are not capped.
    for name in ("r1", "r2", "r3", "r4"):
        assert apply(small, users["root"], definition(name)).status_code == 201


def test_an_administrator_raises_a_users_quota_from_the_cli(small, users, migrated_database_url):
    for name in ("a1", "a2", "a3"):
        apply(small, users["alice"], definition(name))
    raised = run(migrated_database_url, "users", "quota", "alice", "4", SWS_SERVICE_QUOTA="3")
    assert raised.returncode == 0 and "alice may have 4 services" in raised.stderr
    assert apply(small, users["alice"], definition("a4")).status_code == 201
    assert apply(small, users["alice"], definition("a5")).status_code == 409
    back = run(migrated_database_url, "users", "quota", "alice", "default", SWS_SERVICE_QUOTA="3")
    assert back.returncode == 0 and "the default (3)" in back.stderr
    bad = run(migrated_database_url, "users", "quota", "nobody", "many")
    assert bad.returncode == 2 and "a whole number, or default" in bad.stderr


def test_the_list_comes_in_pages_by_name(client, alice, bob, app):
    with app.app_context():
        from swsapi.models import User
        from swsapi.store import set_quota

        set_quota("alice", 30)
        assert User.query.filter_by(name="alice").one().service_quota == 30
    names = [f"s{i:02d}" for i in range(25)]
    for name in reversed(names):
        assert apply(client, alice, definition(name)).status_code == 201
    apply(client, bob, definition("bobs"))
    seen, cursor, pages = [], None, 0
    while True:
        query = "?limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = client.get("/v1/services" + query, headers=alice).get_json()
        seen += [s["name"] for s in page["services"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == names and pages == 3
    whole = client.get("/v1/services", headers=alice).get_json()
    assert [s["name"] for s in whole["services"]] == names and whole["next_cursor"] is None
    exact = client.get("/v1/services?limit=25", headers=alice).get_json()
    assert len(exact["services"]) == 25 and exact["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=501", "limit"), ("limit=x", "limit"), ("cursor=A!", "cursor")],
)
def test_a_bad_page_parameter_is_a_400_naming_it(client, alice, query, field):
    response = client.get(f"/v1/services?{query}", headers=alice)
    assert response.status_code == 400
    assert list(error(response)["fields"]) == [field]


def forget(url, name):
    """What the agent does once a deleted service's containers (and purged volume) are gone."""
    conn = psycopg2.connect(url)
    try:
        return record.forget(conn, name)
    finally:
        conn.close()


def test_a_kept_volume_holds_the_name_for_its_owner(client, alice, bob, migrated_database_url):
    url = migrated_database_url
    assert apply(client, alice, definition("data", volumeMount="/data")).status_code == 201
    client.delete("/v1/services/data", headers=alice)
    forget(url, "data")  # deleted without purge: the volume and its reservation stay
    assert sql(url, "SELECT name FROM volumes") == [("data-volume",)]

    response = apply(client, bob, definition("data", domain="bob.example.com"))
    assert response.status_code == 409
    err = error(response)
    assert err["message"] == (
        "service name data is held by a kept volume data-volume of another user"
    )
    assert err["fields"] == {"spec.name": "a kept volume data-volume holds this name"}
    # The owner gets the name (and the data) back.
    assert apply(client, alice, definition("data", volumeMount="/data")).status_code == 201


def test_the_owners_delete_with_purge_frees_the_name(client, alice, bob, migrated_database_url):
    url = migrated_database_url
    apply(client, alice, definition("data", volumeMount="/data"))
    client.delete("/v1/services/data?purge=true", headers=alice)
    assert forget(url, "data")
    assert sql(url, "SELECT name FROM volumes") == []
    assert apply(client, bob, definition("data", volumeMount="/srv")).status_code == 201
    assert sql(url, "SELECT v.name, u.name FROM volumes v JOIN users u ON u.id = v.owner_id") == [
        ("data-volume", "bob")
    ]


def test_an_administrator_purges_a_kept_volume(
    client, alice, bob, make_user, migrated_database_url
):
    url = migrated_database_url
    root = make_user("root", admin=True)
    apply(client, alice, definition("data", volumeMount="/data"))
    client.delete("/v1/services/data", headers=alice)
    forget(url, "data")

    assert client.delete("/v1/volumes/data-volume", headers=bob).status_code == 403
    response = client.delete("/v1/volumes/data-volume", headers=root)
    assert response.status_code == 202
    body = response.get_json()
    assert (body["name"], body["owner"], body["purge_requested"]) == ("data-volume", "alice", True)
    # Until the agent removed it, the name stays held, for everyone.
    held = apply(client, bob, definition("data", domain="b.example.com"))
    assert held.status_code == 409 and "being purged" in error(held)["message"]
    assert forget(url, "data")  # the agent removed the volume
    assert apply(client, bob, definition("data", domain="b.example.com")).status_code == 201


def test_an_administrator_cannot_purge_a_volume_in_use(client, alice, make_user):
    root = make_user("root", admin=True)
    apply(client, alice, definition("data", volumeMount="/data"))
    response = client.delete("/v1/volumes/data-volume", headers=root)
    assert response.status_code == 409
    assert error(response)["fields"] == {"name": "in use by service data"}
    # Once its service is deleting, the purge rides on the delete.
    client.delete("/v1/services/data", headers=alice)
    assert client.delete("/v1/volumes/data-volume", headers=root).status_code == 202
    assert client.get("/v1/services/data", headers=alice).get_json()["purge_volume"] is True
    bad = client.delete("/v1/volumes/data", headers=root)
    assert bad.status_code == 400 and list(error(bad)["fields"]) == ["name"]


def test_a_volume_of_unknown_owner_is_reserved_to_administrators(
    client, alice, make_user, migrated_database_url
):
    url = migrated_database_url
    root = make_user("root", admin=True)
    # Raw SQL: a volume of unknown owner is one kept from before the store recorded owners
    # (migration 0005); neither the API nor the agent makes one.
    sql(url, "INSERT INTO volumes (name, owner_id) VALUES ('old-volume', NULL)")
    response = apply(client, alice, definition("old"))
    assert response.status_code == 409
    assert "unknown owner" in error(response)["message"]
    assert apply(client, root, definition("old", volumeMount="/data")).status_code == 201
    assert sql(url, "SELECT u.name FROM volumes v JOIN users u ON u.id = v.owner_id") == [("root",)]


def test_an_update_to_a_new_domain_keeps_the_old_one_until_it_goes_live(
    client, alice, bob, migrated_database_url
):
    url = migrated_database_url
    apply(client, alice, definition("web", domain="old.example.com"))
    conn = psycopg2.connect(url)
    try:
        record.mark_running(conn, "web", 1)  # generation 1 serves old.example.com
        assert apply(client, alice, definition("web", domain="new.example.com")).status_code == 200
        # Generation 2 has not gone live: old.example.com is still routed to web.
        response = apply(client, bob, definition("bobs", domain="old.example.com"))
        assert response.status_code == 409
        assert error(response)["message"] == (
            "domain old.example.com is still served (until its update goes live) by "
            "another user's service"
        )
        mine = apply(client, alice, definition("api", domain="old.example.com"))
        assert mine.status_code == 409 and "your service web" in error(mine)["message"]
        # A failed update changes nothing: the old domain stays web's.
        record.mark_failed(conn, "web", 2, "image missing", None)
        assert apply(client, bob, definition("bobs", domain="old.example.com")).status_code == 409
        # The new generation serves: the old domain is released.
        record.mark_running(conn, "web", 2)
    finally:
        conn.close()
    assert sql(url, "SELECT served_domain FROM services WHERE name = 'web'") == [
        ("new.example.com",)
    ]
    assert apply(client, bob, definition("bobs", domain="old.example.com")).status_code == 201


def test_resources_within_the_caps_are_stored_and_beyond_them_refused(small, users):
    ok = apply(small, users["alice"], definition(resources={"memory": "512Mi", "cpus": 1.5}))
    assert ok.status_code == 201
    assert ok.get_json()["spec"]["resources"] == {"memory": "512Mi", "cpus": "1.5"}
    response = apply(small, users["alice"], definition(resources={"memory": "1Gi", "cpus": "2"}))
    assert response.status_code == 400
    err = error(response)
    assert err["code"] == "invalid_definition"
    assert err["fields"] == {
        "spec.resources.memory": "must be at most 536870912 bytes on this host (SWS_MAX_MEMORY)",
        "spec.resources.cpus": "must be at most 1.5 on this host (SWS_MAX_CPUS)",
    }


def test_a_volume_size_beyond_the_cap_is_refused_naming_the_field(small, users):
    ok = apply(
        small,
        users["alice"],
        definition("db", volumeMount="/data", resources={"disk": "64Mi"}),
    )
    assert ok.status_code == 201, ok.get_json()
    assert ok.get_json()["spec"]["resources"] == {"disk": "64Mi"}
    bigger = definition("db", volumeMount="/data", resources={"disk": "65Mi"})
    response = apply(small, users["alice"], bigger)
    assert response.status_code == 400
    assert error(response)["fields"] == {
        "spec.resources.disk": "must be at most 67108864 bytes on this host (SWS_MAX_DISK)"
    }
