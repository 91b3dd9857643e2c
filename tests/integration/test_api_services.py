"""Applying, reading and deleting services through the API, with ownership and NOTIFY."""

import json
import select

import psycopg2
import pytest
import yaml

from tests.unit.test_spec import SEED_EXAMPLE


def definition(name="web", domain=None, **spec) -> dict:
    body = {
        "name": name,
        "port": 8080,
        "domain": domain or f"{name}.example.com",
        "image": "nginx:1.25",
        **spec,
    }
    return {"apiVersion": "v1", "spec": body}


def apply(client, headers, doc):
    return client.put(f"/v1/services/{doc['spec']['name']}", json=doc, headers=headers)


def error(response) -> dict:
    assert response.is_json, response.data
    return response.get_json()["error"]


def test_apply_creates_a_pending_service_at_generation_1(client, alice):
    response = apply(client, alice, definition(env=[{"name": "PORT", "value": 8080}]))
    assert response.status_code == 201
    body = response.get_json()
    assert body["result"] == "created"
    assert body["name"] == "web" and body["owner"] == "alice"
    assert body["generation"] == 1 and body["applied_generation"] == 0
    assert body["status"] == "pending"
    assert body["message"] is None and body["last_log"] is None
    assert body["created_at"] == body["updated_at"]
    assert body["spec"] == {
        "name": "web",
        "port": 8080,
        "domain": "web.example.com",
        "image": "nginx:1.25",
        "env": [{"name": "PORT", "value": "8080"}],
    }
    assert list(body["spec"]) == ["name", "port", "domain", "image", "env"]


def test_identical_reapply_changes_nothing(client, alice):
    first = apply(client, alice, definition(env=[{"name": "A", "value": 1}])).get_json()
    # The same spec written differently (1 versus "1") is the same spec.
    again = apply(client, alice, definition(env=[{"name": "A", "value": "1"}]))
    assert again.status_code == 200
    body = again.get_json()
    assert body["result"] == "unchanged"
    assert body["generation"] == 1
    assert body["updated_at"] == first["updated_at"]


def test_changed_spec_bumps_the_generation(client, alice):
    apply(client, alice, definition())
    response = apply(client, alice, definition(image="nginx:1.26"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["result"] == "updated"
    assert body["generation"] == 2
    assert body["spec"]["image"] == "nginx:1.26"
    assert body["updated_at"] > body["created_at"]
    assert apply(client, alice, definition(image="nginx:1.26")).get_json()["generation"] == 2
    assert apply(client, alice, definition(port=9000)).get_json()["generation"] == 3


def test_seed_example_is_refused_naming_the_field_then_accepted_when_fixed(client, alice):
    seed = yaml.safe_load(SEED_EXAMPLE)
    response = client.put("/v1/services/service-name", json=seed, headers=alice)
    assert response.status_code == 400
    err = error(response)
    assert err["code"] == "invalid_definition"
    assert err["fields"]["spec.env[1].bar"] == "unknown field"
    fixed = yaml.safe_load(SEED_EXAMPLE.replace("bar: bar", "value: bar"))
    response = client.put("/v1/services/service-name", json=fixed, headers=alice)
    assert response.status_code == 201
    assert response.get_json()["spec"]["volumeMount"] == "/foo/bar"


def test_url_name_must_match_the_definition(client, alice):
    response = client.put("/v1/services/other", json=definition("web"), headers=alice)
    assert response.status_code == 400
    assert error(response)["fields"] == {"spec.name": "must be 'other', the name in the URL"}


def test_get_returns_one_service_with_its_status(client, alice):
    apply(client, alice, definition())
    response = client.get("/v1/services/web", headers=alice)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "pending" and body["generation"] == 1
    assert "result" not in body


def test_get_of_a_missing_service_is_404(client, alice):
    response = client.get("/v1/services/nothing", headers=alice)
    assert response.status_code == 404
    assert error(response) == {
        "status": 404,
        "code": "not_found",
        "message": "no service named 'nothing'",
    }


def test_list_returns_only_the_callers_services_by_name(client, alice, bob):
    for name in ("zeta", "alpha", "mid"):
        apply(client, alice, definition(name))
    apply(client, bob, definition("bobs"))
    services = client.get("/v1/services", headers=alice).get_json()["services"]
    assert [s["name"] for s in services] == ["alpha", "mid", "zeta"]
    assert {s["owner"] for s in services} == {"alice"}
    assert [s["name"] for s in client.get("/v1/services", headers=bob).get_json()["services"]] == [
        "bobs"
    ]


def test_list_is_empty_for_a_new_user(client, alice):
    answer = client.get("/v1/services", headers=alice).get_json()
    assert answer == {"services": [], "next_cursor": None}


def test_delete_marks_the_service_deleting(client, alice):
    apply(client, alice, definition())
    response = client.delete("/v1/services/web", headers=alice)
    assert response.status_code == 202
    assert response.get_json()["status"] == "deleting"
    assert client.get("/v1/services/web", headers=alice).get_json()["status"] == "deleting"
    # Deleting again is harmless; the record stays until the agent has removed the service.
    assert client.delete("/v1/services/web", headers=alice).status_code == 202
    listed = client.get("/v1/services", headers=alice).get_json()["services"]
    assert [s["status"] for s in listed] == ["deleting"]


def test_delete_keeps_the_volume_unless_purged(client, alice):
    apply(client, alice, definition())
    assert apply(client, alice, definition()).get_json()["purge_volume"] is False
    body = client.delete("/v1/services/web", headers=alice).get_json()
    assert body["status"] == "deleting" and body["purge_volume"] is False


@pytest.mark.parametrize("value", ["true", "1"])
def test_delete_with_purge_marks_the_volume_for_removal(client, alice, value):
    apply(client, alice, definition())
    response = client.delete(f"/v1/services/web?purge={value}", headers=alice)
    assert response.status_code == 202
    assert response.get_json()["status"] == "deleting"
    assert response.get_json()["purge_volume"] is True
    assert client.get("/v1/services/web", headers=alice).get_json()["purge_volume"] is True


@pytest.mark.parametrize("value", ["false", "0"])
def test_delete_with_purge_false_keeps_the_volume(client, alice, value):
    apply(client, alice, definition())
    response = client.delete(f"/v1/services/web?purge={value}", headers=alice)
    assert response.status_code == 202
    assert response.get_json()["purge_volume"] is False


def test_a_second_delete_can_add_a_purge_but_never_take_it_back(client, alice):
    apply(client, alice, definition())
    client.delete("/v1/services/web", headers=alice)
    body = client.delete("/v1/services/web?purge=true", headers=alice).get_json()
    assert body["status"] == "deleting" and body["purge_volume"] is True
    assert client.delete("/v1/services/web", headers=alice).get_json()["purge_volume"] is True
    again = client.delete("/v1/services/web?purge=false", headers=alice).get_json()
    assert again["purge_volume"] is True


@pytest.mark.parametrize("query", ["purge=yes", "purge=", "purge=TRUE", "purge=1&purge=0"])
def test_a_bad_purge_value_is_a_400_naming_the_parameter(client, alice, query):
    apply(client, alice, definition())
    response = client.delete(f"/v1/services/web?{query}", headers=alice)
    assert response.status_code == 400
    body = error(response)
    assert body["code"] == "invalid_request"
    assert "purge" in body["message"] and "purge" in body["fields"]
    assert client.get("/v1/services/web", headers=alice).get_json()["status"] == "pending"


def test_a_bad_purge_value_is_refused_before_the_service_is_looked_up(client, alice):
    assert client.delete("/v1/services/web?purge=maybe", headers=alice).status_code == 400


def test_applying_a_service_being_deleted_is_a_conflict(client, alice):
    apply(client, alice, definition())
    client.delete("/v1/services/web", headers=alice)
    response = apply(client, alice, definition())
    assert response.status_code == 409
    assert "being deleted" in error(response)["message"]


def test_delete_of_a_missing_service_is_404(client, alice):
    assert client.delete("/v1/services/web", headers=alice).status_code == 404


def test_another_users_service_is_invisible_and_undeletable(client, alice, bob):
    apply(client, alice, definition())
    assert client.get("/v1/services/web", headers=bob).status_code == 404
    response = client.delete("/v1/services/web", headers=bob)
    assert response.status_code == 404
    assert error(response)["code"] == "not_found"
    assert client.get("/v1/services", headers=bob).get_json()["services"] == []
    assert client.get("/v1/services/web", headers=alice).get_json()["status"] == "pending"


def test_a_name_held_by_another_user_is_a_409_naming_it(client, alice, bob):
    apply(client, alice, definition("web"))
    response = apply(client, bob, definition("web", domain="bob.example.com"))
    assert response.status_code == 409
    err = error(response)
    assert err["code"] == "conflict"
    assert err["message"] == "service name web is taken by another user"
    assert err["fields"] == {"spec.name": "web belongs to another user"}
    # Alice's service is untouched.
    body = client.get("/v1/services/web", headers=alice).get_json()
    assert body["spec"]["domain"] == "web.example.com" and body["generation"] == 1


def test_a_domain_held_by_another_user_is_a_409_naming_it(client, alice, bob):
    apply(client, alice, definition("web", domain="shop.example.com"))
    response = apply(client, bob, definition("bobs", domain="shop.example.com"))
    assert response.status_code == 409
    err = error(response)
    assert err["message"] == "domain shop.example.com is already used by another user's service"
    assert "spec.domain" in err["fields"]
    assert client.get("/v1/services", headers=bob).get_json()["services"] == []


def test_a_domain_held_by_the_callers_other_service_names_that_service(client, alice):
    apply(client, alice, definition("web", domain="shop.example.com"))
    response = apply(client, alice, definition("api", domain="shop.example.com"))
    assert response.status_code == 409
    assert error(response)["message"] == (
        "domain shop.example.com is already used by your service web"
    )


def test_moving_a_service_to_another_domain_frees_the_old_one(client, alice, bob):
    apply(client, alice, definition("web", domain="old.example.com"))
    assert apply(client, alice, definition("web", domain="new.example.com")).status_code == 200
    assert apply(client, bob, definition("bobs", domain="old.example.com")).status_code == 201


def test_a_reserved_domain_is_refused_naming_it(client, alice):
    response = apply(client, alice, definition(domain="api.sws.test"))
    assert response.status_code == 409
    err = error(response)
    assert "api.sws.test" in err["message"] and "reserved" in err["message"]
    assert err["fields"] == {"spec.domain": "api.sws.test is reserved (SWS_RESERVED_DOMAINS)"}


@pytest.fixture
def listener(migrated_database_url, app):
    """A psycopg2 connection LISTENing on sws_services, as `sws-agent watch` does."""
    conn = psycopg2.connect(migrated_database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("LISTEN sws_services")

    def received(timeout=2.0) -> list[dict]:
        events = []
        while select.select([conn], [], [], timeout) != ([], [], []):
            conn.poll()
            while conn.notifies:
                events.append(json.loads(conn.notifies.pop(0).payload))
            timeout = 0.2
        return events

    yield received
    conn.close()


def test_apply_and_delete_notify_a_listening_connection(client, alice, listener):
    apply(client, alice, definition())
    assert listener() == [{"name": "web", "event": "apply"}]
    apply(client, alice, definition(port=9000))
    assert listener() == [{"name": "web", "event": "apply"}]
    client.delete("/v1/services/web", headers=alice)
    assert listener() == [{"name": "web", "event": "delete"}]


def test_a_purge_added_to_a_deleting_service_notifies_once(client, alice, listener):
    apply(client, alice, definition())
    client.delete("/v1/services/web", headers=alice)
    assert listener() == [{"name": "web", "event": "apply"}, {"name": "web", "event": "delete"}]
    client.delete("/v1/services/web", headers=alice)  # nothing changes
    assert listener(timeout=0.5) == []
    client.delete("/v1/services/web?purge=true", headers=alice)
    assert listener() == [{"name": "web", "event": "delete"}]
    client.delete("/v1/services/web?purge=1", headers=alice)  # already purging
    assert listener(timeout=0.5) == []


def test_no_notify_when_nothing_changed_or_the_apply_failed(client, alice, bob, listener):
    apply(client, alice, definition())
    assert listener() == [{"name": "web", "event": "apply"}]
    apply(client, alice, definition())  # unchanged
    apply(client, bob, definition("web", domain="x.example.com"))  # 409
    apply(client, alice, definition(port=0))  # 400
    assert listener(timeout=0.5) == []


def test_the_notify_is_sent_with_the_change(client, alice, listener, migrated_database_url):
    """By the time the agent hears the NOTIFY, the change it announces is committed."""
    apply(client, alice, definition())
    assert listener() == [{"name": "web", "event": "apply"}]
    with psycopg2.connect(migrated_database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT generation, status FROM services WHERE name = 'web'")
        assert cur.fetchone() == (1, "pending")
    conn.close()
