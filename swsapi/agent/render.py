"""Render the desired state as text and variables: the Ansible inventory and nginx routes.

Pure functions of their arguments (no store, no Docker, no clock), tested with golden files.
Every variable of a service host is user data, so each service host's whole mapping is marked
unsafe in both inventory forms: Ansible then hands every value to Docker verbatim, never
evaluates a template hidden in one and never reads "4" or "true" as a number or a boolean.
(ansible-core 2.19 re-resolves the type of a *scalar* tagged `!unsafe`, so `!unsafe "true"`
would load as the boolean true; a mapping tagged `!unsafe` keeps its quoted strings strings.)
"""

from __future__ import annotations

import json

import yaml

from swsapi.agent.config import Names
from swsapi.agent.desired import DesiredService
from swsapi.agent.plan import Route

ROUTES_HEADER = "# Rendered by sws-agent; do not edit: the next pass overwrites it.\n"
# Idle keep-alive connections each nginx worker keeps open to a service container: the chain
# HAProxy -> nginx -> service is four times faster with them than with a connection a request.
UPSTREAM_KEEPALIVE = 32


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


def service_vars(service: DesiredService, keep: str | None = None) -> dict:
    """The host variables of one service (role sws_service)."""
    if service.deleting:
        return {
            "sws_service_name": service.name,
            "sws_service_state": "absent",
            "sws_service_generation": service.generation,
            "sws_service_purge_volume": service.purge_volume,
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
        "sws_service_keep": keep or service.container,
        "sws_service_digest": service.digest,
        "sws_service_image": d.image,
        "sws_service_port": d.port,
        "sws_service_domain": d.domain,
        "sws_service_volume_mount": d.volume_mount,
        "sws_service_env": {e.name: e.value for e in d.env},
    }


def orphan_vars(name: str) -> dict:
    return {"sws_service_name": name, "sws_service_state": "absent", "sws_service_generation": 0}


def inventory(
    desired: list[DesiredService],
    names: Names,
    orphans: list[str] = (),
    keep: dict[str, str] | None = None,
) -> dict:
    """The inventory: groups proxies, loadbalancer and services, host variables in _meta."""
    keep = keep or {}
    hostvars: dict[str, dict] = {}
    for proxy in names.proxies:
        hostvars[proxy] = {"sws_proxy_container": proxy}
    hostvars[names.loadbalancer] = {"sws_loadbalancer_container": names.loadbalancer}
    services = []
    for service in desired:
        host = service_host(service.name)
        hostvars[host] = ServiceVars(service_vars(service, keep.get(service.name)))
        services.append(host)
    for name in orphans:
        host = service_host(name)
        hostvars.setdefault(host, ServiceVars(orphan_vars(name)))
        if host not in services:
            services.append(host)
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


def routes_conf(routes: list[Route], names: Names) -> str:
    """nginx server blocks, one upstream and one server a route, sorted for stable output."""
    blocks = [ROUTES_HEADER]
    for route in sorted(routes, key=lambda r: (r.domain, r.service)):
        blocks.append(route_block(route, names))
    return "\n".join(blocks)


def route_block(route: Route, names: Names) -> str:
    """One route's upstream and server blocks (what the agent tests alone when nginx refuses
    the whole set)."""
    return _block(route, names.proxy_routes_socket)


def _block(route: Route, socket: str) -> str:
    upstream = f"sws_svc_{route.service.replace('-', '_')}"
    return f"""upstream {upstream} {{
    server {route.address}:{route.port};
    keepalive {UPSTREAM_KEEPALIVE};
}}

server {{
    listen unix:{socket} proxy_protocol;
    server_name {route.domain};

    location / {{
        proxy_pass http://{upstream};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }}
}}
"""
