"""Observe what runs: the SWS service containers (one docker ps and one docker inspect), the
routes each proxy last applied, and the proxies' states in HAProxy. No Ansible here: a pass
with nothing to do must cost a fraction of a second.
"""

from __future__ import annotations

import json
import socket
import subprocess
from dataclasses import dataclass

# A copy of the routes a proxy serves, written only after nginx reloaded them: a pass killed
# between the copy to live and the reload leaves a stale copy, and the next pass rolls again.
APPLIED_ROUTES = "/etc/nginx/sws/live/routes.applied"


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


@dataclass(frozen=True)
class ProxyState:
    name: str
    applied_routes: str | None  # None: never rolled, or the proxy is not running
    haproxy_state: str | None  # "ready", "drain", "maint"; None when HAProxy does not know it

    @property
    def ready(self) -> bool:
        return self.haproxy_state in (None, "ready")


def observe_containers(network: str, prefix: str = "sws") -> list[RunningContainer]:
    ids = _docker("ps", "-aq", "--no-trunc", "--filter", f"label={prefix}.service").split()
    if not ids:
        return []
    # A container removed between ps and inspect makes inspect exit 1 but still print the rest.
    out = _docker("inspect", *ids, check=False)
    try:
        details = json.loads(out or "[]")
    except json.JSONDecodeError as err:
        raise ObserveError(f"docker inspect printed something that is not JSON: {err}") from None
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
    )


def observe_proxies(proxies: tuple[str, ...], haproxy_socket, backend: str) -> list[ProxyState]:
    states = haproxy_server_states(haproxy_socket, backend)
    return [
        ProxyState(name=p, applied_routes=applied_routes(p), haproxy_state=states.get(p))
        for p in proxies
    ]


def applied_routes(proxy: str) -> str | None:
    result = subprocess.run(
        ["docker", "exec", proxy, "cat", APPLIED_ROUTES],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.stdout if result.returncode == 0 else None


def haproxy_server_states(sock_path, backend: str) -> dict[str, str]:
    """{server: ready|drain|maint} for the backend, from `show servers state`."""
    try:
        text = haproxy_command(sock_path, f"show servers state {backend}")
    except OSError:
        return {}  # no HAProxy (yet): the roll will say so if it needs it
    return parse_server_states(text)


def parse_server_states(text: str) -> dict[str, str]:
    header: list[str] = []
    states: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# be_id"):
            header = line[2:].split()
            continue
        if not line or line.startswith("#") or not header:
            continue
        row = dict(zip(header, line.split(), strict=False))
        admin = int(row.get("srv_admin_state", "0"))
        # srv_admin_state bits: 0x01 forced maint, 0x08 forced drain (HAProxy's SRV_ADMF_*).
        if admin & 0x01:
            states[row["srv_name"]] = "maint"
        elif admin & 0x08:
            states[row["srv_name"]] = "drain"
        else:
            states[row["srv_name"]] = "ready"
    return states


def haproxy_command(sock_path, command: str, timeout: float = 5.0) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(sock_path))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def last_log_line(container: str) -> str | None:
    result = subprocess.run(
        ["docker", "logs", "--tail", "5", container], capture_output=True, text=True, timeout=30
    )
    lines = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.strip()]
    return lines[-1][:500] if lines else None


def _docker(*args: str, check: bool = True) -> str:
    try:
        result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ObserveError(f"docker {args[0]} failed: {err}") from None
    if check and result.returncode != 0:
        raise ObserveError(f"docker {args[0]} failed: {result.stderr.strip()[:300]}")
    return result.stdout


def _int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
