"""Stacks: each user's application on a private network of its own (issue 24).

The services of one owner with the same spec.stack share one bridge network, internal (no route
out: outbound goes through the services network as before) and with traffic between its
containers on, where each service answers to its own name. Nothing else joins it: no other
user's service, no other stack, not the control plane.

On a swarm (issue 28, agent.yml `swarm.executor`) a stack's network is an attachable overlay on
the manager instead, where its services' tasks join it from any node; the swarm allots its
subnet, and the nodes' firewall (sws.host.swarm_firewall) keeps it to itself.

Docker's default address pools give about 30 networks, so each stack gets a small subnet
(/28: 11 containers, two generations of five services) allotted here from a range the operator
sets (agent.yml stack_subnets), avoiding every subnet any network on the host already uses. The
network goes when the stack's last service does. Pure functions, but for observe/apply at the
end, which talk to the Engine API.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from swsagent import collection
from swsagent.desired import DesiredService
from swsagent.observe import ObserveError


class StackError(RuntimeError):
    """The range has no free subnet left, or the engine refused a network."""


@dataclass(frozen=True)
class StackNetwork:
    name: str
    subnet: str
    owner: str
    stack: str


@dataclass
class StackPlan:
    """What the pass does to the stacks' networks: create before the deploys, remove after."""

    create: list[StackNetwork] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    # service -> the network it joins (under its name), for every service with a stack.
    joins: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # service -> why it has none


def bridge_name(bridge_prefix: str, subnet: str) -> str:
    """The Linux bridge of a stack's network: the prefix and 8 hex digits of its subnet's
    address (at most 15 characters; no two stacks share a subnet, so no two share a name).
    The host's firewall rules match every stack's bridge by the prefix (firewall.py)."""
    network = ipaddress.ip_network(subnet)
    if network.version == 4:
        return f"{bridge_prefix}{int(network.network_address):08x}"
    return bridge_prefix + hashlib.sha256(subnet.encode()).hexdigest()[:8]


def network_name(prefix: str, owner: str, stack: str) -> str:
    """User names and stacks are DNS labels (no dots): '.' keeps every pair apart."""
    return f"{prefix}-stack.{owner}.{stack}"


# A swarm's network names are DNS name components: letters, digits, '-' and '_', 63 at most.
SWARM_NAME_MAX = 63


def overlay_name(prefix: str, owner: str, stack: str) -> str:
    """A stack's overlay on a swarm: '_' (in no user name or stack) keeps every pair apart;
    a pair too long for a swarm's name is a digest of it (one '_': no pair's name)."""
    name = f"{prefix}-stack_{owner}_{stack}"
    if len(name) <= SWARM_NAME_MAX:
        return name
    return f"{prefix}-stack_" + hashlib.sha256(f"{owner}.{stack}".encode()).hexdigest()[:32]


def wanted_stacks(desired: Iterable[DesiredService]) -> set[tuple[str, str]]:
    """(owner, stack) of every service that is not being deleted."""
    return {
        (s.owner, s.definition.stack)
        for s in desired
        if s.definition is not None and s.definition.stack and not s.deleting
    }


def allot(
    subnet_range: str, prefix_len: int, taken: Iterable[str], count: int
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """`count` subnets of /prefix_len from the range, in order, none overlapping `taken`
    (every subnet some network on the host uses, SWS's or not)."""
    used = [ipaddress.ip_network(t, strict=False) for t in taken]
    found = []
    for candidate in ipaddress.ip_network(subnet_range).subnets(new_prefix=prefix_len):
        if len(found) == count:
            break
        if not any(candidate.overlaps(u) for u in used):
            found.append(candidate)
            used.append(candidate)
    if len(found) < count:
        raise StackError(
            f"the stack range {subnet_range} has no free /{prefix_len} left"
            f" for {count - len(found)} more stack(s)"
        )
    return found


def plan_stacks(
    desired: list[DesiredService],
    existing: dict[str, StackNetwork],
    taken: Iterable[str],
    prefix: str,
    subnet_range: str,
    prefix_len: int,
    on_swarm: bool = False,
) -> StackPlan:
    """existing: SWS's stack networks on the host by name; taken: every subnet in use.
    on_swarm: the stacks' overlays, whose subnets the swarm allots."""
    plan = StackPlan()
    named = overlay_name if on_swarm else network_name
    wanted = {named(prefix, o, s): (o, s) for o, s in wanted_stacks(desired)}
    missing = sorted(n for n in wanted if n not in existing)
    try:
        if on_swarm:
            subnets = [""] * len(missing)
        else:
            subnets = allot(subnet_range, prefix_len, taken, len(missing))
    except StackError as err:
        subnets = []
        for s in desired:
            if s.definition and s.definition.stack:
                name = named(prefix, s.owner, s.definition.stack)
                if name in missing:
                    plan.problems[s.name] = str(err)
        missing = []
    for name, subnet in zip(missing, subnets, strict=False):
        owner, stack = wanted[name]
        plan.create.append(StackNetwork(name, str(subnet), owner, stack))
    plan.remove = sorted(n for n in existing if n not in wanted)
    for s in desired:
        if s.definition and s.definition.stack and not s.deleting and s.name not in plan.problems:
            plan.joins[s.name] = named(prefix, s.owner, s.definition.stack)
    return plan


# --- the Engine API side: what exists, and the changes ----------------------------------------


def engine_networks(socket: str | None = None) -> list[dict]:
    """Every network on the engine (this host's, or the swarm manager's at `socket`), as GET
    /networks reports them (one call a pass)."""
    engine_mod = collection.engine()
    try:
        return engine_mod.Engine(socket).networks()
    except engine_mod.EngineError as err:
        raise ObserveError(f"the Docker engine could not be asked: {err}") from None


def observe(prefix: str, networks: list[dict] | None = None):
    """SWS's stack networks by name, and every subnet any network on the host uses
    (networks: engine_networks(), when the caller has it already)."""
    if networks is None:
        networks = engine_networks()
    stacks: dict[str, StackNetwork] = {}
    taken: list[str] = []
    for net in networks:
        subnets = [c.get("Subnet") for c in ((net.get("IPAM") or {}).get("Config") or [])]
        taken += [s for s in subnets if s]
        labels = net.get("Labels") or {}
        # A stack's overlay a deploy made (swarmspec's labels: no stack name) is one too.
        if f"{prefix}.stack" in labels or f"{prefix}.stack-network" in labels:
            stacks[net["Name"]] = StackNetwork(
                net["Name"],
                subnets[0] if subnets and subnets[0] else "",
                labels.get(f"{prefix}.owner", ""),
                labels.get(f"{prefix}.stack", ""),
            )
    return stacks, taken


def create(
    plan: StackPlan, prefix: str, bridge_prefix: str, manager: str | None = None
) -> dict[str, str]:
    """Make the missing networks, each on a bridge named bridge_name(bridge_prefix, subnet),
    or as overlays on the swarm manager at `manager`; {network: why} for those the engine
    refused."""
    engine_mod = collection.engine()
    engine = engine_mod.Engine(manager)
    refused = {}
    for net in plan.create:
        labels = {f"{prefix}.stack": net.stack, f"{prefix}.owner": net.owner}
        try:
            if manager is not None:
                # The deploy's check of a stack overlay (swarmspec's overlays()) finds these
                # labels: the owner's, and the mark of a stack's network.
                labels[f"{prefix}.stack-network"] = "true"
                body = collection.module_utils("swarmspec").overlay_body(net.name, labels)
                try:
                    engine.call("POST", "/networks/create", body=body)
                except engine_mod.EngineError as err:
                    if err.status != 409:  # made meanwhile: the deploy checks whose it is
                        raise
                continue
            engine.create_network(
                net.name, net.subnet, labels, bridge_name(bridge_prefix, net.subnet)
            )
        except engine_mod.EngineError as err:
            refused[net.name] = f"docker could not make the stack's network: {err}"
    return refused


def remove(plan: StackPlan, manager: str | None = None) -> list[str]:
    """Remove the networks no service wants (on the swarm manager at `manager`, if given);
    one a stopping container (or task) still holds stays for a later pass (the engine refuses
    it), which is no problem. Returns those removed."""
    engine_mod = collection.engine()
    engine = engine_mod.Engine(manager)
    gone = []
    for name in plan.remove:
        try:
            engine.remove_network(name)
            gone.append(name)
        except engine_mod.EngineError:
            continue
    return gone
