"""The swarm nodes' firewall for their tasks (issue 28), rendered by the renderer the single host
uses (module_utils/firewallrules.py): the other nodes refused but for the edge's ports, and on
the manager, beside the agent's own chains, neither side moving the other's jumps.

Its effect on real traffic across nodes is tests/swarm/test_isolation.py's.
"""

from __future__ import annotations

from swsagent import collection

rules_of = collection.module_utils("firewallrules")
REFUSE = rules_of.REFUSE


def swarm_policy(**changes) -> object:
    values = {
        "input_chain": "SWS-SWARM-INPUT",
        "forward_chain": "SWS-SWARM-FORWARD",
        "bridges": ("docker_gwbridge",),
        "edge_ports": (80, 443),
        "blocked": ("10.0.0.0/8",),
        "peers": ("192.0.2.11/32", "192.0.2.12/32"),
    }
    return rules_of.Policy(**{**values, **changes})


def table(*jumps: str, chains=()) -> object:
    """`iptables -S` of a node Docker runs on, with these jumps heading INPUT and DOCKER-USER."""
    lines = ["-P INPUT ACCEPT", "-P FORWARD DROP", "-N DOCKER-USER"]
    lines += [f"-N {c}" for c in chains]
    lines += [j for j in jumps if j.startswith("-A INPUT ")]
    lines += ["-A INPUT -i eth0 -p tcp --dport 22 -j ACCEPT", "-A FORWARD -j DOCKER-USER"]
    lines += [j for j in jumps if j.startswith("-A DOCKER-USER ")]
    lines += ["-A DOCKER-USER -j RETURN"]
    return rules_of.Tables.parse("\n".join(lines) + "\n")


def with_chains(rules, seen) -> object:
    """seen, plus the bodies of rules' chains (as after a restore)."""
    lines = {**seen.lines, **{c: body for c, body in rules.chains.items()}}
    return rules_of.Tables(seen.chains | set(rules.chains), lines)


AGENT = rules_of.rules(
    rules_of.Policy("SWS-INPUT", "SWS-FORWARD", ("sws-services", "sws-st+"), (80, 443))
)
SWARM = rules_of.rules(swarm_policy())


def test_the_other_nodes_are_refused_but_for_the_edge_ports():
    body = SWARM.chains["SWS-SWARM-FORWARD"]
    edge = "-A SWS-SWARM-FORWARD -d 192.0.2.11/32 -p tcp -m multiport --dports 80,443 -j RETURN"
    refused = f"-A SWS-SWARM-FORWARD -d 192.0.2.11/32 {REFUSE}"
    assert body.index(edge) < body.index(refused)
    assert f"-A SWS-SWARM-FORWARD -d 10.0.0.0/8 {REFUSE}" in body  # the swarm's address pool
    assert SWARM.jumps == {
        "INPUT": ("-A INPUT -i docker_gwbridge -j SWS-SWARM-INPUT",),
        "DOCKER-USER": ("-A DOCKER-USER -i docker_gwbridge -j SWS-SWARM-FORWARD",),
    }


def test_no_peers_render_the_single_hosts_forward_chain_unchanged():
    plain = rules_of.rules(swarm_policy(peers=()))
    assert not any("192.0.2" in r for r in plain.chains["SWS-SWARM-FORWARD"])
    assert plain.chains["SWS-SWARM-FORWARD"][-1] == f"-A SWS-SWARM-FORWARD -d 10.0.0.0/8 {REFUSE}"


def test_on_the_manager_the_swarm_jumps_follow_the_agents_and_neither_moves_the_other():
    after = ("SWS-INPUT", "SWS-FORWARD")
    agent_jumps = AGENT.jumps["INPUT"] + AGENT.jumps["DOCKER-USER"]
    seen = with_chains(AGENT, table(*agent_jumps))
    found = rules_of.repair(SWARM, seen, after)
    assert "-I INPUT 3 -i docker_gwbridge -j SWS-SWARM-INPUT" in found.script
    assert "-I DOCKER-USER 3 -i docker_gwbridge -j SWS-SWARM-FORWARD" in found.script
    both = with_chains(SWARM, with_chains(AGENT, table(*agent_jumps, *SWARM.jumps["INPUT"],
                                                      *SWARM.jumps["DOCKER-USER"])))  # fmt: skip
    assert rules_of.repair(SWARM, both, after) is None
    assert rules_of.repair(AGENT, both) is None  # the agent's jumps still head both chains


def test_a_swarm_jump_below_another_rule_is_put_back_at_the_top():
    stray = ("-A INPUT -i eth0 -j ACCEPT", *SWARM.jumps["INPUT"], *SWARM.jumps["DOCKER-USER"])
    found = rules_of.repair(SWARM, with_chains(SWARM, table(*stray)), ("SWS-INPUT",))
    assert found.missing == ("the jumps at the top of INPUT",)
    assert "-D INPUT -i docker_gwbridge -j SWS-SWARM-INPUT" in found.script
    assert "-I INPUT 1 -i docker_gwbridge -j SWS-SWARM-INPUT" in found.script
