"""The edge proxies on a service's edge overlay (issue 28): each proxy, a plain container on
the manager's engine, joins the attachable overlay its routes' tasks answer on, before the
route points at them (ARCHITECTURE.md, "How the edge reaches swarm tasks").
"""

from __future__ import annotations

from urllib.parse import quote

from ansible_collections.sws.host.plugins.module_utils import swarmgeneration
from ansible_collections.sws.host.plugins.module_utils.engine import Engine, EngineError
from ansible_collections.sws.host.plugins.module_utils.swarmspec import (
    SwarmGeneration,
    edge_network_name,
)


class EdgeRefused(RuntimeError):
    """A proxy cannot join the overlay (a short reason naming it)."""


def attach(engine: Engine, generation: SwarmGeneration, proxies: list[str]) -> dict[str, str]:
    """Each proxy on the generation's edge overlay (made first if absent): proxy -> connected
    or unchanged. Every proxy is checked before any joins, so a refused one changes nothing.
    A service without a domain has no edge overlay: nothing to do."""
    network = generation.edge_network
    if not network or not proxies:
        return {}
    found = {name: _proxy(engine, name) for name in proxies}
    swarmgeneration.ensure_overlay(engine, network, generation.overlays()[network])
    return {name: _connect(engine, network, name, detail) for name, detail in found.items()}


def _proxy(engine: Engine, name: str) -> dict:
    detail = engine.inspect(name)
    if detail is None:
        raise EdgeRefused(f"edge proxy {name} is not a container on the manager's engine")
    if (detail.get("HostConfig") or {}).get("NetworkMode") == "host":
        raise EdgeRefused(
            f"edge proxy {name} runs in the host's network namespace (network mode host):"
            " it cannot join an overlay, so it cannot reach swarm tasks: set sws_proxy_network"
            " (sws.yml) to a bridge of the proxies' own and run the bootstrap again"
        )
    return detail


def _connect(engine: Engine, network: str, name: str, detail: dict) -> str:
    joined = (detail.get("NetworkSettings") or {}).get("Networks") or {}
    if network in joined:
        return "unchanged"
    try:
        engine.call("POST", f"/networks/{quote(network)}/connect", body={"Container": name})
    except EngineError as err:
        # Joined between the inspect and now (another pass): the same outcome.
        if err.status == 403 and "already exists" in str(err):
            return "unchanged"
        raise
    return "connected"


def attach_all(engine: Engine, proxies: list[str], prefix: str) -> dict[str, list[str]]:
    """Each proxy on every service's edge overlay there is (`<prefix>-edge-<service>`,
    labelled `<prefix>.service`): what a proxy made again (the bootstrap run again, the pass's
    revival) needs before it serves, since a new container joins no overlay by itself.
    proxy -> the overlays it joined now. None on an engine that is no swarm manager."""
    overlays = swarmgeneration.own_overlays(engine, prefix)
    edges = sorted(
        n["Name"]
        for n in overlays
        if n["Name"] == edge_network_name(prefix, n["Labels"][f"{prefix}.service"])
    )
    joined: dict[str, list[str]] = {}
    for name in proxies:
        detail = _proxy(engine, name)
        for network in edges:
            if _connect(engine, network, name, detail) == "connected":
                joined.setdefault(name, []).append(network)
    return joined
