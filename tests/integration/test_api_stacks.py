"""Stacks through the API (issue 24): multi-document apply all or none, a user's stacks, stop
and start, private services; two real users on a real PostgreSQL."""

import psycopg2
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.fixtures.store import Store


def spec(name, stack="shop", domain=..., **more) -> dict:
    body = {"name": name, "port": 8080, "image": "nginx:1.25", **more}
    if domain is ...:
        domain = f"{name}.example.com"
    if domain is not None:
        body["domain"] = domain
    if stack is not None:
        body["stack"] = stack
    return {"apiVersion": "v1", "spec": body}


def shop() -> list[dict]:
    """A small application: a web front with a domain, a private database and a worker."""
    return [
        spec("front"),
        spec("db", domain=None, volumeMount="/data"),
        spec("worker", domain=None),
    ]


def apply_items(client, headers, items):
    return client.post("/v1/apply", json={"items": items}, headers=headers)


def stored(app) -> list[tuple]:
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg2", "postgresql")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT name, domain, stack, generation FROM services ORDER BY name")
        rows = cur.fetchall()
    conn.close()
    return rows


def error(response) -> dict:
    assert response.is_json, response.data
    return response.get_json()["error"]


# Multi-document apply ------------------------------------------------------------------


def test_apply_of_several_stores_them_all_and_answers_each(app, client, alice):
    response = apply_items(client, alice, shop())
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [(i["name"], i["result"], i["generation"], i["stack"]) for i in items] == [
        ("front", "created", 1, "shop"),
        ("db", "created", 1, "shop"),
        ("worker", "created", 1, "shop"),
    ]
    assert "domain" not in items[1]["spec"]
    assert stored(app) == [
        ("db", None, "shop", 1),
        ("front", "front.example.com", "shop", 1),
        ("worker", None, "shop", 1),
    ]
    again = apply_items(client, alice, [*shop()[:2], spec("worker", domain=None, port=9000)])
    assert [i["result"] for i in again.get_json()["items"]] == ["unchanged", "unchanged", "updated"]


def test_one_invalid_document_stores_nothing_and_every_problem_is_named(app, client, alice):
    items = [*shop(), spec("bad", port=0), spec("worse", stack="Not_A_Label")]
    response = apply_items(client, alice, items)
    assert response.status_code == 400
    body = error(response)
    assert body["code"] == "invalid_definition"
    assert set(body["fields"]) == {"items[3].spec.port", "items[4].spec.stack"}
    assert stored(app) == []


def test_one_conflicting_domain_stores_nothing(app, client, alice, bob):
    assert client.put("/v1/services/taken", json=spec("taken", domain="x.example.com"),
                      headers=bob).status_code == 201  # fmt: skip
    items = [*shop(), spec("late", domain="x.example.com")]
    response = apply_items(client, alice, items)
    assert response.status_code == 409
    body = error(response)
    assert body["message"].startswith("items[3] (late): domain x.example.com is already used")
    assert set(body["fields"]) == {"items[3].spec.domain"}
    assert [row[0] for row in stored(app)] == ["taken"]


def test_two_items_with_one_domain_or_one_name_are_refused(app, client, alice):
    twins = [spec("a", domain="same.example.com"), spec("b", domain="same.example.com")]
    response = apply_items(client, alice, twins)
    assert response.status_code == 409 and "items[1].spec.domain" in error(response)["fields"]
    response = apply_items(client, alice, [spec("a"), spec("b"), spec("a", port=9)])
    assert response.status_code == 400
    assert error(response)["fields"] == {"items[2].spec.name": "a is also the name of items[0]"}
    assert stored(app) == []


def test_the_quota_counts_every_item_and_stopped_services(app, client, alice):
    with Store(app) as store:
        store.set_quota("alice", 3)
    assert apply_items(client, alice, shop()[:2]).status_code == 200
    assert client.post("/v1/services/db/stop", headers=alice).status_code == 200
    response = apply_items(client, alice, [spec("one"), spec("two")])
    assert response.status_code == 409
    assert "items[1].spec.name" in error(response)["fields"]
    assert [row[0] for row in stored(app)] == ["db", "front"]


def test_the_body_must_hold_one_to_a_hundred_items(client, alice):
    for body in ({}, {"items": []}, {"items": {}}, {"items": [spec("a")] * 101}, {"x": 1}):
        response = client.post("/v1/apply", json=body, headers=alice)
        assert response.status_code in (400, 413), body
    response = apply_items(client, alice, [spec("a"), "not a mapping"])
    assert error(response)["fields"] == {"items[1]": "must be a mapping with apiVersion and spec"}


# Stacks -------------------------------------------------------------------------------


def test_a_users_stacks_and_a_stacks_services(app, client, alice):
    apply_items(client, alice, [*shop(), spec("blog", stack="blog"), spec("alone", stack=None)])
    with Store(app) as store:
        store.mark_running("front")
        store.ship_lines("db", ["ready to accept connections"])
    listed = client.get("/v1/stacks", headers=alice).get_json()["stacks"]
    assert listed == [
        {"name": "blog", "services": 1, "status": "pending", "statuses": {"pending": 1}},
        {
            "name": "shop",
            "services": 3,
            "status": "mixed",
            "statuses": {"pending": 2, "running": 1},
        },
    ]
    stack = client.get("/v1/stacks/shop", headers=alice).get_json()
    assert stack["name"] == "shop"
    assert [(s["name"], s["status"], s["domain"], s["last_log"]) for s in stack["services"]] == [
        ("db", "pending", None, "ready to accept connections"),
        ("front", "running", "front.example.com", None),
        ("worker", "pending", None, None),
    ]
    services = client.get("/v1/services", headers=alice).get_json()["services"]
    assert {s["name"]: s["stack"] for s in services}["alone"] is None


def test_another_users_stack_is_as_absent_as_a_missing_one(app, client, alice, bob):
    apply_items(client, alice, shop())
    missing = client.get("/v1/stacks/nothing", headers=bob)
    for method, path in [
        ("get", "/v1/stacks/shop"),
        ("delete", "/v1/stacks/shop?purge=true"),
        ("post", "/v1/stacks/shop/stop"),
        ("post", "/v1/stacks/shop/start"),
        ("post", "/v1/services/db/stop"),
        ("post", "/v1/services/db/start"),
    ]:
        response = getattr(client, method)(path, headers=bob)
        assert response.status_code == 404, path
        assert error(response)["message"].replace("shop", "X").replace("db", "X") in (
            error(missing)["message"].replace("nothing", "X"),
            "no service named 'X'",
        )
    assert client.get("/v1/stacks", headers=bob).get_json() == {"stacks": []}
    assert [s["status"] for s in client.get("/v1/stacks/shop", headers=alice).get_json()[
        "services"]] == ["pending"] * 3  # fmt: skip
    # B's own stack of the same name is B's alone.
    apply_items(client, bob, [spec("bobs", stack="shop")])
    assert [s["name"] for s in client.get("/v1/stacks/shop", headers=bob).get_json()[
        "services"]] == ["bobs"]  # fmt: skip


def test_deleting_a_stack_marks_all_its_services_in_one_go(app, client, alice):
    apply_items(client, alice, [*shop(), spec("blog", stack="blog")])
    response = client.delete("/v1/stacks/shop?purge=true", headers=alice)
    assert response.status_code == 202
    assert {s["status"] for s in response.get_json()["services"]} == {"deleting"}
    services = {s["name"]: s for s in client.get("/v1/services", headers=alice).get_json()[
        "services"]}  # fmt: skip
    assert services["db"]["purge_volume"] and services["blog"]["status"] == "pending"
    with Store(app) as store:
        for name in ("front", "db", "worker"):
            store.forget(name)
    assert client.get("/v1/stacks/shop", headers=alice).status_code == 404


# Stop and start -----------------------------------------------------------------------


def test_stop_then_start_moves_the_desired_state_and_the_status(app, client, alice):
    apply_items(client, alice, shop())
    with Store(app) as store:
        store.mark_running("db")
        stop = client.post("/v1/services/db/stop", headers=alice).get_json()
        # The status stays until the agent reports the containers gone.
        assert (stop["result"], stop["stopped"], stop["status"]) == ("stopped", True, "running")
        again = client.post("/v1/services/db/stop", headers=alice).get_json()
        assert again["result"] == "unchanged"
        # An apply while stopped stores the new generation and stays stopped.
        updated = client.put("/v1/services/db", json=spec("db", domain=None, port=5432),
                             headers=alice).get_json()  # fmt: skip
        assert (updated["generation"], updated["stopped"], updated["status"]) == (
            2, True, "running",
        )  # fmt: skip
        start = client.post("/v1/services/db/start", headers=alice).get_json()
        assert (start["result"], start["stopped"], start["status"]) == ("started", False, "pending")
        assert client.post("/v1/services/db/start", headers=alice).get_json()["result"] == (
            "unchanged"
        )
        client.delete("/v1/services/worker", headers=alice)
        refused = client.post("/v1/services/worker/stop", headers=alice)
        assert refused.status_code == 409 and "being deleted" in error(refused)["message"]


def test_a_stack_stops_and_starts_as_a_whole(app, client, alice):
    apply_items(client, alice, shop())
    client.delete("/v1/services/worker", headers=alice)
    stopped = client.post("/v1/stacks/shop/stop", headers=alice).get_json()["services"]
    assert [(s["name"], s["stopped"]) for s in stopped] == [
        ("db", True), ("front", True), ("worker", False),
    ]  # fmt: skip
    started = client.post("/v1/stacks/shop/start", headers=alice).get_json()["services"]
    assert [(s["name"], s["stopped"], s["status"]) for s in started] == [
        ("db", False, "pending"), ("front", False, "pending"), ("worker", False, "deleting"),
    ]  # fmt: skip


def test_a_private_service_takes_no_certificate(client, alice):
    apply_items(client, alice, shop())
    response = client.put(
        "/v1/services/db/certificate", json={"certificate": "x", "key": "y"}, headers=alice
    )
    assert response.status_code in (409, 503)  # 503 when the host has no sealing key
    assert client.get("/v1/services/db/certificate", headers=alice).status_code == 404


# Hostile input ------------------------------------------------------------------------

HOSTILE_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=40
) | st.sampled_from(["..", "%2e%2e", "shop/../x", "a" * 33, "-shop", "shop-", "SHOP", "ß"])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=HOSTILE_TEXT)
@example(name="0/")  # '//' in the path: once redirected (308) by werkzeug's merge_slashes
def test_hostile_stack_names_are_404_never_a_500(client, alice, name):
    from urllib.parse import quote

    for method, path in [("get", ""), ("post", "/stop"), ("delete", "")]:
        response = getattr(client, method)(f"/v1/stacks/{quote(name, safe='')}{path}",
                                           headers=alice)  # fmt: skip
        assert response.status_code in (404, 405), (name, response.status_code)


JSON_SCALAR = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
HOSTILE_SPEC = st.fixed_dictionaries(
    {"name": st.sampled_from(["a", "b"]) | HOSTILE_TEXT, "port": st.integers(-1, 70000)},
    optional={
        "domain": st.none() | st.sampled_from(["a.example.com", "api.sws.test"]) | HOSTILE_TEXT,
        "image": st.just("nginx:1.25") | HOSTILE_TEXT,
        "stack": st.none() | st.sampled_from(["s", "shop"]) | HOSTILE_TEXT,
        "update": st.none() | st.sampled_from(["rolling", "recreate"]) | HOSTILE_TEXT,
        "tls": st.none()
        | st.fixed_dictionaries({"certificate": st.sampled_from(["acme", "none"])}),
        "extra": JSON_SCALAR,
    },
)
HOSTILE_ITEM = st.fixed_dictionaries({"apiVersion": st.just("v1"), "spec": HOSTILE_SPEC}) | (
    JSON_SCALAR
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(items=st.lists(HOSTILE_ITEM, min_size=1, max_size=4))
def test_hostile_documents_are_all_or_none_never_a_500(app, client, alice, items):
    before = stored(app)
    response = apply_items(client, alice, items)
    assert response.status_code in (200, 400, 409), response.data
    if response.status_code != 200:
        assert stored(app) == before
        assert all(key.startswith("items") for key in error(response).get("fields", {}))
    else:
        names = {row[0] for row in stored(app)}
        assert {item["spec"]["name"] for item in items} <= names
