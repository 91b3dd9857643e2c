"""The host's firewall for the services (issue 25): a service reaches the internet, never the host.

Two chains of SWS's own, entered from the top of INPUT and of DOCKER-USER for traffic that comes
from a services bridge (`sws-services`, and every stack's `sws-st<subnet>`):

- the input chain (to the host itself, any of its addresses, link-local ones on lo included):
  replies to what the host opened (the proxies and the readiness probes connect to the
  services) and the edge's ports (HAProxy binds them on the host: a service reaches another
  through the public address, as anyone does) pass; DNS to a resolver on the host passes; the
  rest is refused.
- the forward chain (through the host): link-local 169.254.0.0/16 (a cloud's instance
  metadata) and the operator's ranges (sws_blocked_ranges) are refused, but for DNS to the
  host's resolvers (Docker's DNS asks them from the service's own network namespace, and on
  some clouds the resolver is 169.254.169.254); traffic that stays on SWS's bridges is left to
  Docker's own rules (icc off, isolation), as is everything else.

Refused is REJECT, not DROP: a client (a cloud SDK probing for metadata) fails at once instead
of waiting for its timeout. The rules are rendered here as `iptables -S` prints them, so a
pass checks them with one read and a string comparison; what differs is put back with one
iptables-restore, atomic. Docker keeps DOCKER-USER's rules across its restarts (it creates the
chain only when missing and puts its own jump to it first in FORWARD) and never touches INPUT;
after a reboot the tables are empty until the bootstrap's @reboot run or the next pass.

Service containers have no IPv6 (Docker disables it in the namespace of a container whose
networks have none), so there are no ip6tables rules. Pure functions, but for the reads and
the restore at the end.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

LINK_LOCAL = "169.254.0.0/16"
DOCKER_USER = "DOCKER-USER"
REFUSE = "-j REJECT --reject-with icmp-admin-prohibited"
# Docker's option that names a bridge network's Linux bridge; without it, br-<id[:12]>.
BRIDGE_OPTION = "com.docker.network.bridge.name"
# Docker reads the host's resolvers here (the second when the first lists only loopback ones,
# i.e. systemd-resolved's stub: Docker asks that one from the host's own namespace).
RESOLV_FILES = (Path("/etc/resolv.conf"), Path("/run/systemd/resolve/resolv.conf"))
TIMEOUT = 15.0


class FirewallError(RuntimeError):
    """iptables could not be read or would not take the rules."""


@dataclass(frozen=True)
class Policy:
    """What the rules are made from: the host contract and what the host says."""

    input_chain: str
    forward_chain: str
    bridges: tuple[str, ...]  # interface names as iptables matches them ('sws-st+': a prefix)
    edge_ports: tuple[int, ...]  # the load balancer's ports, bound on the host itself
    blocked: tuple[str, ...] = ()  # the operator's ranges
    resolvers: tuple[str, ...] = ()  # the host's DNS servers (IPv4)

    @classmethod
    def from_contract(cls, contract, resolvers=(), more_bridges=()) -> Policy:
        """more_bridges: bridges of SWS's networks that do not carry SWS's names (made before
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
    """The rules as `iptables -S` prints them: each chain of SWS's with its whole body, and
    the jumps that must head INPUT and DOCKER-USER."""

    chains: dict[str, tuple[str, ...]]
    jumps: dict[str, tuple[str, ...]]


def rules(policy: Policy) -> Rules:
    """Pure: the filter table's rules for this policy."""
    inp, fwd = policy.input_chain, policy.forward_chain
    dns = [
        f"-d {ip}/32 -p {proto} -m {proto} --dport 53 -j RETURN"
        for ip in policy.resolvers
        for proto in ("udp", "tcp")
    ]
    ports = ",".join(str(p) for p in policy.edge_ports)
    input_body = [
        "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        *dns,
        f"-d {LINK_LOCAL} {REFUSE}",
        f"-p tcp -m multiport --dports {ports} -j RETURN",
        REFUSE,
    ]
    forward_body = [
        "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        *(f"-o {bridge} -j RETURN" for bridge in policy.bridges),
        *dns,
        *(f"-d {net} {REFUSE}" for net in (LINK_LOCAL, *policy.blocked)),
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

    chains: frozenset[str]
    lines: dict[str, tuple[str, ...]]

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

    def of(self, chain: str) -> tuple[str, ...]:
        return self.lines.get(chain, ())


@dataclass(frozen=True)
class Repair:
    """What a restore puts back: the iptables-restore input, and what was missing (for the
    pass's record)."""

    script: str
    missing: tuple[str, ...]


def repair(wanted: Rules, seen: Tables) -> Repair | None:
    """Pure: None when the table holds the rules; else the restore that puts them back.

    A chain whose body differs is declared again (iptables-restore --noflush empties a chain
    it declares, then fills it: no moment without rules). The jumps go to the top; copies
    elsewhere in INPUT or DOCKER-USER, and jumps to SWS's chains it no longer wants (a
    removed network's bridge), are deleted.
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
        if present[: len(jumps)] == jumps and len(into_ours) == len(jumps):
            continue
        missing.append(f"the jumps at the top of {parent}")
        if parent not in seen.chains:
            # DOCKER-USER before Docker made it: Docker keeps an existing one.
            script.append(f":{parent} - [0:0]")
        script += ["-D" + r[2:] for r in into_ours]
        script += [f"-I {parent} {i} {j.split(maxsplit=2)[2]}" for i, j in enumerate(jumps, 1)]
    if not missing:
        return None
    return Repair("\n".join([*script, "COMMIT", ""]), tuple(missing))


def _target(rule: str) -> str:
    words = rule.split()
    return words[words.index("-j") + 1] if "-j" in words[:-1] else ""


def covered(bridge: str, names: Sequence[str]) -> bool:
    """Whether iptables' `-i name` (a trailing + matches any rest) matches this bridge."""
    return any(bridge.startswith(n[:-1]) if n.endswith("+") else bridge == n for n in names)


def resolvers(texts: Iterable[str]) -> tuple[str, ...]:
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


def sws_bridges(networks: Iterable[dict], services_network: str, label_prefix: str) -> list[str]:
    """Pure: the Linux bridge of the services network and of every stack network, as Docker
    reports the networks (GET /networks)."""
    found = []
    for net in networks:
        labels = net.get("Labels") or {}
        if net.get("Name") == services_network or f"{label_prefix}.stack" in labels:
            options = net.get("Options") or {}
            found.append(options.get(BRIDGE_OPTION) or "br-" + str(net.get("Id", ""))[:12])
    return found


@dataclass(frozen=True)
class Observed:
    """What a pass (or `sws-agent firewall`) saw: the filter table (None: unreadable, and
    why), the host's resolvers and the bridges of SWS's networks."""

    tables: Tables | None
    problem: str = ""
    resolvers: tuple[str, ...] = ()
    bridges: tuple[str, ...] = ()


def plan(contract, seen: Observed) -> Repair | None:
    """Pure: what the pass puts back (None: nothing, or the table could not be read)."""
    if seen.tables is None:
        return None
    policy = Policy.from_contract(contract, seen.resolvers, seen.bridges)
    return repair(rules(policy), seen.tables)


# --- the host's side: read the table and the resolvers, restore -------------------------------


def observe(networks: Iterable[dict], names, prefix: Sequence[str] = ()) -> Observed:
    """names: the agent's Names (its services network and label prefix)."""
    bridges = tuple(sws_bridges(networks, names.services_network, names.label_prefix))
    try:
        tables = read_tables(prefix)
    except FirewallError as err:
        return Observed(None, str(err), bridges=bridges)
    return Observed(tables, resolvers=host_resolvers(), bridges=bridges)


def read_tables(prefix: Sequence[str] = ()) -> Tables:
    """One `iptables -S` of the filter table; prefix: a command to run it under (tests use
    nsenter into a network namespace of their own)."""
    return Tables.parse(_iptables([*prefix, "iptables", "-w", "5", "-S"]))


def restore(script: str, prefix: Sequence[str] = ()) -> None:
    """Apply an iptables-restore script to the filter table, leaving every other rule."""
    _iptables([*prefix, "iptables-restore", "--noflush", "-w", "5"], script)


def host_resolvers(files: Iterable[Path] = RESOLV_FILES) -> tuple[str, ...]:
    texts = []
    for path in files:
        try:
            texts.append(path.read_text())
        except OSError:
            continue
    return resolvers(texts)


def _iptables(argv: list[str], stdin: str | None = None) -> str:
    try:
        done = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise FirewallError(f"{argv[0]}: {err}") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise FirewallError(f"{' '.join(argv)}: {why[:300]}")
    return done.stdout
