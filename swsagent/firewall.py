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
of waiting for its timeout. The rules are rendered as `iptables -S` prints them (by the
collection's firewallrules.py, which the swarm nodes' firewall shares), so a pass checks them
with one read and a string comparison; what differs is put back with one iptables-restore,
atomic. Docker keeps DOCKER-USER's rules across its restarts (it creates the
chain only when missing and puts its own jump to it first in FORWARD) and never touches INPUT;
after a reboot the tables are empty until the bootstrap's @reboot run or the next pass.

Service containers have no IPv6 (Docker disables it in the namespace of a container whose
networks have none), so there are no ip6tables rules. Pure functions, but for the reads and
the restore at the end.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from swsagent import collection

if TYPE_CHECKING:
    from ansible_collections.sws.host.plugins.module_utils.firewallrules import Repair, Tables

# The rendering is the collection's (module_utils/firewallrules.py), shared with the swarm
# nodes' firewall (the sws.host.swarm_firewall module). Its names are looked up when first
# asked, not at import: the agent finds the collection in its project_dir only once its
# configuration is read (collection.use), as for the Engine API client.
_SHARED = frozenset(
    {"LINK_LOCAL", "DOCKER_USER", "REFUSE", "Policy", "Rules", "Tables", "Repair"}
    | {"rules", "repair", "covered", "resolvers"}
)


def _shared():
    return collection.module_utils("firewallrules")


def __getattr__(name: str):
    if name in _SHARED:
        return getattr(_shared(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Docker's option that names a bridge network's Linux bridge; without it, br-<id[:12]>.
BRIDGE_OPTION = "com.docker.network.bridge.name"
# Docker reads the host's resolvers here (the second when the first lists only loopback ones,
# i.e. systemd-resolved's stub: Docker asks that one from the host's own namespace).
RESOLV_FILES = (Path("/etc/resolv.conf"), Path("/run/systemd/resolve/resolv.conf"))
TIMEOUT = 15.0


class FirewallError(RuntimeError):
    """iptables could not be read or would not take the rules."""


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
    shared = _shared()
    policy = shared.Policy.from_contract(contract, seen.resolvers, seen.bridges)
    return shared.repair(shared.rules(policy), seen.tables)


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
    return _shared().Tables.parse(_iptables([*prefix, "iptables", "-w", "5", "-S"]))


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
    return _shared().resolvers(texts)


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
