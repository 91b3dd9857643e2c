"""A certificate for each domain of a service (issue 27): its domain, each alias and each
redirect, through the API (uploads, the list, ownership), `sws-agent certs` (one order, one
backoff a name; a name given up loses its certificate) and the pass's read of what to serve;
the migration 0009 that keys certificates by (service, domain). Real PostgreSQL; the CA side
is tests/integration/test_tls_edge.py's pebble."""

from __future__ import annotations

import flask_migrate
import psycopg2
import pytest
from cryptography.hazmat.primitives import serialization

from swsagent import acme, certs
from swsapi.extensions import db
from tests.fixtures.apiserver import dispose, migrated_app
from tests.fixtures.certs import TestCA
from tests.fixtures.contract import repo_names
from tests.integration.test_api_certificates import HOST_KEY, app  # noqa: F401  (the fixture)
from tests.integration.test_api_site import apply, definition, error

WEB, WWW, OLD = "web.example.com", "www.example.com", "old.example.com"
CERT = "/v1/services/web/certificate"


@pytest.fixture(scope="module")
def ca():
    return TestCA("alias CA")


def site(**extra) -> dict:
    return definition("web", WEB, aliases=[WWW], redirects=[OLD], **extra)


def upload(client, headers, ca, name: str, domain: str | None = None, path: str = CERT):
    issued = ca.issue(name)
    query = f"?domain={domain}" if domain else ""
    body = {"certificate": issued.chain_pem, "key": issued.key_pem}
    return client.put(path + query, json=body, headers=headers)


def test_each_domain_takes_an_upload_of_its_own_and_the_list_shows_each(client, alice, ca):
    assert apply(client, alice, site()).status_code == 201
    response = upload(client, alice, ca, WWW, WWW)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["domain"] == WWW
    # Checked against the alias it is for, not the service's domain.
    refused = upload(client, alice, ca, WEB, WWW)
    assert refused.status_code == 400 and WWW in error(refused)["fields"]["certificate"]
    assert upload(client, alice, ca, OLD, OLD.upper()).status_code == 200  # names fold
    listed = client.get("/v1/services/web/certificates", headers=alice).get_json()
    shown = [(c["domain"], c["role"], (c["certificate"] or {}).get("source"))
             for c in listed["certificates"]]  # fmt: skip
    assert shown == [
        (WEB, "domain", None),
        (WWW, "alias", "uploaded"),
        (OLD, "redirect", "uploaded"),
    ]
    assert client.get(CERT, headers=alice).status_code == 404  # the domain's: none yet
    assert client.get(f"{CERT}?domain={WWW}", headers=alice).get_json()["domain"] == WWW
    assert client.delete(f"{CERT}?domain={WWW}", headers=alice).status_code == 200
    assert client.get(f"{CERT}?domain={WWW}", headers=alice).status_code == 404
    assert client.get(f"{CERT}?domain={OLD}", headers=alice).status_code == 200


def test_only_the_owner_of_the_service_holding_a_domain_sets_its_certificate(
    client, alice, bob, ca
):
    assert apply(client, alice, site()).status_code == 201
    assert apply(client, bob, definition("bobweb", "bob.example.com")).status_code == 201
    # Bob through alice's service: absent. Through his own: it holds no such domain.
    assert upload(client, bob, ca, WWW, WWW).status_code == 404
    mine = "/v1/services/bobweb/certificate"
    refused = upload(client, bob, ca, WWW, WWW, path=mine)
    assert refused.status_code == 404 and "has no domain" in error(refused)["message"]
    assert client.get(f"{mine}?domain={WWW}", headers=bob).status_code == 404
    assert client.get("/v1/services/web/certificates", headers=bob).status_code == 404
    assert upload(client, alice, ca, WWW, "nothere.example.com").status_code == 404


def settings(tmp_path) -> acme.AcmeSettings:
    """A host at 192.0.2.1 whose CA nobody reaches: every order is refused before asking."""
    (tmp_path / certs.SEAL_KEY).write_bytes(
        HOST_KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return acme.AcmeSettings(
        directory="https://ca.invalid/dir",
        state_dir=tmp_path,
        tls_dir=tmp_path,
        proxies=(),
        proxy_files=repo_names().proxy_files,
        host_addresses=("192.0.2.1",),
        backoff_first=60,
    )


def rows(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT domain, source, state, attempts FROM certificates ORDER BY domain")
        found = cur.fetchall()
    conn.commit()
    return found


def test_acme_orders_and_backs_off_per_domain_and_serves_each_held_one(
    client, alice, bob, ca, migrated_database_url, tmp_path
):
    tls = {"tls": {"certificate": "acme"}}
    assert apply(client, alice, site(**tls)).status_code == 201
    conn = psycopg2.connect(migrated_database_url)
    try:
        items = acme.wanted(conn, "none")
        assert [(i.label, i.role) for i in items] == [
            ("web", "domain"), (f"web/{WWW}", "alias"), (f"web/{OLD}", "redirect")
        ]  # fmt: skip
        outcome = acme.run_once(conn, settings(tmp_path))
        assert sorted(outcome["not_here"]) == ["web", f"web/{OLD}", f"web/{WWW}"]
        assert rows(conn) == [(OLD, "acme", "failed", 1), (WEB, "acme", "failed", 1),
                              (WWW, "acme", "failed", 1)]  # fmt: skip
        # Each name's backoff is its own: a forced renewal of the alias leaves the others.
        outcome = acme.run_once(conn, settings(tmp_path), {WWW})
        assert list(outcome["not_here"]) == [f"web/{WWW}"]
        assert [r[3] for r in rows(conn)] == [1, 1, 2]
        # The alias issued: served under its own name, alone.
        (alias,) = [i for i in acme.wanted(conn, "none") if i.domain == WWW]
        issued = ca.issue(WWW)
        acme.record_issued(conn, alias, issued.chain_pem, issued.key_pem.encode(),
                           HOST_KEY.public_key())  # fmt: skip
        assert [c.domain for c in certs.read_certificates(conn)] == [WWW]
        # An upload for the redirect: ACME leaves that name to it.
        assert upload(client, alice, ca, OLD, OLD).status_code == 200
        assert [i.domain for i in acme.wanted(conn, "none")] == [WEB, WWW]
        # The alias given up, then taken by bob: alice's certificate is neither served for
        # it nor kept; the next round drops it.
        given_up = definition("web", WEB, redirects=[OLD], **tls)
        assert apply(client, alice, given_up).status_code == 200
        assert [c.domain for c in certs.read_certificates(conn)] == [OLD]
        assert apply(client, bob, definition("bobweb", WWW)).status_code == 201
        assert [c.domain for c in certs.read_certificates(conn)] == [OLD]
        outcome = acme.run_once(conn, settings(tmp_path))
        assert outcome["dropped"] == [WWW]
        assert rows(conn) == [(OLD, "uploaded", "uploaded", 0), (WEB, "acme", "failed", 1)]
    finally:
        conn.close()


def test_0009_keeps_each_certificate_and_refuses_to_drop_a_second_one(database_url):
    migrated = migrated_app(database_url)
    try:
        with migrated.app_context():
            flask_migrate.downgrade(revision="0008")
            db.engine.dispose()
            with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                cur.execute("INSERT INTO users (name) VALUES ('alice')")
                cur.execute(
                    "INSERT INTO services (name, domain, owner_id, spec, spec_digest)"
                    " SELECT 'web', %s, id, '{}', 'x' FROM users RETURNING id",
                    (WEB,),
                )
                (service_id,) = cur.fetchone()
                cur.execute(
                    "INSERT INTO certificates (service_id, source, domain, state)"
                    " VALUES (%s, 'acme', %s, 'pending')",
                    (service_id, WEB),
                )
            conn.close()
            flask_migrate.upgrade()
            db.engine.dispose()
            with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                cur.execute("SELECT service_id, domain, state FROM certificates")
                assert cur.fetchall() == [(service_id, WEB, "pending")]
                cur.execute(
                    "INSERT INTO certificates (service_id, source, domain, state)"
                    " VALUES (%s, 'acme', %s, 'pending')",
                    (service_id, WWW),
                )
            conn.close()
            with pytest.raises(SystemExit):  # Flask-Migrate logs the RuntimeError and exits
                flask_migrate.downgrade(revision="0008")
            db.engine.dispose()
            with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                cur.execute("DELETE FROM certificates WHERE domain = %s", (WWW,))
            conn.close()
            flask_migrate.downgrade(revision="0008")
            db.engine.dispose()
            with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                cur.execute("SELECT domain FROM certificates")
                assert cur.fetchall() == [(WEB,)]
            conn.close()
    finally:
        dispose(migrated)
