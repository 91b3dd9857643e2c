"""A user's registry credentials through the API (issue 26): sealed, listed without the
password, one user's only, refused for the host itself and off the operator's list."""

import base64

import psycopg2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from swsapi.app import create_app
from swscore import sealing
from tests.fixtures.apiserver import TestConfig, dispose

HOST_KEY = X25519PrivateKey.generate()
PUBLIC = base64.b64encode(
    HOST_KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
).decode()
PASSWORD = "pa55-word-never-shown"


@pytest.fixture
def app(migrated_database_url):
    app = create_app(
        TestConfig(
            migrated_database_url,
            SWS_RESERVED_DOMAINS="api.sws.test",
            SWS_CERT_SEAL_KEY=PUBLIC,
            SWS_REGISTRIES_ALLOWED="registry.example.com,10.0.0.5",
        )
    )
    yield app
    dispose(app)


def login(client, user, host, password=PASSWORD, username="ci"):
    body = {"username": username, "password": password}
    return client.put(f"/v1/registries/{host}", json=body, headers=user)


def test_login_seals_the_password_and_lists_without_it(client, alice, migrated_database_url):
    answer = login(client, alice, "registry.example.com")
    assert answer.status_code == 200 and PASSWORD not in answer.get_data(as_text=True)
    listed = client.get("/v1/registries", headers=alice)
    assert [r["host"] for r in listed.get_json()["registries"]] == ["registry.example.com"]
    assert PASSWORD not in listed.get_data(as_text=True)
    with psycopg2.connect(migrated_database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT password_sealed FROM registry_credentials")
        (sealed,) = cur.fetchone()
    assert PASSWORD.encode() not in bytes(sealed)
    assert sealing.open_box(HOST_KEY, bytes(sealed)) == PASSWORD.encode()


def test_credentials_are_one_users(client, alice, bob):
    assert login(client, alice, "10.0.0.5:5000").status_code == 200
    assert client.get("/v1/registries", headers=bob).get_json() == {"registries": []}
    assert client.delete("/v1/registries/10.0.0.5:5000", headers=bob).status_code == 404
    assert client.delete("/v1/registries/10.0.0.5:5000", headers=alice).status_code == 200
    assert client.get("/v1/registries", headers=alice).get_json() == {"registries": []}


@pytest.mark.parametrize(
    "host", ["localhost:5000", "127.0.0.1:5000", "169.254.169.254", "api.sws.test", "no_such!"]
)
def test_the_host_itself_is_no_registry(client, alice, host):
    answer = login(client, alice, host)
    assert answer.status_code == 400, answer.get_json()


def test_a_registry_off_the_operators_list_is_forbidden(client, alice):
    assert login(client, alice, "ghcr.io").status_code == 403


def test_a_login_names_its_fields(client, alice):
    answer = login(client, alice, "registry.example.com", username="a:b")
    assert answer.status_code == 400 and "username" in answer.get_json()["error"]["fields"]
    answer = login(client, alice, "registry.example.com", password="")
    assert answer.status_code == 400 and "password" in answer.get_json()["error"]["fields"]
