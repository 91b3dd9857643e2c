"""When `sws-agent certs` orders (issue 15): none yet, or within the renewal window, and never
before the backoff of a failure ends unless forced; and the agent.yml keys it reads."""

from datetime import UTC, datetime, timedelta

import pytest

from swsagent.acme import (
    AcmeSettings,
    Wanted,
    api_due,
    api_round,
    api_state_path,
    due,
    read_api_state,
)
from swsagent.acmeorder import resolves_here
from swsagent.config import AgentConfigError, config_from_mapping
from tests.fixtures.contract import in_repo, repo_names

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def wanted(not_after=None, next_attempt_at=None) -> Wanted:
    return Wanted(1, "web", "web.example.com", None, None, not_after, next_attempt_at, 0)


@pytest.mark.parametrize(
    "item, force, expected",
    [
        (wanted(), False, True),
        (wanted(not_after=NOW + timedelta(days=60)), False, False),
        (wanted(not_after=NOW + timedelta(days=29)), False, True),
        (wanted(not_after=NOW + timedelta(days=60)), True, True),
        (wanted(next_attempt_at=NOW + timedelta(minutes=5)), False, False),
        (wanted(next_attempt_at=NOW + timedelta(minutes=5)), True, True),
        (wanted(next_attempt_at=NOW - timedelta(minutes=5)), False, True),
    ],
)
def test_due(item, force, expected):
    assert due(item, NOW, 30, force) is expected


def offline(tmp_path, **more) -> AcmeSettings:
    """Settings for a host at 192.0.2.1 with a CA nobody reaches: nothing may be ordered."""
    return AcmeSettings(
        directory="https://ca.invalid/dir",
        state_dir=tmp_path,
        tls_dir=tmp_path,
        proxies=(),
        proxy_files=repo_names().proxy_files,
        host_addresses=("192.0.2.1",),
        **more,
    )


def test_a_domain_that_does_not_resolve_here_is_not_ordered(tmp_path):
    settings = offline(tmp_path)
    here, why = resolves_here("localhost", settings)
    assert not here and "not to this host" in why
    here, why = resolves_here("name.invalid", settings)
    assert not here and "does not resolve" in why


def test_agent_yml_reads_the_https_and_acme_keys():
    config = config_from_mapping(
        in_repo(
            {
                "database_url": "postgresql://x@127.0.0.1/sws",
                "tls_dir": "/etc/sws/tls",
                "https_port": 8443,
                "tls_default_certificate": "acme",
                "acme_directory": "https://ca.example/dir",
                "acme_dns_server": "127.0.0.1:8053",
                "acme_host_addresses": ["192.0.2.1"],
                "acme_renew_days": 20,
            }
        )
    )
    assert (config.https_port, config.tls_default_certificate) == (8443, "acme")
    assert config.acme_host_addresses == ("192.0.2.1",) and config.acme_renew_days == 20
    assert config_from_mapping(in_repo({"database_url": "postgresql://x@h/sws"})).tls_dir is None
    with pytest.raises(AgentConfigError, match="tls_default_certificate"):
        config_from_mapping(
            in_repo({"database_url": "postgresql://x@h/sws", "tls_default_certificate": "x"})
        )


def test_agent_yml_reads_the_api_certificate_source():
    base = {"database_url": "postgresql://x@h/sws", "api_domain": "api.example.com"}
    config = config_from_mapping(in_repo({**base, "api_certificate": "acme"}))
    assert (config.api_domain, config.api_certificate) == ("api.example.com", "acme")
    assert config_from_mapping(in_repo(base)).api_certificate == "local"
    with pytest.raises(AgentConfigError, match="api_certificate must be one of local, acme"):
        config_from_mapping(in_repo({**base, "api_certificate": "letsencrypt"}))


@pytest.mark.parametrize(
    "state, force, expected",
    [
        ({}, False, True),  # the bootstrap's certificate serves: order one
        ({"state": "issued", "not_after": (NOW + timedelta(days=60)).isoformat()}, False, False),
        ({"state": "issued", "not_after": (NOW + timedelta(days=29)).isoformat()}, False, True),
        ({"state": "issued", "not_after": (NOW + timedelta(days=60)).isoformat()}, True, True),
        ({"state": "failed", "next_attempt_at": (NOW + timedelta(hours=1)).isoformat()}, False,
         False),
        ({"state": "failed", "next_attempt_at": (NOW - timedelta(hours=1)).isoformat()}, False,
         True),
    ],
)  # fmt: skip
def test_api_domain_due(state, force, expected):
    assert api_due(state, NOW, 30, force) is expected


def test_the_api_domain_is_not_ordered_where_it_does_not_resolve_and_backs_off(tmp_path):
    settings = offline(tmp_path, api_domain="name.invalid", backoff_first=60)
    state, acme = api_round(None, settings, None, NOW)
    assert acme is None and state["state"] == "failed" and state["attempts"] == 1
    assert "not requested: name.invalid does not resolve" in state["message"]
    assert datetime.fromisoformat(state["next_attempt_at"]) == NOW + timedelta(seconds=60)
    assert read_api_state(settings) == state
    assert oct(api_state_path(settings).stat().st_mode & 0o777) == "0o600"
    # Not again before the backoff ends; then twice as long.
    assert api_round(None, settings, None, NOW + timedelta(seconds=30))[0] == state
    later, _ = api_round(None, settings, None, NOW + timedelta(seconds=61))
    assert later["attempts"] == 2
    assert datetime.fromisoformat(later["next_attempt_at"]) == NOW + timedelta(seconds=181)


def test_the_pass_takes_the_api_domains_pair_only_when_key_and_certificate_match(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from swsagent import certs
    from tests.fixtures.certs import TestCA

    tls_dir, edge_dir = tmp_path / "tls", tmp_path / "haproxy-tls"
    tls_dir.mkdir()
    issued = TestCA().issue("api.example.com")
    (tls_dir / "api-api.example.com.crt").write_text(issued.chain_pem)
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tls_dir / "api-api.example.com.key").write_bytes(other)  # a new key, its certificate not yet
    assert certs.api_certificate(tls_dir, "api.example.com", edge_dir) is None
    (tls_dir / "api-api.example.com.key").write_text(issued.key_pem)
    api = certs.api_certificate(tls_dir, "api.example.com", edge_dir)
    assert api.path == edge_dir / "api.pem" and api.names == "api.example.com"
    assert api.pem == (issued.chain_pem.strip() + "\n" + issued.key_pem.strip() + "\n").encode()
    assert len(api.sha1) == 40 and api.sha1 == api.sha1.upper()
    # Written root-only with the crt-list that names it first; a service's PEM no longer
    # wanted is removed, the API domain's never.
    stale = edge_dir / "services" / "gone.example.com.pem"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    text = certs.crt_list_text(edge_dir, "api.example.com", [])
    assert certs.write_files(edge_dir, [api], text) == ["gone.example.com"]
    assert (edge_dir / "crt-list").read_text() == f"{edge_dir}/api.pem api.example.com\n"
    assert oct((edge_dir / "api.pem").stat().st_mode & 0o777) == "0o600"
    assert not stale.exists()


def test_each_domain_is_labelled_and_forced_on_its_own():
    """Issue 27: an alias's or a redirect's certificate is service/domain in the outcome, and
    --renew takes the service (all its names), one domain, or that label."""
    from swsagent.acme import forced

    domain = wanted()
    alias = Wanted(1, "web", "www.example.com", None, None, None, None, 0, role="alias")
    assert (domain.label, alias.label) == ("web", "web/www.example.com")
    assert forced(domain, {"web"}) and forced(alias, {"web"})
    assert forced(alias, {"www.example.com"}) and not forced(domain, {"www.example.com"})
    assert forced(alias, {"web/www.example.com"}) and not forced(alias, {"other"})
