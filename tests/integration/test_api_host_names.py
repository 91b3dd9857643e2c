"""The host's own names through the API (issue 25): localhost and IP addresses are no domain,
the host's hostname and FQDN are reserved unless the operator lists others, and an image
from a registry on the host is refused."""

import socket

import pytest

from swsapi import auth
from swsapi.app import create_app
from swscore.spec import SpecError, load_definition
from tests.fixtures.apiserver import TestConfig, dispose
from tests.integration.test_api_services import apply, definition, error
from tests.unit.test_bootstrap_reserved_names import bootstrap_reserved


@pytest.mark.parametrize("domain", ["localhost", "127.0.0.1", "10.0.0.1"])
def test_the_host_itself_is_no_domain(client, alice, domain):
    response = apply(client, alice, definition(domain=domain))
    assert response.status_code == 400
    assert "the host" in error(response)["fields"]["spec.domain"]


def test_a_subdomain_of_localhost_is_a_domain_as_in_the_quick_start(client, alice):
    assert apply(client, alice, definition(domain="hello.sws.localhost")).status_code == 201


def test_the_audits_probe_image_is_refused(client, alice):
    response = apply(client, alice, definition(image="127.0.0.1:55432/probe:1"))
    assert response.status_code == 400
    assert "registry on the host itself" in error(response)["fields"]["spec.image"]
    ok = apply(client, alice, definition(image="registry.example.com:5000/team/app"))
    assert ok.status_code == 201


def _usable(name: str) -> bool:
    try:
        load_definition(definition(domain=name))
    except SpecError:
        return False
    return True


@pytest.fixture
def host_named_app(migrated_database_url):
    """The apiserver with SWS_RESERVED_DOMAINS unset: the host's own names are reserved."""
    app = create_app(TestConfig(migrated_database_url))
    yield app
    dispose(app)


def test_the_hosts_own_names_are_reserved_by_default(host_named_app):
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    assert names <= host_named_app.config["SWS_RESERVED_DOMAINS"]
    usable = sorted(n for n in names if _usable(n))
    if not usable:
        pytest.skip(f"this host's names {names} are not valid domains anyway")
    with host_named_app.app_context():
        headers = {"Authorization": f"Bearer {auth.create_user('carol')}"}
    client = host_named_app.test_client()
    for name in usable:
        response = apply(client, headers, definition(domain=name))
        assert response.status_code == 409, response.data
        assert error(response)["fields"] == {
            "spec.domain": f"{name} is reserved (SWS_RESERVED_DOMAINS)"
        }


@pytest.fixture
def bootstrapped_names_app(migrated_database_url):
    """The apiserver as the bootstrap starts it on a host named build-7.example.net."""
    reserved = bootstrap_reserved("build-7", "build-7.example.net", "build-7")
    app = create_app(TestConfig(migrated_database_url, SWS_RESERVED_DOMAINS=reserved))
    yield app
    dispose(app)


@pytest.mark.parametrize("domain", ["build-7.example.net", "api.sws.localhost"])
def test_the_bootstrap_reserves_the_hosts_own_names(bootstrapped_names_app, domain):
    with bootstrapped_names_app.app_context():
        headers = {"Authorization": f"Bearer {auth.create_user('dora')}"}
    client = bootstrapped_names_app.test_client()
    response = apply(client, headers, definition(domain=domain))
    assert response.status_code == 409, response.data
    body = error(response)
    assert body["code"] == "conflict" and domain in body["message"]
    assert body["fields"] == {"spec.domain": f"{domain} is reserved (SWS_RESERVED_DOMAINS)"}
    # A subdomain of the host's name is a tenant's like any other.
    other = apply(client, headers, definition(domain=f"shop.{domain}"))
    assert other.status_code == 201, other.data
