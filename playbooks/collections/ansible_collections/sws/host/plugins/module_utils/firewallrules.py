"""SWS's iptables rules as pure text: rendered from a policy as `iptables -S` prints them, read
back from one `iptables -S`, and the iptables-restore script that puts back what is missing.

One renderer for the single host's services firewall (swsagent/firewall.py: the services'
bridges) and for every swarm node's (the sws.host.swarm_firewall module: docker_gwbridge,
through which a node's tasks reach anything outside their overlays). Standard library only: the
module runs it on the node.

Two chains per policy, entered from the top of INPUT and of DOCKER-USER for traffic that comes
in from the policy's bridges:

- the input chain (to the host itself, any of its addresses): replies to what the host opened,
  DNS to a resolver on the host and the edge's ports pass; the rest is refused.
- the forward chain (through the host): link-local 169.254.0.0/16 (a cloud's instance
  metadata), the blocked ranges and the peers (other hosts whose own ports are control plane:
  a swarm's other nodes) are refused, but for DNS to the host's resolvers and the peers' edge
  ports; traffic that stays on the bridges is left to Docker's own rules (icc off, isolation),
  as is everything else.

Refused is REJECT, not DROP: a client fails at once instead of waiting for its timeout.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

LINK_LOCAL = "169.254.0.0/16"
DOCKER_USER = "DOCKER-USER"
REFUSE = "-j REJECT --reject-with icmp-admin-prohibited"


@dataclass(frozen=True)
class Policy:
    """What the rules are made from."""

    input_chain: str
    forward_chain: str
    bridges: tuple  # interface names as iptables matches them ('sws-st+': a prefix)
    edge_ports: tuple  # the load balancer's ports, bound on the host (and on the peers)
    blocked: tuple = ()  # networks refused through the host
    resolvers: tuple = ()  # the host's DNS servers (IPv4)
    peers: tuple = ()  # other hosts' addresses (a.b.c.d/32): refused but for the edge ports

    @classmethod
    def from_contract(cls, contract, resolvers=(), more_bridges=()) -> Policy:
        """The single host's policy, from its host contract (swscore/hostcontract.py).
        more_bridges: bridges of SWS's networks that do not carry SWS's names (made before
        the names were set), matched one by one."""
        named = (contract.services_bridge, contract.stack_bridge_prefix + "+")
        return cls(
            input_chain=contract.input_chain,
            forward_chain=contract.forward_chain,
            bridges=named + tuple(b for b in more_bridges if not covered(b, named)),
            edge_ports=tuple(sorted({contract.http_port, contract.https_port})),
            blocked=tuple(contract.blocked_ranges),
            resolvers=tuple(resolvers),
        )


@dataclass(frozen=True)
class Rules:
    """The rules as `iptables -S` prints them: each chain of the policy with its whole body,
    and the jumps that must head INPUT and DOCKER-USER."""

    chains: dict
    jumps: dict


def rules(policy: Policy) -> Rules:
    """Pure: the filter table's rules for this policy."""
    inp, fwd = policy.input_chain, policy.forward_chain
    dns = [
        f"-d {ip}/32 -p {proto} -m {proto} --dport 53 -j RETURN"
        for ip in policy.resolvers
        for proto in ("udp", "tcp")
    ]
    ports = ",".join(str(p) for p in policy.edge_ports)
    edge = f"-p tcp -m multiport --dports {ports} -j RETURN"
    input_body = [
        "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        *dns,
        f"-d {LINK_LOCAL} {REFUSE}",
        edge,
        REFUSE,
    ]
    forward_body = [
        "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        *(f"-o {bridge} -j RETURN" for bridge in policy.bridges),
        *dns,
        *(f"-d {peer} {edge}" for peer in policy.peers),
        *(f"-d {net} {REFUSE}" for net in (LINK_LOCAL, *policy.blocked, *policy.peers)),
    ]
    return Rules(
        chains={
            inp: tuple(f"-A {inp} {r}" for r in input_body),
            fwd: tuple(f"-A {fwd} {r}" for r in forward_body),
        },
        jumps={
            "INPUT": tuple(f"-A INPUT -i {b} -j {inp}" for b in policy.bridges),
            DOCKER_USER: tuple(f"-A {DOCKER_USER} -i {b} -j {fwd}" for b in policy.bridges),
        },
    )


@dataclass(frozen=True)
class Tables:
    """The filter table as `iptables -S` printed it: the chains, and each one's rules."""

    chains: frozenset
    lines: dict

    @classmethod
    def parse(cls, text: str) -> Tables:
        chains, lines = set(), {}
        for line in text.splitlines():
            words = line.split(maxsplit=2)
            if len(words) >= 2 and words[0] in ("-P", "-N"):
                chains.add(words[1])
            elif len(words) >= 2 and words[0] == "-A":
                lines.setdefault(words[1], []).append(line.strip())
        return cls(frozenset(chains), {c: tuple(r) for c, r in lines.items()})

    def of(self, chain: str) -> tuple:
        return self.lines.get(chain, ())


@dataclass(frozen=True)
class Repair:
    """What a restore puts back: the iptables-restore input, and what was missing (for the
    record)."""

    script: str
    missing: tuple


def repair(wanted: Rules, seen: Tables, after: tuple = ()) -> Repair | None:
    """Pure: None when the table holds the rules; else the restore that puts them back.

    A chain whose body differs is declared again (iptables-restore --noflush empties a chain
    it declares, then fills it: no moment without rules). The jumps go to the top; copies
    elsewhere in INPUT or DOCKER-USER, and jumps to these chains it no longer wants (a
    removed network's bridge), are deleted. after: other chains whose jumps may head the
    parent before ours (the single host's SWS-INPUT on a swarm's manager): ours then follow
    them, so neither policy moves the other's jumps and both stay unchanged run after run.
    """
    script, missing = ["*filter"], []
    for chain, body in wanted.chains.items():
        if chain not in seen.chains or seen.of(chain) != body:
            missing.append(f"chain {chain}")
            script += [f":{chain} - [0:0]", *body]
    ours = tuple(wanted.chains)
    for parent, jumps in wanted.jumps.items():
        present = seen.of(parent)
        into_ours = [r for r in present if _target(r) in ours]
        head = _head(present, ours + tuple(after))
        if [r for r in head if _target(r) in ours] == list(jumps) and len(into_ours) == len(jumps):
            continue
        missing.append(f"the jumps at the top of {parent}")
        if parent not in seen.chains:
            # DOCKER-USER before Docker made it: Docker keeps an existing one.
            script.append(f":{parent} - [0:0]")
        script += ["-D" + r[2:] for r in into_ours]
        kept = [r for r in present if r not in into_ours]
        first = len(_head(kept, tuple(after))) + 1
        script += [f"-I {parent} {i} {j.split(maxsplit=2)[2]}" for i, j in enumerate(jumps, first)]
    if not missing:
        return None
    return Repair("\n".join([*script, "COMMIT", ""]), tuple(missing))


def _head(rules: tuple | list, chains: tuple) -> list:
    """The leading rules that jump to these chains."""
    head = []
    for rule in rules:
        if _target(rule) not in chains:
            break
        head.append(rule)
    return head


def _target(rule: str) -> str:
    words = rule.split()
    return words[words.index("-j") + 1] if "-j" in words[:-1] else ""


def covered(bridge: str, names) -> bool:
    """Whether iptables' `-i name` (a trailing + matches any rest) matches this bridge."""
    return any(bridge.startswith(n[:-1]) if n.endswith("+") else bridge == n for n in names)


def resolvers(texts) -> tuple:
    """Pure: the IPv4 nameservers of the first resolv.conf text that lists one that is not
    loopback (Docker asks loopback ones from the host's namespace: no rule needed)."""
    for text in texts:
        found = []
        for line in text.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "nameserver":
                try:
                    address = ipaddress.ip_address(words[1])
                except ValueError:
                    continue
                if address.version == 4 and not address.is_loopback:
                    found.append(str(address))
        if found:
            return tuple(dict.fromkeys(found))
    return ()
