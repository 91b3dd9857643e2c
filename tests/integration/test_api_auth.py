"""Bearer tokens: 401 without one or with a wrong or revoked one; tokens stored only as hashes."""

import hashlib
import re

import psycopg2
import pytest

from swsapi import auth

PROTECTED = [
    ("get", "/v1/whoami"),
    ("get", "/v1/services"),
    ("get", "/v1/services/web"),
    ("put", "/v1/services/web"),
    ("delete", "/v1/services/web"),
]


def assert_401(response, says: str):
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    err = response.get_json()["error"]
    assert err["code"] == "unauthorized" and err["status"] == 401
    assert says in err["message"]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_no_token_is_401(client, method, path):
    assert_401(getattr(client, method)(path), "missing token")


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_wrong_token_is_401(client, alice, method, path):
    headers = {"Authorization": "Bearer sws_" + "x" * 43}
    assert_401(getattr(client, method)(path, headers=headers), "invalid or revoked token")


@pytest.mark.parametrize(
    "header", ["Basic YWxpY2U6cHc=", "Bearer", "Bearer   ", "sws_abc", "Token sws_abc"]
)
def test_malformed_authorization_header_is_401(client, header):
    response = client.get("/v1/whoami", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_whoami_names_the_caller(client, make_user):
    assert client.get("/v1/whoami", headers=make_user("alice")).get_json() == {
        "name": "alice",
        "admin": False,
    }
    assert client.get("/v1/whoami", headers=make_user("root", admin=True)).get_json() == {
        "name": "root",
        "admin": True,
    }


def test_revoked_token_is_401_and_a_new_one_works(app, client, alice):
    assert client.get("/v1/whoami", headers=alice).status_code == 200
    with app.app_context():
        assert auth.revoke_tokens("alice") == 1
        assert auth.revoke_tokens("alice") == 0
        fresh = auth.issue_token("alice")
    assert_401(client.get("/v1/whoami", headers=alice), "invalid or revoked token")
    headers = {"Authorization": f"Bearer {fresh}"}
    assert client.get("/v1/whoami", headers=headers).get_json()["name"] == "alice"


def test_revoking_one_user_leaves_others_alone(app, client, alice, bob):
    with app.app_context():
        auth.revoke_tokens("alice")
    assert client.get("/v1/whoami", headers=bob).status_code == 200


def test_tokens_are_random_shown_once_and_stored_only_as_hashes(app, migrated_database_url):
    with app.app_context():
        tokens = [auth.create_user(f"user-{i}") for i in range(3)]
    assert len(set(tokens)) == 3
    assert all(re.fullmatch(r"sws_[A-Za-z0-9_-]{43}", t) for t in tokens)
    with psycopg2.connect(migrated_database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT token_hash, prefix FROM tokens ORDER BY id")
        rows = cur.fetchall()
        cur.execute("SELECT * FROM tokens")
        everything = repr(cur.fetchall())
    conn.close()
    assert [h for h, _ in rows] == [hashlib.sha256(t.encode()).hexdigest() for t in tokens]
    assert [p for _, p in rows] == [t[:12] for t in tokens]
    assert not any(t in everything or t[12:] in everything for t in tokens)


def test_using_a_token_records_when(app, client, alice, migrated_database_url):
    client.get("/v1/whoami", headers=alice)
    with psycopg2.connect(migrated_database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT last_used_at IS NOT NULL FROM tokens")
        assert cur.fetchone() == (True,)
    conn.close()


def test_health_needs_no_token(client):
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_user_names_are_dns_labels_and_unique(app):
    from swsapi.errors import ApiError

    with app.app_context():
        auth.create_user("alice")
        with pytest.raises(ApiError, match="already exists"):
            auth.create_user("alice")
        with pytest.raises(ApiError, match="must be lowercase"):
            auth.create_user("Alice Smith")
        with pytest.raises(ApiError, match="no user"):
            auth.revoke_tokens("nobody")
