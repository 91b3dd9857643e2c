"""History, rollback, restart and forced applies through the API, with ownership and bounds."""

import psycopg2
import pytest

from swsapi import auth
from swsapi.app import create_app
from swscore.spec import ENV_MASK
from tests.fixtures.apiserver import TestConfig, dispose
from tests.fixtures.store import Store
from tests.integration.test_api_services import apply, definition, error


def put(client, headers, doc, **query):
    return client.put(
        f"/v1/services/{doc['spec']['name']}", json=doc, headers=headers, query_string=query
    )


def history(client, headers, name="web", **query):
    return client.get(f"/v1/services/{name}/history", headers=headers, query_string=query)


def rollback(client, headers, name="web", **body):
    return client.post(f"/v1/services/{name}/rollback", json=body or None, headers=headers)


def generations(client, headers, name="web") -> list[int]:
    return [g["generation"] for g in history(client, headers, name).get_json()["generations"]]


def images(client, headers, name="web") -> list[str]:
    return [g["spec"]["image"] for g in history(client, headers, name).get_json()["generations"]]


def three_generations(client, headers):
    for tag in ("1.25", "1.26", "1.27"):
        apply(client, headers, definition(image=f"nginx:{tag}"))


# history ---------------------------------------------------------------------------


def test_every_new_generation_is_kept_newest_first_with_its_cause(client, alice):
    three_generations(client, alice)
    apply(client, alice, definition(image="nginx:1.27"))  # unchanged: no new generation
    body = history(client, alice).get_json()
    assert body["name"] == "web" and body["generation"] == 3
    assert [(g["generation"], g["cause"]) for g in body["generations"]] == [
        (3, "apply"),
        (2, "apply"),
        (1, "apply"),
    ]
    assert images(client, alice) == ["nginx:1.27", "nginx:1.26", "nginx:1.25"]
    assert all(g["rolled_back_to"] is None for g in body["generations"])


def test_history_masks_env_unless_show_secrets(client, alice):
    apply(client, alice, definition(env=[{"name": "DB_PASSWORD", "value": "hunter2"}]))
    masked = history(client, alice).get_json()["generations"][0]["spec"]["env"]
    assert masked == [{"name": "DB_PASSWORD", "value": ENV_MASK}]
    assert b"hunter2" not in history(client, alice).data
    shown = history(client, alice, show_secrets="true").get_json()["generations"][0]["spec"]
    assert shown["env"] == [{"name": "DB_PASSWORD", "value": "hunter2"}]
    bad = history(client, alice, show_secrets="yes")
    assert bad.status_code == 400 and "show_secrets" in error(bad)["fields"]


def test_history_is_bounded_by_sws_history_kept(migrated_database_url):
    app = create_app(TestConfig(migrated_database_url, SWS_HISTORY_KEPT="3"))
    try:
        client = app.test_client()
        with app.app_context():
            alice = {"Authorization": f"Bearer {auth.create_user('alice')}"}
        for port in range(8001, 8007):
            apply(client, alice, definition(port=port))
        assert generations(client, alice) == [6, 5, 4]
        gone = rollback(client, alice, generation=2)
        assert gone.status_code == 404 and "not kept" in error(gone)["message"]
    finally:
        dispose(app)


def test_another_users_history_and_rollback_are_404(client, alice, bob):
    three_generations(client, alice)
    assert history(client, bob).status_code == 404
    assert rollback(client, bob).status_code == 404
    assert rollback(client, bob, generation=1).status_code == 404
    assert client.post("/v1/services/web/restart", headers=bob).status_code == 404
    assert generations(client, alice) == [3, 2, 1]


def test_history_needs_a_token(client):
    assert client.get("/v1/services/web/history").status_code == 401
    assert client.post("/v1/services/web/rollback").status_code == 401


def test_a_missing_service_or_a_bad_name_is_404(client, alice):
    assert history(client, alice, "nope").status_code == 404
    assert history(client, alice, "Not_A-Name").status_code == 404
    assert rollback(client, alice, "nope").status_code == 404


def test_history_goes_with_the_record_so_a_reused_name_starts_empty(
    app, client, alice, bob, migrated_database_url
):
    three_generations(client, alice)
    client.delete("/v1/services/web", headers=alice)
    # The agent removed it: its record goes (swsagent/record.py), and the history with it.
    assert Store(app, migrated_database_url).forget("web")
    with psycopg2.connect(migrated_database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM service_generations")
        assert cur.fetchone() == (0,)
    conn.close()
    assert apply(client, bob, definition()).status_code == 201
    assert generations(client, bob) == [1]
    assert rollback(client, bob).status_code == 409  # nothing of alice's to go back to


# rollback --------------------------------------------------------------------------


def test_rollback_defaults_to_the_previous_spec_as_a_new_generation(client, alice):
    three_generations(client, alice)
    response = rollback(client, alice)
    assert response.status_code == 200
    body = response.get_json()
    assert body["result"] == "updated" and body["rolled_back_to"] == 2
    assert body["generation"] == 4 and body["status"] == "pending"
    assert body["spec"]["image"] == "nginx:1.26"
    latest = history(client, alice).get_json()["generations"][0]
    assert (latest["generation"], latest["cause"], latest["rolled_back_to"]) == (4, "rollback", 2)
    # Rolling back again undoes the rollback (the previous spec is 1.27 now).
    assert rollback(client, alice).get_json()["spec"]["image"] == "nginx:1.27"


def test_rollback_to_a_named_generation(client, alice):
    three_generations(client, alice)
    body = rollback(client, alice, generation=1).get_json()
    assert (body["generation"], body["rolled_back_to"]) == (4, 1)
    assert body["spec"]["image"] == "nginx:1.25"


def test_rollback_to_the_current_spec_is_unchanged(client, alice):
    three_generations(client, alice)
    body = rollback(client, alice, generation=3).get_json()
    assert body["result"] == "unchanged" and body["generation"] == 3


def test_rollback_skips_a_restart_that_repeated_the_spec(client, alice):
    apply(client, alice, definition(image="nginx:1.25"))
    apply(client, alice, definition(image="nginx:1.26"))
    assert client.post("/v1/services/web/restart", headers=alice).status_code == 200
    body = rollback(client, alice).get_json()
    assert body["rolled_back_to"] == 1 and body["spec"]["image"] == "nginx:1.25"


def test_rollback_with_a_single_generation_is_a_conflict(client, alice):
    apply(client, alice, definition())
    response = rollback(client, alice)
    assert response.status_code == 409 and "generation" in error(response)["fields"]
    assert generations(client, alice) == [1]


@pytest.mark.parametrize(
    "body",
    [
        {"generation": 0},
        {"generation": -1},
        {"generation": "2"},
        {"generation": 1.5},
        {"generation": True},
        {"generation": [1]},
        {"generation": 99},
        {"generation": 2**40},
        {"generation": 1, "extra": 1},
    ],
)
def test_bad_generations_are_400_naming_the_field(client, alice, body):
    three_generations(client, alice)
    response = client.post("/v1/services/web/rollback", json=body, headers=alice)
    assert response.status_code == 400, response.data
    assert error(response)["fields"]
    assert generations(client, alice) == [3, 2, 1]


def test_a_rollback_body_must_be_a_json_object(client, alice):
    three_generations(client, alice)
    not_json = client.post(
        "/v1/services/web/rollback", data="{", content_type="application/json", headers=alice
    )
    assert not_json.status_code == 400
    as_text = client.post("/v1/services/web/rollback", data="x", headers=alice)
    assert as_text.status_code == 415
    array = client.post("/v1/services/web/rollback", json=[1], headers=alice)
    assert array.status_code == 400
    assert generations(client, alice) == [3, 2, 1]


def test_rollback_keeps_the_domain_rules_of_apply(client, alice, bob):
    apply(client, alice, definition(domain="old.example.com"))
    apply(client, alice, definition(domain="new.example.com"))
    # Meanwhile bob takes the domain alice's first generation used.
    apply(client, bob, definition(name="bobs", domain="old.example.com"))
    response = rollback(client, alice)
    assert response.status_code == 409
    assert "spec.domain" in error(response)["fields"]
    assert generations(client, alice) == [2, 1]


def test_rollback_to_a_reserved_domain_is_refused(client, alice, migrated_database_url):
    # The domain was free when generation 1 was applied (by an apiserver that did not reserve
    # it); since then the operator reserved it (the client's app reserves api.sws.test).
    with Store.open(migrated_database_url) as before:
        before.apply("alice", definition(domain="api.sws.test"))
    apply(client, alice, definition(domain="web2.example.com"))
    response = rollback(client, alice)
    assert response.status_code == 409 and "reserved" in error(response)["message"]


def test_rollback_revalidates_the_old_spec(client, alice, migrated_database_url):
    apply(client, alice, definition())
    apply(client, alice, definition(port=9000))
    # A spec stored under older, looser rules is checked again. Raw SQL: no apply of today
    # stores a spec today's rules refuse.
    with psycopg2.connect(migrated_database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE service_generations SET spec = jsonb_set(spec, '{port}', '70000')"
            " WHERE generation = 1"
        )
    conn.close()
    response = rollback(client, alice, generation=1)
    assert response.status_code == 400
    body = error(response)
    assert body["code"] == "invalid_definition" and "spec.port" in body["fields"]
    assert "generation 1" in body["message"]
    assert generations(client, alice) == [2, 1]


def test_rollback_of_a_deleting_service_is_a_conflict(client, alice):
    three_generations(client, alice)
    client.delete("/v1/services/web", headers=alice)
    assert rollback(client, alice).status_code == 409
    assert client.post("/v1/services/web/restart", headers=alice).status_code == 409
    assert generations(client, alice) == [3, 2, 1]


# restart and force -----------------------------------------------------------------


def test_force_makes_a_new_generation_of_an_unchanged_spec(client, alice):
    apply(client, alice, definition())
    assert apply(client, alice, definition()).get_json()["result"] == "unchanged"
    forced = put(client, alice, definition(), force="true")
    assert forced.status_code == 200
    body = forced.get_json()
    assert body["result"] == "restarted" and body["generation"] == 2
    assert body["status"] == "pending"
    changed = put(client, alice, definition(port=9000), force="1").get_json()
    assert changed["result"] == "updated" and changed["generation"] == 3
    created = put(client, alice, definition(name="new"), force="true")
    assert created.status_code == 201 and created.get_json()["result"] == "created"
    again = put(client, alice, definition(port=9000), force="false")
    assert again.get_json()["result"] == "unchanged"
    bad = put(client, alice, definition(), force="yes")
    assert bad.status_code == 400 and "force" in error(bad)["fields"]


def test_restart_makes_a_new_generation_and_retries_a_failed_one(
    app, client, alice, migrated_database_url
):
    apply(client, alice, definition())
    Store(app, migrated_database_url).mark_failed("web", "exited at once", generation=1)
    response = client.post("/v1/services/web/restart", headers=alice)
    assert response.status_code == 200
    body = response.get_json()
    assert body["result"] == "restarted" and body["generation"] == 2
    assert body["status"] == "pending"
    latest = history(client, alice).get_json()["generations"][0]
    assert (latest["generation"], latest["cause"]) == (2, "restart")
    assert client.post("/v1/services/nope/restart", headers=alice).status_code == 404
