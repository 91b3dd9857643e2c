"""A stopped database gives 503 with a clear message, and the apiserver recovers when it returns.

These tests stop PostgreSQL, so they run on a server of their own: the session's `pg_server`
(shared by every other test) is never stopped.
"""

import pytest
import requests

from tests.fixtures.apiserver import dispose, migrated_app, start_live_api, stop_live_api
from tests.fixtures.postgres import remove_postgres, start_postgres


@pytest.fixture(scope="module")
def own_server():
    server = start_postgres()
    yield server
    remove_postgres(server)


def assert_503(status: int, body: dict):
    assert status == 503
    assert body == {
        "error": {
            "status": 503,
            "code": "database_unavailable",
            "message": "the database (sws-confdb) is unavailable",
        }
    }


def test_database_down_is_503_and_recovers(own_server):
    from swsapi import auth

    app = migrated_app(own_server.create_database("down"))
    try:
        with app.app_context():
            headers = {"Authorization": f"Bearer {auth.create_user('alice')}"}
        client = app.test_client()
        assert client.get("/v1/services", headers=headers).status_code == 200
        own_server.stop()
        for path in ("/v1/health", "/v1/services", "/v1/whoami"):
            response = client.get(path, headers=headers)
            assert_503(response.status_code, response.get_json())
        doc = {
            "apiVersion": "v1",
            "spec": {"name": "web", "port": 80, "domain": "a.b", "image": "x"},
        }
        response = client.put("/v1/services/web", json=doc, headers=headers)
        assert_503(response.status_code, response.get_json())
        # Bad input is still answered without the database where it can be.
        assert client.get("/v1/services").status_code == 401
        own_server.start()
        assert client.get("/v1/health").status_code == 200
        assert client.put("/v1/services/web", json=doc, headers=headers).status_code == 201
    finally:
        if not own_server.is_running():
            own_server.start()
        dispose(app)


def test_served_apiserver_answers_503_while_the_database_is_down(own_server):
    live = start_live_api(own_server.create_database("live_down"))
    try:
        headers = {"Authorization": f"Bearer {live.create_user('alice')}"}
        dispose(live.app)  # no connection of the test's own may linger across the restart
        own_server.stop()
        for path in ("/v1/health", "/v1/services"):
            response = requests.get(live.url + path, headers=headers, timeout=10)
            assert_503(response.status_code, response.json())
        own_server.start()
        assert requests.get(live.url + "/v1/health", timeout=10).status_code == 200
        response = requests.get(live.url + "/v1/services", headers=headers, timeout=10)
        assert response.json() == {"services": [], "next_cursor": None}
    finally:
        if not own_server.is_running():
            own_server.start()
        stop_live_api(live)
