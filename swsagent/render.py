"""Render the desired state as text and variables: the Ansible inventory and nginx routes.

Pure functions of their arguments (no store, no Docker, no clock), tested with golden files.
Every variable of a service host is user data, so each service host's whole mapping is marked
unsafe in both inventory forms: Ansible then hands every value to Docker verbatim, never
evaluates a template hidden in one and never reads "4" or "true" as a number or a boolean.
(ansible-core 2.19 re-resolves the type of a *scalar* tagged `!unsafe`, so `!unsafe "true"`
would load as the boolean true; a mapping tagged `!unsafe` keeps its quoted strings strings.)
"""

from __future__ import annotations

import hashlib
import json

import yaml

from swsagent.config import Containment, Names
from swsagent.desired import DesiredService
from swsagent.disklimits import volume_vars
from swsagent.plan import Route
from swsagent.serverblocks import route_text
from swsagent.siteroutes import redirect_names, served_names
from swsagent.swarm.hostvars import SwarmTarget, swarm_vars
from swsagent.tlsroutes import EdgeTls

ROUTES_HEADER = "# Rendered by sws-agent; do not edit: the next pass overwrites it.\n"


class RoutesError(ValueError):
    """The routes cannot be rendered: two services for one domain."""


class ServiceVars(dict):
    """A service host's variables: data Ansible must take literally (rendered unsafe)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # ansible_* settings are ours, not the user's; keep them apart so the rendered forms
        # can leave them trusted.
        if any(key.startswith("ansible_") for key in self):
            raise ValueError("a service host's variables must not set ansible_* settings")


def service_host(name: str) -> str:
    """The inventory host of a service (prefixed, so no service can be named like a proxy)."""
    return f"sws-svc-{name}"


def containment_vars(service: DesiredService, containment: Containment) -> dict:
    """How the service's container is contained: the spec's resources, else the operator's
    defaults; the digest labels the container, so a change of any of it redeploys."""
    resources = service.definition.resources if service.definition else None
    values = {
        "sws_service_memory": (resources and resources.memory_bytes) or containment.memory,
        "sws_service_cpus": (resources and resources.cpus) or containment.cpus,
        "sws_service_pids": containment.pids,
        "sws_service_capabilities": list(containment.capabilities),
    }
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    values["sws_service_containment"] = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return values


def service_vars(
    service: DesiredService,
    keep: str | None = None,
    containment: Containment | None = None,
    retire: list[str] = (),
    registry_auth: dict | None = None,
    stack_network: str = "",
    fallback: str = "",
    swarm: SwarmTarget | None = None,
) -> dict:
    """The host variables of one service (role sws_service); retire: its containers to remove;
    registry_auth: the owner's credentials for its image's registry (username, password; the
    deploy's plugin reads them from this variable, never a task argument); stack_network:
    the stack's network it joins (stacks.py); fallback: a recreate's older stopped container,
    started again if the new one fails (holds.py); swarm: the swarm executor's target (None:
    this host), whose variables are added (swarm/hostvars.py)."""
    found = _service_vars(
        service, keep, containment, retire, registry_auth, stack_network, fallback
    )
    state = found["sws_service_state"]
    if swarm is not None and state != "invalid":
        live = service.generation if state == "present" else 0
        found.update(swarm_vars(swarm, service.name, retire, keep, live))
    return found


def _service_vars(
    service, keep, containment, retire, registry_auth, stack_network, fallback
) -> dict:
    if service.deleting:
        return {
            "sws_service_name": service.name,
            "sws_service_state": "absent",
            "sws_service_generation": service.generation,
            "sws_service_purge_volume": service.purge_volume,
            "sws_service_retire_containers": list(retire),
            # On a swarm the volume's name carries its owner (swarmspec.volume_name).
            "sws_service_owner": service.owner,
        }
    if service.definition is None:
        return {
            "sws_service_name": service.name,
            "sws_service_state": "invalid",
            "sws_service_generation": service.generation,
        }
    d = service.definition
    return {
        "sws_service_name": service.name,
        "sws_service_state": "present",
        "sws_service_generation": service.generation,
        "sws_service_container": service.container,
        # Issue 28: the deploy starts this many replicas (the first named as the container).
        "sws_service_replicas": service.replicas,
        "sws_service_keep": service.container if keep is None else keep,
        "sws_service_retire_containers": list(retire),
        "sws_service_digest": service.digest,
        "sws_service_image": d.image,
        "sws_service_port": d.port,
        "sws_service_domain": d.domain or "",
        "sws_service_volume_mount": d.volume_mount,
        "sws_service_env": {e.name: e.value for e in d.env},
        "sws_service_owner": service.owner,
        "sws_service_volume_adopted": service.volume_adopted,
        **containment_vars(service, containment or Containment()),
        **({"sws_service_health_path": d.health_path} if d.health_path else {}),
        **({"sws_service_init": True} if d.init else {}),
        **({"sws_service_registry_auth": registry_auth} if registry_auth else {}),
        **({"sws_service_stack_network": stack_network} if stack_network else {}),
        **({"sws_service_fallback": fallback} if fallback else {}),
    }


def orphan_vars(name: str, retire: list[str] = (), swarm: SwarmTarget | None = None) -> dict:
    found = {
        "sws_service_name": name,
        "sws_service_state": "absent",
        "sws_service_generation": 0,
        "sws_service_retire_containers": list(retire),
    }
    return {**found, **swarm_vars(swarm, name, retire)} if swarm is not None else found


def inventory(
    desired: list[DesiredService],
    names: Names,
    orphans: list[str] = (),
    keep: dict[str, str] | None = None,
    containment: Containment | None = None,
    retire: dict[str, list[str]] | None = None,
    registry_auth: dict[str, dict] | None = None,
    stop_only: set[str] = frozenset(),
    kill: set[str] = frozenset(),
    joins: dict[str, str] | None = None,
    fallbacks: dict[str, str] | None = None,
    stop_first: dict[str, list[str]] | None = None,
    volume_size: int = 0,
    swarm: SwarmTarget | None = None,
) -> dict:
    """The inventory: groups proxies, loadbalancer and services, host variables in _meta.

    containment: the agent's (config.containment); None: the defaults of Containment.
    retire: {service: its containers to remove} (CleanupPlan.containers); registry_auth:
    {service: its owner's credentials for its image's registry}; stop_only: orphans to stop
    and keep;
    kill: services whose earlier background stop ran out of time (killed now); joins: {service:
    its stack's network}; fallbacks: {service: a recreate's older container}; stop_first:
    {service: a recreate's older running containers, stopped by its deploy first};
    volume_size: the operator's size of a volume whose spec sets none (0: unsized); swarm:
    the swarm executor's target (None: this host)."""
    keep, joins, fallbacks = keep or {}, joins or {}, fallbacks or {}
    retire = retire or {}
    registry_auth = registry_auth or {}
    hostvars: dict[str, dict] = {}
    for proxy in names.proxies:
        hostvars[proxy] = {"sws_proxy_container": proxy}
    hostvars[names.loadbalancer] = {"sws_loadbalancer_container": names.loadbalancer}
    services = []
    for service in desired:
        host = service_host(service.name)
        hostvars[host] = ServiceVars(
            service_vars(
                service,
                keep.get(service.name),
                containment,
                retire.get(service.name, []),
                registry_auth.get(service.name),
                joins.get(service.name, ""),
                fallbacks.get(service.name, ""),
                swarm,
            )
        )
        hostvars[host].update(volume_vars(service, volume_size))
        services.append(host)
    for name in orphans:
        host = service_host(name)
        hostvars.setdefault(host, ServiceVars(orphan_vars(name, retire.get(name, []), swarm)))
        if host not in services:
            services.append(host)
    _mark_stops(hostvars, stop_only, kill, stop_first or {})
    return _grouped(names, hostvars, services)


def _grouped(names: Names, hostvars: dict[str, dict], services: list[str]) -> dict:
    return {
        "_meta": {"hostvars": hostvars},
        "all": {
            "children": ["proxies", "loadbalancer", "services", "ungrouped"],
            # Every host is this machine; the interpreter is a template, so it lives here,
            # outside the service hosts' unsafe mappings.
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            },
        },
        "proxies": {"hosts": list(names.proxies)},
        "loadbalancer": {"hosts": [names.loadbalancer]},
        "services": {"hosts": services},
    }


def _mark_stops(
    hostvars: dict[str, dict], stop_only: set[str], kill: set[str], stop_first: dict
) -> None:
    """Flag the service hosts whose containers are stopped and kept (stop_only) or killed
    (kill), and a recreate's older containers its deploy stops first (stop_first); a name
    with no host in this inventory has nothing to stop."""
    for name, containers in stop_first.items():
        if service_host(name) in hostvars:
            hostvars[service_host(name)]["sws_service_stop_first"] = list(containers)
    for name in {*stop_only, *kill}:
        host = service_host(name)
        if host in hostvars:
            if name in stop_only:
                hostvars[host]["sws_service_stop_only"] = True
            if name in kill:
                hostvars[host]["sws_service_retire_kill"] = True


def inventory_json(inv: dict) -> str:
    """The dynamic inventory script's output: every string of a service host as
    {"__ansible_unsafe": ...}, which Ansible's JSON inventory reads as an untrusted string."""

    def mark(value):
        if isinstance(value, str):
            return {"__ansible_unsafe": value}
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    hostvars = {
        host: mark(dict(variables)) if isinstance(variables, ServiceVars) else variables
        for host, variables in inv["_meta"]["hostvars"].items()
    }
    marked = {**inv, "_meta": {"hostvars": hostvars}}
    return json.dumps(marked, indent=2, sort_keys=True) + "\n"


class _InventoryDumper(yaml.SafeDumper):
    pass


# The whole mapping is tagged, not each scalar: see the module docstring.
_InventoryDumper.add_representer(
    ServiceVars, lambda dumper, value: dumper.represent_mapping("!unsafe", dict(value))
)


def inventory_yaml(inv: dict) -> str:
    """The same inventory as a static YAML file (what the agent hands ansible-runner)."""
    hostvars = inv["_meta"]["hostvars"]
    groups = {}
    for group in ("proxies", "loadbalancer", "services"):
        groups[group] = {"hosts": {h: hostvars[h] for h in inv[group]["hosts"]}}
    document = {"all": {"vars": inv["all"]["vars"], "children": groups}}
    return yaml.dump(document, Dumper=_InventoryDumper, sort_keys=True)


def routes_conf(routes: list[Route], names: Names, edge: EdgeTls | None = None) -> str:
    """nginx server blocks, one upstream and one server a route, sorted for stable output.

    Two routes for one domain are refused: nginx would serve one of them and only warn, so
    one service's traffic could reach another's container."""
    owners: dict[str, set[str]] = {}
    for route in routes:
        # Aliases and redirects too (issue 27): each is a server_name like the domain.
        site = route.site
        for name in (*served_names(route.domain, site), *redirect_names(route.domain, site)):
            owners.setdefault(name, set()).add(route.service)
    shared = {domain: names for domain, names in owners.items() if len(names) > 1}
    if shared:
        raise RoutesError(
            "two services for one domain: "
            + "; ".join(f"{d} ({', '.join(sorted(n))})" for d, n in sorted(shared.items()))
        )
    blocks = [ROUTES_HEADER]
    for route in sorted(routes, key=lambda r: (r.domain, r.service)):
        blocks.append(route_block(route, names, edge))
    return "\n".join(blocks)


def route_block(route: Route, names: Names, edge: EdgeTls | None = None) -> str:
    """One route's upstream and server blocks (what the agent tests alone when nginx refuses
    the whole set). edge: the host's HTTPS (tlsroutes.py); None renders HTTP only."""
    return route_text(route, names.proxy_routes_socket, names.proxy_files, edge)


# Where a new container's address goes in a route rendered before the container exists; the
# roll (sws.host.proxy_roll) puts the address its readiness check reported there.
ADDRESS_SLOT = "__SWS_NEW_ADDRESS__"
# What the route check puts in the slot: nginx -t takes any address and dials none.
CHECK_ADDRESS = "192.0.2.1"


def routes_plan(
    fixed: dict[str, Route],
    new: dict[str, Route],
    fallback: dict[str, Route],
    names: Names,
    edge: EdgeTls | None = None,
    restarted: dict[str, Route] | None = None,
) -> dict:
    """The routes a pass hands its roll: per service, the block of its new generation (address
    slot) if it gets ready, and the block that serves otherwise (fixed: a service not deployed
    in this pass; fallback: the older generation of one that is). The roll picks and joins them
    exactly as routes_conf does, so the text is the same as rendering what got ready.
    restarted: a recreate's older generation (address slot), for when its new one failed and
    the older one started again (the deploy reports its address as fallback_address)."""
    restarted = restarted or {}
    entries = []
    for name in sorted({*fixed, *new}):
        old = fixed.get(name) or fallback.get(name)
        entry = {
            "host": service_host(name) if name in new else None,
            "new": _entry(new[name], names, edge) if name in new else None,
            "old": _entry(old, names, edge) if old else None,
        }
        if name in restarted:
            entry["restarted"] = _entry(restarted[name], names, edge)
        entries.append(entry)
    return {"header": ROUTES_HEADER, "slot": ADDRESS_SLOT, "entries": entries}


def _entry(route: Route, names: Names, edge: EdgeTls | None) -> dict:
    return {"key": [route.domain, route.service], "text": route_block(route, names, edge)}
