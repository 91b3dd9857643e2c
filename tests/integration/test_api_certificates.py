"""A user's own certificate through the API (issue 15): checked, sealed, never shown again."""

import base64

import psycopg2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from swsapi.app import create_app
from swscore import sealing
from tests.fixtures.apiserver import TestConfig, dispose
from tests.fixtures.certs import TestCA, rsa_key
from tests.fixtures.contract import repo_names
from tests.integration.test_api_services import apply, definition, error

HOST_KEY = X25519PrivateKey.generate()
PUBLIC = base64.b64encode(
    HOST_KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
).decode()


@pytest.fixture
def app(migrated_database_url):
    app = create_app(
        TestConfig(
            migrated_database_url, SWS_RESERVED_DOMAINS="api.sws.test", SWS_CERT_SEAL_KEY=PUBLIC
        )
    )
    yield app
    dispose(app)


@pytest.fixture(scope="module")
def ca():
    return TestCA()


@pytest.fixture
def web(client, alice):
    assert apply(client, alice, definition("web")).status_code == 201
    return "/v1/services/web/certificate"


def test_upload_stores_the_key_sealed_and_shows_only_public_facts(
    client, alice, web, ca, migrated_database_url
):
    issued = ca.issue("web.example.com")
    response = client.put(
        web, json={"certificate": issued.chain_pem, "key": issued.key_pem}, headers=alice
    )
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["source"] == "uploaded" and body["state"] == "uploaded"
    assert body["domain"] == "web.example.com" and len(body["fingerprint"]) == 64
    assert "key" not in body and "PRIVATE" not in response.get_data(as_text=True)
    shown = client.get(web, headers=alice)
    assert shown.status_code == 200 and "PRIVATE" not in shown.get_data(as_text=True)
    with psycopg2.connect(migrated_database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT chain_pem, key_sealed FROM certificates")
        chain, sealed = cur.fetchone()
    conn.close()
    assert b"PRIVATE" not in bytes(sealed)
    assert sealing.open_box(HOST_KEY, bytes(sealed)).decode().startswith("-----BEGIN PRIVATE KEY")
    assert chain.count("BEGIN CERTIFICATE") == 2


def test_a_wildcard_for_the_parent_covers_the_domain(client, alice, web, ca):
    issued = ca.issue("*.example.com")
    body = {"certificate": issued.chain_pem, "key": issued.key_pem}
    assert client.put(web, json=body, headers=alice).status_code == 200


@pytest.mark.parametrize(
    "case, field, words",
    [
        ("expired", "certificate", "expired on"),
        ("future", "certificate", "not valid before"),
        ("other-domain", "certificate", "does not cover the service's domain web.example.com"),
        ("deeper-wildcard", "certificate", "does not cover"),
        ("other-key", "key", "does not match the certificate"),
        ("not-pem", "certificate", "must be PEM"),
        ("garbage-pem", "certificate", "not a readable"),
        ("key-not-pem", "key", "must be a PEM private key"),
        ("weak-key", "key", "P-256 or P-384"),
        ("passphrase", "key", "passphrase"),
        ("wrong-order", "certificate", "did not issue number"),
        ("number", "certificate", "must be PEM"),
    ],
)
def test_bad_uploads_are_refused_naming_the_field(client, alice, web, ca, case, field, words):
    good = ca.issue("web.example.com")
    chain, key = good.chain_pem, good.key_pem
    if case == "expired":
        issued = ca.issue("web.example.com", days=-1, start_days=-5)
        chain, key = issued.chain_pem, issued.key_pem
    elif case == "future":
        issued = ca.issue("web.example.com", start_days=2)
        chain, key = issued.chain_pem, issued.key_pem
    elif case == "other-domain":
        issued = ca.issue("other.example.com")
        chain, key = issued.chain_pem, issued.key_pem
    elif case == "deeper-wildcard":
        issued = ca.issue("*.com")
        chain, key = issued.chain_pem, issued.key_pem
    elif case == "other-key":
        key = ca.issue("web.example.com").key_pem
    elif case == "not-pem":
        chain = "hello"
    elif case == "garbage-pem":
        chain = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    elif case == "key-not-pem":
        key = "hello"
    elif case == "weak-key":
        weak = ec.generate_private_key(ec.SECP256K1())
        issued = ca.issue("web.example.com", key=weak)
        chain, key = issued.chain_pem, issued.key_pem
    elif case == "passphrase":
        key = (
            serialization.load_pem_private_key(key.encode(), None)
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            )
            .decode()
        )
    elif case == "wrong-order":
        chain = chain + ca.issue("x.example").chain_pem  # a leaf after the CA
    elif case == "number":
        chain = 5
    response = client.put(web, json={"certificate": chain, "key": key}, headers=alice)
    assert response.status_code == 400, response.data
    err = error(response)
    assert err["code"] == "invalid_certificate"
    assert words in err["fields"][field], err
    # The key's own text is never echoed back.
    assert good.key_pem.splitlines()[1] not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "case, field, words",
    [
        ("rsa-6144", "key", "RSA key of 2048 to 4096 bits"),
        ("oversized", "certificate", "at most 12288 bytes of PEM"),
        ("duplicate-san", "certificate", "more than once"),
        ("unknown-key", "certificate", "an algorithm this host does not know"),
    ],
)
def test_uploads_past_the_ceilings_are_400_never_500(client, alice, web, ca, case, field, words):
    """Issue 25: what HAProxy should not serve, or cannot take, and what cannot be read."""
    if case in ("duplicate-san", "unknown-key"):
        issued = ca.issue_altered("web.example.com", case)
    else:
        issued = ca.issue("web.example.com", key=rsa_key(6144 if case == "rsa-6144" else 4096))
    chain = issued.chain_pem * (6 if case == "oversized" else 1)  # 13 KiB
    response = client.put(web, json={"certificate": chain, "key": issued.key_pem}, headers=alice)
    assert response.status_code == 400, response.data
    assert error(response)["code"] == "invalid_certificate"
    assert words in error(response)["fields"][field]
    assert client.get(web, headers=alice).status_code == 404  # nothing was stored


def test_body_fields_are_checked(client, alice, web):
    response = client.put(web, json={"certificate": "x"}, headers=alice)
    assert response.status_code == 400 and error(response)["fields"] == {
        "key": "required field is missing"
    }
    response = client.put(web, json={"certificate": "x", "key": "y", "chain": "z"}, headers=alice)
    assert response.status_code == 400 and "chain" in error(response)["fields"]


def test_another_users_service_is_absent_and_delete_forgets(client, alice, bob, web, ca):
    issued = ca.issue("web.example.com")
    body = {"certificate": issued.chain_pem, "key": issued.key_pem}
    assert client.put(web, json=body, headers=bob).status_code == 404
    assert client.get(web, headers=bob).status_code == 404
    assert client.get(web, headers=alice).status_code == 404
    assert client.put(web, json=body, headers=alice).status_code == 200
    assert client.delete(web, headers=bob).status_code == 404
    assert client.delete(web, headers=alice).status_code == 200
    assert client.get(web, headers=alice).status_code == 404


def test_without_a_sealing_key_uploads_are_refused(migrated_database_url, make_user, ca):
    plain = create_app(TestConfig(migrated_database_url))
    try:
        client = plain.test_client()
        from swsapi import auth

        with plain.app_context():
            headers = {"Authorization": f"Bearer {auth.create_user('carol')}"}
        assert apply(client, headers, definition("carol")).status_code == 201
        issued = ca.issue("carol.example.com")
        response = client.put(
            "/v1/services/carol/certificate",
            json={"certificate": issued.chain_pem, "key": issued.key_pem},
            headers=headers,
        )
        assert response.status_code == 503 and error(response)["code"] == "not_configured"
    finally:
        dispose(plain)


def test_an_acme_certificate_starts_over_when_its_service_moves_to_another_domain(
    client, alice, ca, migrated_database_url, tmp_path
):
    """The certificate ordered for the old domain is neither served for the new one nor kept:
    `sws-agent certs` drops it and orders one for the new domain at once, backoff forgotten
    (the new domain has a row of its own, issue 27).
    (Here the new domain resolves nowhere, so the order is refused before any CA is asked.)"""
    from swsagent import acme, certs

    tls = {"tls": {"certificate": "acme"}}
    assert apply(client, alice, definition("web", **tls)).status_code == 201
    settings = acme.AcmeSettings(
        directory="https://ca.invalid/dir",
        state_dir=tmp_path,
        tls_dir=tmp_path,
        proxies=(),
        proxy_files=repo_names().proxy_files,
        host_addresses=("192.0.2.1",),
    )
    # The agent's records: issued for web.example.com, then two renewals that failed (backing
    # off: the next attempt is hours away).
    issued = ca.issue("web.example.com")
    conn = psycopg2.connect(migrated_database_url)
    try:
        (item,) = acme.wanted(conn, "none")
        acme.record_issued(
            conn, item, issued.chain_pem, issued.key_pem.encode(), HOST_KEY.public_key()
        )
        for _ in range(2):
            (item,) = acme.wanted(conn, "none")
            acme.record_failure(conn, item, "the renewal was refused", settings)
        (item,) = acme.wanted(conn, "none")
    finally:
        conn.close()
    assert (item.state, item.attempts, item.domain) == ("issued", 2, "web.example.com")
    moved = definition("web", domain="moved.example.com", **tls)
    assert apply(client, alice, moved).status_code == 200
    (tmp_path / certs.SEAL_KEY).write_bytes(
        HOST_KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    conn = psycopg2.connect(migrated_database_url)
    try:
        assert certs.read_certificates(conn) == []  # the old domain's is not served
        outcome = acme.run_once(conn, settings)
        with conn.cursor() as cur:
            cur.execute("SELECT domain, chain_pem, state, attempts, message FROM certificates")
            row = cur.fetchone()
    finally:
        conn.close()
    assert list(outcome["not_here"]) == ["web"] and outcome["dropped"] == ["web.example.com"]
    domain, chain, state, attempts, message = row
    assert (domain, chain, state, attempts) == ("moved.example.com", None, "failed", 1)
    assert "not requested" in message
