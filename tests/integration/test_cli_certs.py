"""swsctl cert against a live apiserver (issue 15): the key goes up once and never comes
back; a refused upload names the field; `swsctl get` shows the certificate's state."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tests.fixtures.certs import TestCA
from tests.integration import test_cli_commands as cli_tests
from tests.integration.conftest import start_live_api, stop_live_api
from tests.integration.test_cli_commands import RESERVED_DOMAIN, swsctl, write_definition

user = cli_tests.user  # a fresh account on this module's api

PUBLIC = base64.b64encode(
    X25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
).decode()


@pytest.fixture(scope="module")
def api(pg_server, migrated_template):
    live = start_live_api(
        pg_server.create_database("t_cli_certs", template=migrated_template),
        SWS_RESERVED_DOMAINS=RESERVED_DOMAIN,
        SWS_CERT_SEAL_KEY=PUBLIC,
    )
    yield live
    stop_live_api(live)


@pytest.fixture
def served(user, tmp_path):
    assert swsctl(["apply", write_definition(tmp_path / "web.yaml", user)], user.env).exit_code == 0
    return user.service_name()


def files(tmp_path, issued):
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_text(issued.chain_pem)
    key.write_text(issued.key_pem)
    return str(chain), str(key)


def test_set_get_and_delete_never_print_the_key(user, served, tmp_path):
    issued = TestCA().issue(user.domain())
    chain, key = files(tmp_path, issued)
    result = swsctl(["cert", "set", served, "--cert", chain, "--key", key], user.env)
    assert result.exit_code == 0, result.output
    assert f"certificate/{served} set for {user.domain()}" in result.output
    secret_line = issued.key_pem.splitlines()[1]
    for args in (["cert", "get", served], ["cert", "get", served, "-o", "json"], ["get", served]):
        shown = swsctl(args, user.env)
        assert shown.exit_code == 0 and secret_line not in shown.output, shown.output
    assert "uploaded" in swsctl(["cert", "get", served], user.env).output
    assert "Certificate:" in swsctl(["get", served], user.env).output
    assert swsctl(["cert", "delete", served], user.env).exit_code == 0
    missing = swsctl(["cert", "get", served], user.env)
    assert missing.exit_code == 5 and "has no certificate" in missing.output


def test_a_refused_upload_names_the_field_and_exits_2(user, served, tmp_path):
    expired = TestCA().issue(user.domain(), days=-1, start_days=-3)
    chain, key = files(tmp_path, expired)
    result = swsctl(["cert", "set", served, "--cert", chain, "--key", key], user.env)
    assert result.exit_code == 2 and "certificate: expired on" in result.output, result.output


def test_an_alias_takes_its_own_certificate_and_the_list_shows_each_domain(user, tmp_path):
    """Issue 27: --domain names an alias or a redirect; `cert list` shows every name."""
    alias, moved = f"www.{user.domain()}", f"old.{user.domain()}"
    doc = write_definition(tmp_path / "web.yaml", user, aliases=[alias], redirects=[moved])
    assert swsctl(["apply", doc], user.env).exit_code == 0
    name = user.service_name()
    chain, key = files(tmp_path, TestCA().issue(alias))
    result = swsctl(["cert", "set", name, "--domain", alias, "--cert", chain, "--key", key],
                    user.env)  # fmt: skip
    assert result.exit_code == 0 and f"set for {alias}" in result.output, result.output
    listed = swsctl(["cert", "list", name], user.env)
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split() == ["DOMAIN", "ROLE", "SOURCE", "STATE", "VALID", "UNTIL"]
    assert [line.split()[:4] for line in lines[1:]] == [
        [user.domain(), "domain", "-", "none"],
        [alias, "alias", "uploaded", "uploaded"],
        [moved, "redirect", "-", "none"],
    ]
    shown = swsctl(["cert", "get", name, "--domain", alias], user.env)
    assert shown.exit_code == 0 and alias in shown.output
    assert swsctl(["cert", "delete", name, "--domain", alias], user.env).exit_code == 0
    missing = swsctl(["cert", "get", name, "--domain", alias], user.env)
    assert missing.exit_code == 5, missing.output
