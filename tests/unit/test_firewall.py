"""The services' firewall rules (issue 25), rendered from the host contract: what they refuse,
what they leave open, and how a pass tells what is missing from one `iptables -S`.

The rules' effect on real traffic is tests/e2e/test_firewall.py's; that iptables takes them
and prints them back exactly so is tests/integration/test_firewall_tables.py's.
"""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swsagent import firewall
from swsagent.stacks import bridge_name
from swscore.hostcontract import ContractError, load_contract
from tests.fixtures.contract import REPO, repo_contract

REFUSE = firewall.REFUSE


def contract(**changes):
    return dataclasses.replace(repo_contract(), **changes)


def rendered(blocked=(), resolvers=(), more_bridges=()):
    the_contract = contract(blocked_ranges=tuple(blocked))
    return firewall.rules(firewall.Policy.from_contract(the_contract, resolvers, more_bridges))


def as_table(rules: firewall.Rules, docker_user=("-A DOCKER-USER -j RETURN",)) -> str:
    """What `iptables -S` prints once the rules are in place on a host Docker runs on."""
    lines = ["-P INPUT ACCEPT", "-P FORWARD DROP", "-P OUTPUT ACCEPT", "-N DOCKER-USER"]
    lines += [f"-N {c}" for c in rules.chains]
    lines += [*rules.jumps["INPUT"], "-A INPUT -i eth0 -p tcp --dport 22 -j ACCEPT"]
    lines += ["-A FORWARD -j DOCKER-USER", *rules.jumps["DOCKER-USER"], *docker_user]
    for body in rules.chains.values():
        lines += body
    return "\n".join(lines) + "\n"


def test_the_host_is_refused_but_replies_dns_and_the_edge_ports():
    rules = rendered(resolvers=["10.255.255.53"])
    body = rules.chains["SWS-INPUT"]
    assert body[0] == "-A SWS-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
    assert "-A SWS-INPUT -d 10.255.255.53/32 -p udp -m udp --dport 53 -j RETURN" in body
    # Link-local addresses of the host are refused before the edge's ports are let through.
    assert body.index(f"-A SWS-INPUT -d 169.254.0.0/16 {REFUSE}") < body.index(
        "-A SWS-INPUT -p tcp -m multiport --dports 80,443 -j RETURN"
    )
    assert body[-1] == f"-A SWS-INPUT {REFUSE}"
    assert rules.jumps["INPUT"] == (
        "-A INPUT -i sws-services -j SWS-INPUT",
        "-A INPUT -i sws-st+ -j SWS-INPUT",
    )


def test_the_edge_ports_are_the_contracts():
    policy = firewall.Policy.from_contract(contract(http_port=8080, https_port=8443))
    body = firewall.rules(policy).chains["SWS-INPUT"]
    assert "-A SWS-INPUT -p tcp -m multiport --dports 8080,8443 -j RETURN" in body


def test_forwarded_traffic_keeps_to_docker_but_for_link_local_and_the_operators_ranges():
    rules = rendered(blocked=["10.0.0.0/8", "192.168.0.0/16"], resolvers=["10.0.0.2"])
    body = rules.chains["SWS-FORWARD"]
    # What stays on SWS's bridges (a stack's services, which may be in a blocked range) is
    # Docker's to decide, as are replies.
    assert body[:3] == (
        "-A SWS-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        "-A SWS-FORWARD -o sws-services -j RETURN",
        "-A SWS-FORWARD -o sws-st+ -j RETURN",
    )
    # The resolver in a blocked range still answers DNS, before the range is refused.
    dns = body.index("-A SWS-FORWARD -d 10.0.0.2/32 -p udp -m udp --dport 53 -j RETURN")
    assert dns < body.index(f"-A SWS-FORWARD -d 10.0.0.0/8 {REFUSE}")
    assert body[-3:] == (
        f"-A SWS-FORWARD -d 169.254.0.0/16 {REFUSE}",
        f"-A SWS-FORWARD -d 10.0.0.0/8 {REFUSE}",
        f"-A SWS-FORWARD -d 192.168.0.0/16 {REFUSE}",
    )
    # Nothing else is refused: the internet stays reachable.
    assert sum(REFUSE in r for r in body) == 3
    assert rules.jumps["DOCKER-USER"] == (
        "-A DOCKER-USER -i sws-services -j SWS-FORWARD",
        "-A DOCKER-USER -i sws-st+ -j SWS-FORWARD",
    )


def test_a_bridge_without_swss_name_is_matched_on_its_own():
    rules = rendered(more_bridges=["br-3f3cefd92001", "sws-st0ac90000", "sws-services"])
    assert rules.jumps["INPUT"][-1] == "-A INPUT -i br-3f3cefd92001 -j SWS-INPUT"
    assert len(rules.jumps["INPUT"]) == 3


def test_rules_in_place_need_nothing():
    rules = rendered(blocked=["10.0.0.0/8"])
    assert firewall.repair(rules, firewall.Tables.parse(as_table(rules))) is None


def test_an_empty_table_gets_everything_and_docker_user_if_docker_has_not_made_it():
    rules = rendered()
    fixed = firewall.repair(rules, firewall.Tables.parse("-P INPUT ACCEPT\n-P FORWARD DROP\n"))
    assert fixed is not None
    lines = fixed.script.splitlines()
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"
    assert ":SWS-INPUT - [0:0]" in lines and ":DOCKER-USER - [0:0]" in lines
    assert "-I INPUT 1 -i sws-services -j SWS-INPUT" in lines
    assert "-I DOCKER-USER 2 -i sws-st+ -j SWS-FORWARD" in lines
    assert not [line for line in lines if line.startswith("-D")]
    # Chains are declared before the jumps that name them.
    assert lines.index(":SWS-FORWARD - [0:0]") < lines.index(
        "-I DOCKER-USER 1 -i sws-services -j SWS-FORWARD"
    )


def test_a_jump_pushed_down_is_moved_back_to_the_top():
    rules = rendered()
    text = as_table(rules).replace(
        "-A INPUT -i sws-services -j SWS-INPUT\n",
        "-A INPUT -i eth0 -j ACCEPT\n-A INPUT -i sws-services -j SWS-INPUT\n",
    )
    fixed = firewall.repair(rules, firewall.Tables.parse(text))
    assert fixed.missing == ("the jumps at the top of INPUT",)
    lines = fixed.script.splitlines()
    assert lines[1:5] == [
        "-D INPUT -i sws-services -j SWS-INPUT",
        "-D INPUT -i sws-st+ -j SWS-INPUT",
        "-I INPUT 1 -i sws-services -j SWS-INPUT",
        "-I INPUT 2 -i sws-st+ -j SWS-INPUT",
    ]


def test_a_changed_chain_is_declared_again_and_a_stale_jump_goes():
    before = rendered(more_bridges=["br-3f3cefd92001"])
    after = rendered(blocked=["10.0.0.0/8"])
    fixed = firewall.repair(after, firewall.Tables.parse(as_table(before)))
    assert set(fixed.missing) == {
        "chain SWS-FORWARD",
        "the jumps at the top of INPUT",
        "the jumps at the top of DOCKER-USER",
    }
    assert "-D INPUT -i br-3f3cefd92001 -j SWS-INPUT" in fixed.script.splitlines()
    assert ":SWS-INPUT" not in fixed.script  # unchanged: left alone


def test_the_resolvers_are_dockers():
    stub = "nameserver 127.0.0.53\noptions edns0\n"
    upstream = "# systemd\nnameserver 169.254.169.254\nnameserver fd00::1\nnameserver 10.0.0.2\n"
    assert firewall.resolvers([stub, upstream]) == ("169.254.169.254", "10.0.0.2")
    assert firewall.resolvers(["nameserver 10.255.255.53\n", upstream]) == ("10.255.255.53",)
    assert firewall.resolvers(["nameserver nonsense\n"]) == ()


def test_the_bridges_of_swss_networks_as_docker_reports_them():
    networks = [
        {"Name": "sws-services", "Id": "3f3cefd92001abcdef", "Options": {}},
        {
            "Name": "sws-stack.a.b",
            "Id": "aa",
            "Labels": {"sws.stack": "b"},
            "Options": {firewall.BRIDGE_OPTION: "sws-st0ac90000"},
        },
        {"Name": "bridge", "Id": "a57b0e18917d", "Options": {firewall.BRIDGE_OPTION: "docker0"}},
        {"Name": "other", "Id": "bb", "Labels": {"x.stack": "b"}},
    ]
    assert firewall.sws_bridges(networks, "sws-services", "sws") == [
        "br-3f3cefd92001",
        "sws-st0ac90000",
    ]


def test_a_stacks_bridge_name_fits_linux_and_the_prefix():
    name = bridge_name("sws-st", "10.201.255.240/28")
    assert name == "sws-st0ac9fff0" and len(name) <= 15
    assert firewall.covered(name, ("sws-services", "sws-st+"))
    assert not firewall.covered("br-0ac9fff0", ("sws-services", "sws-st+"))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (["10.0.0.1/8"], "host bits"),
        (["ten"], "not a network"),
        (["fd00::/8"], "not IPv4"),
        ("10.0.0.0/8", "list of strings"),
    ],
)
def test_the_operators_ranges_are_checked(tmp_path, value, why):
    settings = tmp_path / "agent-host.yml"
    settings.write_text(f"sws_blocked_ranges: {value!r}\n".replace("'", '"'))
    with pytest.raises(ContractError, match=why):
        load_contract(REPO, settings)


@pytest.mark.parametrize(
    ("key", "value"),
    [("sws_services_bridge", "sws-services-bridge"), ("sws_stack_bridge_prefix", "sws-stk+")],
)
def test_bridge_names_must_fit(tmp_path, key, value):
    settings = tmp_path / "agent-host.yml"
    settings.write_text(f"{key}: {value}\n")
    with pytest.raises(ContractError, match=key):
        load_contract(REPO, settings)


networks_v4 = st.builds(
    lambda address, length: ipaddress.ip_network((address, length), strict=False),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=0, max_value=32),
)


@given(st.lists(networks_v4, max_size=8), st.lists(st.ip_addresses(v=4), max_size=3))
def test_any_operator_ranges_render_rules_that_read_back_in_place(ranges, servers):
    """Whatever the operator lists: each range refused once, after the bridges' own traffic,
    DNS and the link-local range; the rendered table needs no repair."""
    blocked = [str(n) for n in ranges]
    resolv = "".join(f"nameserver {a}\n" for a in servers)
    rules = rendered(blocked=blocked, resolvers=firewall.resolvers([resolv]))
    body = rules.chains["SWS-FORWARD"]
    refused = [r.split()[3] for r in body if REFUSE in r]
    assert refused == ["169.254.0.0/16", *blocked]
    assert all(REFUSE not in r for r in body[: len(body) - len(refused)])
    assert firewall.repair(rules, firewall.Tables.parse(as_table(rules))) is None
    # Losing any one rule of either chain is seen and named.
    for chain, lines in rules.chains.items():
        for gone in lines:
            text = as_table(rules).replace(gone + "\n", "", 1)
            assert f"chain {chain}" in firewall.repair(rules, firewall.Tables.parse(text)).missing


def test_the_pass_checks_the_firewall_only_when_agent_yml_says_so():
    from swsagent.config import AgentConfigError, config_from_mapping
    from tests.fixtures.contract import in_repo

    url = {"database_url": "postgresql://sws@127.0.0.1:5432/sws"}
    assert config_from_mapping(in_repo(url)).firewall is False
    assert config_from_mapping(in_repo({**url, "firewall": True})).firewall is True
    with pytest.raises(AgentConfigError, match="firewall must be true or false"):
        config_from_mapping(in_repo({**url, "firewall": "yes"}))
