"""Observe what runs: the SWS service containers (on the Engine API: a listing, then an inspect
each), the routes each proxy last applied, and the proxies' states in HAProxy. No Ansible here:
a pass with nothing to do must cost a fraction of a second.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from swsagent import collection
from swsagent.proxyfiles import ProxyFiles


class ObserveError(RuntimeError):
    """Docker or HAProxy could not be asked; the pass cannot plan without them."""


@dataclass(frozen=True)
class RunningContainer:
    """A container labelled as an SWS service, as docker inspect shows it."""

    name: str
    service: str
    generation: int
    digest: str
    domain: str
    port: int | None
    running: bool
    ip: str | None  # its address on the services network
    exit_code: int | None = None
    # The digest of how it is contained (render.containment_vars); "" before containment.
    containment: str = ""
    # Which of its generation's spec.replicas it is (issue 28); 1 for a container made
    # before replicas (no label): it kept the generation's name.
    replica: int = 1


@dataclass(frozen=True)
class ProxyState:
    name: str
    applied_routes: str | None  # None: never rolled, or the proxy is not running
    haproxy_state: str | None  # "ready", "drain", "maint"; None when HAProxy does not know it

    @property
    def ready(self) -> bool:
        return self.haproxy_state in (None, "ready")


def _engine():
    return collection.engine().Engine()


def observe_containers(network: str, prefix: str = "sws") -> list[RunningContainer]:
    engine_error = collection.engine().EngineError
    try:
        engine = _engine()
        listed = engine.containers(f"{prefix}.service")
        # One removed between the listing and its inspect is simply not there any more.
        details = [d for d in (engine.inspect(c["Id"]) for c in listed) if d is not None]
    except engine_error as err:
        raise ObserveError(f"the Docker engine could not be asked: {err}") from None
    return sorted(
        (c for c in (container_from_inspect(d, network, prefix) for d in details) if c),
        key=lambda c: (c.service, c.generation, c.name),
    )


def container_from_inspect(
    detail: dict, network: str, prefix: str = "sws"
) -> RunningContainer | None:
    labels = {
        key.removeprefix(prefix + "."): value
        for key, value in ((detail.get("Config") or {}).get("Labels") or {}).items()
        if key.startswith(prefix + ".")
    }
    service = labels.get("service")
    if not service:
        return None
    state = detail.get("State") or {}
    networks = (detail.get("NetworkSettings") or {}).get("Networks") or {}
    ip = (networks.get(network) or {}).get("IPAddress") or None
    # A container started before services were contained has no containment label: it is
    # reported with no spec digest, so the plan starts the service again, contained (the
    # upgrade; README.md, "Upgrading").
    contained = "containment" in labels
    return RunningContainer(
        name=detail.get("Name", "").lstrip("/"),
        service=service,
        generation=_int(labels.get("generation"), 0),
        digest=labels.get("spec-digest", "") if contained else "",
        domain=labels.get("domain", ""),
        port=_int(labels.get("port"), None),
        running=bool(state.get("Running")) and not state.get("Restarting"),
        ip=ip,
        exit_code=state.get("ExitCode"),
        containment=labels.get("containment", ""),
        replica=_int(labels.get("replica"), 1),
    )


def volumes_present(volumes) -> set[str]:
    """The named volumes that exist on this host."""
    try:
        engine = _engine()
        return {name for name in dict.fromkeys(volumes) if engine.volume(name) is not None}
    except collection.engine().EngineError as err:
        raise ObserveError(f"the Docker engine could not be asked: {err}") from None


def observe_proxies(
    proxies: tuple[str, ...],
    haproxy_socket,
    backend: str,
    files: ProxyFiles,
    conf_dirs: dict | None = None,
) -> list[ProxyState]:
    """conf_dirs: {proxy: the host path of its configuration volume} (controlplane's inspect),
    read directly; a proxy without one is read through docker exec (about 0.1 s each)."""
    states = haproxy_server_states(haproxy_socket, backend)
    conf_dirs = conf_dirs or {}
    return [
        ProxyState(
            name=p,
            applied_routes=applied_routes(p, files, conf_dirs.get(p)),
            haproxy_state=states.get(p),
        )
        for p in proxies
    ]


def applied_routes(proxy: str, files: ProxyFiles, conf_dir: str | None = None) -> str | None:
    """The routes the proxy last applied, while live/routes.conf is that same text."""
    live_in, applied_in = files.live_routes, files.applied_routes
    if conf_dir is not None:
        live, applied = (Path(conf_dir) / files.on_host(p) for p in (live_in, applied_in))
        try:
            text = applied.read_bytes()
            return text.decode() if live.read_bytes() == text else None
        except (OSError, UnicodeDecodeError):
            return None
    result = subprocess.run(
        [
            "docker",
            "exec",
            proxy,
            "sh",
            "-c",
            f"cmp -s {live_in} {applied_in} && cat {applied_in}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.stdout if result.returncode == 0 else None


def haproxy_server_states(sock_path, backend: str) -> dict[str, str]:
    """{server: ready|drain|maint} for the backend ({} when HAProxy cannot be asked)."""
    return collection.haproxy().admin_states(sock_path, backend)


def _int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
