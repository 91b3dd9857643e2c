"""When `sws-agent certs` orders (issue 15): none yet, or within the renewal window, and never
before the backoff of a failure ends unless forced; and the agent.yml keys it reads."""

from datetime import UTC, datetime, timedelta

import pytest

from swsapi.agent.acme import AcmeSettings, Wanted, due, resolves_here
from swsapi.agent.config import AgentConfigError, config_from_mapping

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


def test_a_domain_that_does_not_resolve_here_is_not_ordered(tmp_path):
    settings = AcmeSettings(
        directory="https://ca.invalid/dir",
        state_dir=tmp_path,
        tls_dir=tmp_path,
        proxies=(),
        host_addresses=("192.0.2.1",),
    )
    here, why = resolves_here("localhost", settings)
    assert not here and "not to this host" in why
    here, why = resolves_here("name.invalid", settings)
    assert not here and "does not resolve" in why


def test_agent_yml_reads_the_https_and_acme_keys():
    config = config_from_mapping(
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
    assert (config.https_port, config.tls_default_certificate) == (8443, "acme")
    assert config.acme_host_addresses == ("192.0.2.1",) and config.acme_renew_days == 20
    assert config_from_mapping({"database_url": "postgresql://x@h/sws"}).tls_dir is None
    with pytest.raises(AgentConfigError, match="tls_default_certificate"):
        config_from_mapping(
            {"database_url": "postgresql://x@h/sws", "tls_default_certificate": "x"}
        )
