"""The bootstrap reserves the host's own names (issue 25): roles/sws_apiserver reads the host's
hostname, FQDN and node name and passes them with the API domain in SWS_RESERVED_DOMAINS.

The role's own expression is rendered here by ansible-core's templar, with facts as a host
would report them, odd ones included: each name is taken literally (a fact is no template),
and a name that could split the comma list or is no domain at all is left out rather than
breaking the apiserver's start."""

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from swsapi.config import reserved_domains

DEFAULTS = Path(__file__).parents[2] / "roles" / "sws_apiserver" / "defaults" / "main.yml"


def bootstrap_reserved(hostname: str, fqdn: str, nodename: str, api="api.sws.localhost") -> str:
    """SWS_RESERVED_DOMAINS as the role renders it for a host with these facts."""
    defaults = yaml.safe_load(DEFAULTS.read_text())
    variables = {
        "sws_api_domain": api,
        # Facts come from the host: never trusted as templates, exactly as ansible-core has them.
        "ansible_facts": {"hostname": hostname, "fqdn": fqdn, "nodename": nodename},
        **{
            key: trust_as_template(defaults[key])
            for key in (
                "sws_apiserver_reserved_domains",
                "sws_apiserver_host_names",
                "sws_apiserver_reserved_list",
            )
        },
    }
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template("{{ sws_apiserver_reserved_list }}"))


def test_the_hosts_names_and_the_api_domain_are_reserved():
    raw = bootstrap_reserved("build-7", "build-7.example.net", "build-7")
    assert raw == "api.sws.localhost,build-7,build-7.example.net"
    assert reserved_domains({"SWS_RESERVED_DOMAINS": raw}) == {
        "api.sws.localhost",
        "build-7",
        "build-7.example.net",
    }


@pytest.mark.parametrize(
    ("facts", "kept"),
    [
        # Upper case and a final dot: a service's domain is lowercase, without one.
        (("Build-7", "Build-7.Example.NET.", "BUILD-7"), {"build-7", "build-7.example.net"}),
        # A comma would make two names of one; a space or braces are no domain: left out.
        (("a,b", "my host", "{{ lookup('pipe', 'id') }}"), set()),
        (("host_1", "host_1.example.net", "x" * 300), set()),
        # ansible_fqdn falls back to the hostname when nothing resolves.
        (("builder", "builder", "builder"), {"builder"}),
    ],
)
def test_odd_host_names_never_break_the_list(facts, kept):
    raw = bootstrap_reserved(*facts)
    assert reserved_domains({"SWS_RESERVED_DOMAINS": raw}) == {"api.sws.localhost", *kept}
